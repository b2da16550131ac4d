"""`kura retention worklist`, `kura disposal verify-certificate`, `kura emergency cut|list|lift`
through the real command (R74, R79, R80)."""

from __future__ import annotations


from kura.access.policy import Subject
from kura.access.roles import Role
from kura.disposal import service as disposals
from tests.support.cli import kura_cmd
from tests.unit.disposal.helpers import make_patient, seed_classes

OPS = Subject(id="ops-9", name="unyou9", roles=frozenset({Role.operations}))
ADM = Subject(id="adm-9", name="kanri9", roles=frozenset({Role.admin}))


def test_r79_certificate_verifies_from_the_console_and_a_changed_byte_fails(kura, home, tmp_path):
    seed_classes(kura)
    pid = make_patient(kura, last_visit="2014-05-01", mrn="C0001")
    keep = make_patient(kura, last_visit="2026-05-01", mrn="C0002")
    code, out, _ = kura_cmd(home, "retention", "worklist", "--all")
    assert code == 0 and pid in out and keep in out and "ended" in out
    with kura.unit_of_work(OPS, "HSYSADMIN") as ctx:
        did = disposals.request(ctx, patient_id=pid, reason="保存期間満了").id
    with kura.unit_of_work(ADM, "HSYSADMIN") as ctx:
        disposals.approve(ctx, did)
    with kura.unit_of_work(ADM, "HSYSADMIN") as ctx:
        pdf, sig = disposals.certificate_of(ctx, did)
    (tmp_path / "c.pdf").write_bytes(pdf)
    (tmp_path / "c.sig").write_text(sig.line() + "\n", encoding="utf-8")
    code, out, _ = kura_cmd(home, "disposal", "verify-certificate", str(tmp_path / "c.pdf"), str(tmp_path / "c.sig"))
    assert code == 0 and sig.sha256 in out
    (tmp_path / "bad.pdf").write_bytes(pdf[:-10] + b"0000000000")
    code, _, err = kura_cmd(home, "disposal", "verify-certificate", str(tmp_path / "bad.pdf"), str(tmp_path / "c.sig"))
    assert code == 1 and "signature" in err
    (tmp_path / "junk.sig").write_text("hello\n", encoding="utf-8")
    code, _, err = kura_cmd(home, "disposal", "verify-certificate", str(tmp_path / "c.pdf"), str(tmp_path / "junk.sig"))
    assert code == 2 and err.count("\n") == 1


def test_r74_emergency_switch_from_the_console(kura, home, run_kura):
    code, _, err = run_kura("emergency", "cut", "all", home=home)
    assert code == 2 and "reason" in err and err.count("\n") == 1
    code, out, _ = run_kura("emergency", "cut", "all", "--reason", "ランサムウェア感染の疑い", home=home)
    assert code == 0
    switch_id = out.split("\t")[0].strip()
    code, out, _ = run_kura("emergency", "list", home=home)
    assert code == 0 and switch_id in out and "ON" in out
    assert run_kura("emergency", "lift", switch_id, home=home)[0] == 2  # no reason
    assert run_kura("emergency", "lift", switch_id, "--reason", "復旧", home=home)[0] == 0
    assert "ON" not in run_kura("emergency", "list", home=home)[1]
