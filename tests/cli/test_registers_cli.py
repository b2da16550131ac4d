"""`kura equipment list`, `kura software list|submit` and the unapproved-build warning of
`kura selfcheck` through the real command (R66, R83)."""

from __future__ import annotations

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.registers import inventory, software
from tests.support.cli import kura_cmd

OPS = Subject(id="ops-8", name="unyou8", roles=frozenset({Role.operations}))


def test_r83_equipment_list_and_its_overdue_exit_code(kura, home):
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        inventory.add(ctx, asset_no="NW-001", kind="network", name="コアスイッチ", location="本館 3F サーバー室",
                      responsible="情報システム課 山田", serial="SW-1", installed_on="2025-01-10", interval_days=30)
        inventory.add(ctx, asset_no="PC-001", kind="terminal", name="受付端末", location="1F 医事課",
                      responsible="医事課 田中", serial="PC-1", installed_on="2026-01-10")
    code, out, _ = kura_cmd(home, "equipment", "list")
    assert code == 0 and "NW-001" in out and "PC-001" in out and "OVERDUE" in out
    code, out, _ = kura_cmd(home, "equipment", "list", "--overdue")
    assert code == 1 and "NW-001" in out and "PC-001" not in out


def test_r66_selfcheck_warns_until_the_build_is_approved(kura, home):
    code, _, err = kura_cmd(home, "selfcheck")
    assert code == 0 and "no approved software review" in err
    code, out, _ = kura_cmd(home, "software", "submit")
    assert code == 0 and "submitted kura" in out
    rid = out.rsplit(": ", 1)[1].strip()
    code, out, _ = kura_cmd(home, "software", "list")
    assert code == 0 and rid in out and "pending" in out
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        software.approve(ctx, rid, comment="確認済み")
    code, out, err = kura_cmd(home, "selfcheck")
    assert code == 0 and "no approved software review" not in err
    assert "approved\tunyou8" in kura_cmd(home, "software", "list")[1]
