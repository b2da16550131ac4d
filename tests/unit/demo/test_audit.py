"""The demo's alerts: one break-glass on a VIP patient (with the refusal before it and the
reads under it) is one alert group; three knocks of an unknown DICOM node are one more (R18)."""

from __future__ import annotations

from kura.audit import service as audit
from kura.classes import service as classes
from kura.demo import audit as demo
from kura.ledger.tags import LedgerTag
from kura.records import resources as R
from kura.records import service as records
from tests.factories import ADMIN, make_user, subject
from tests.web.ui import entries


def test_r18_demo_shows_one_grouped_break_glass_alert(kura):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    senior = make_user(kura, "shunin", ("clerk",), clearance="V")
    make_user(kura, "nurse", ("nurse",))
    with kura.unit_of_work(subject(senior, "V"), "HPAYMT") as ctx:
        vip = records.create(ctx, R.patient(mrn="10000017", family="蔵", given="院長", family_kana="クラ",
                                            given_kana="インチョウ", birth_date="1955-02-03", gender="male",
                                            label="V")).id
    counts = demo.seed(kura)
    assert counts["break_glass_reads"] >= 3 and counts["rejected_associations"] == 3
    started = entries(kura, LedgerTag.AccessBreakGlassStarted, actor="nurse")
    assert len(started) == 1 and started[0].patient_id == vip
    with kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        groups = audit.alert_groups(ctx)
    glass = [g for g in groups if g.kind == "breakglass"]
    assert len(glass) == 1 and len(glass[0].reads) >= 3
    assert [e.tag for e in glass[0].members] == [LedgerTag.AccessBreakGlassStarted, LedgerTag.AccessRequestDenied]
    knocks = [g for g in groups if g.head.tag == LedgerTag.DicomAssociationRejected]
    assert len(knocks) == 1 and len(knocks[0].members) == 3
