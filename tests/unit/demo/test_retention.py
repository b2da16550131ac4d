"""The demo's retention and registers: a class near its end, a hold, a disposed patient with
its certificate, an encrypted export, a medium, an approved equipment disposal, a closed incident."""

from __future__ import annotations

import datetime as dt

from kura.demo import retention as demo
from kura.disposal import service as disposals
from kura.disposal.worklist import worklist
from kura.imaging import service as imaging
from kura.ledger.tags import LedgerTag
from kura.registers import equipment, incidents, media
from tests.factories import ADMIN, make_user
from tests.unit.disposal.helpers import make_patient
from tests.support.imaging import TECH, make_dataset, part10, prepare
from tests.web.ui import entries


def test_demo_seeds_retention_and_registers(kura):
    prepare(kura)
    for name, roles in (("admin", ("admin",)), ("ops", ("operations",)), ("audit", ("auditor",)),
                        ("clerk", ("clerk",)), ("doctor", ("physician",)), ("tech", ("technologist",))):
        make_user(kura, name, roles)
    make_patient(kura, last_visit="2026-04-01", mrn="10000001")
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.store_instance(ctx, part10(make_dataset(patient_id="10000001")))
    assert demo.seed(kura) == {"held": 1, "disposed": 1, "media": 1, "incidents": 1}
    with kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        rows = {r.state: r for r in worklist(ctx)}
        soon = rows["running"].retention
        assert 0 < (soon.ends - dt.datetime.now(dt.timezone.utc).date()).days <= 31
        assert rows["held"].retention.holds
        [done] = disposals.list_disposals(ctx)
        assert done.status == "done" and done.certificate.startswith(b"%PDF")
        assert done.requested_by_name == "ops" and done.approved_by_name == "admin"
        assert len(media.list_media(ctx)) == 1
        assert equipment.list_entries(ctx)[0].approved_by_name == "admin"
        assert incidents.list_incidents(ctx)[0].closed_at is not None
    assert entries(kura, LedgerTag.RecordsRecordExported, actor="doctor")
