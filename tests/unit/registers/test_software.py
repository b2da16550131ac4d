"""ソフトウェア審査 (regulation §9; R65, R66): the running build, as the self-check saw it, with
its SBOM sealed as a blob, approved by a named operations manager; refusals."""

from __future__ import annotations

import json

import pytest

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.errors import Conflict, Denied, Invalid
from kura.ledger.tags import LedgerTag
from kura.preservation.selfcheck import running_build
from kura.registers import software
from tests.web.ui import entries

OPS = Subject(id="ops-1", name="unyou", roles=frozenset({Role.operations}), clearance="N")
OPS2 = Subject(id="ops-2", name="unyou2", roles=frozenset({Role.operations}), clearance="N")
ADMIN = Subject(id="adm-1", name="kanri", roles=frozenset({Role.admin}), clearance="N")
AUDITOR = Subject(id="aud-1", name="kansa", roles=frozenset({Role.auditor}), clearance="N")


def test_r66_running_build_is_approved_by_a_named_operations_manager(kura):
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        assert software.running_status(ctx)[2] is None
        r = software.submit(ctx)
        rid = r.id
        assert (r.version, r.files_digest) == running_build() and r.state == "pending"
    with kura.unit_of_work(OPS2, "HOPERAT") as ctx:
        assert software.running_status(ctx)[2] is None  # submitted is not approved
        software.approve(ctx, rid, comment="変更内容と試験結果を確認")
        assert software.running_status(ctx)[2].decided_by_name == "unyou2"
        with pytest.raises(Conflict):
            software.refuse(ctx, rid, comment="again")
    with kura.unit_of_work(AUDITOR, "HOPERAT") as ctx:
        bom = json.loads(software.sbom(ctx, rid))
        assert bom["bomFormat"] == "CycloneDX"
        assert any(c["name"].lower() == "sqlalchemy" for c in bom["components"])
    approved = entries(kura, LedgerTag.RegisterSoftwareApproved)[0]
    assert approved.actor_name == "unyou2" and approved.reason == "変更内容と試験結果を確認"
    assert running_build()[1] in approved.detail
    assert len(entries(kura, LedgerTag.RegisterSoftwareSubmitted)) == 1


def test_r66_only_the_operations_manager_approves_and_a_refusal_has_a_reason(kura):
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        rid = software.submit(ctx).id
    for who in (ADMIN, AUDITOR):
        with kura.unit_of_work(who, "HOPERAT") as ctx, pytest.raises(Denied):
            software.approve(ctx, rid)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx, pytest.raises(Denied):
        software.submit(ctx)  # running the self-check is the operations manager's
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        with pytest.raises(Invalid):
            software.refuse(ctx, rid, comment=" ")
        software.refuse(ctx, rid, comment="試験記録が添付されていない")
        assert software.running_status(ctx)[2] is None
    assert entries(kura, LedgerTag.RegisterSoftwareRefused)[0].reason == "試験記録が添付されていない"


def test_r66_a_build_whose_self_check_found_anomalies_cannot_be_approved(kura):
    with kura.unit_of_work(OPS, "HOPERAT") as ctx:
        r = software.submit(ctx)
        r.anomalies = json.dumps(["installed file altered: kura/app.py"])
        with pytest.raises(Invalid):
            software.approve(ctx, r.id)
