"""The audit manager's part of the demo: alerts to review on 監査 › アラート.

The night nurse opens a staff/VIP patient (V) she may not see: refused, she breaks the glass
with a reason and looks at the patient's records under it — one grouped alert with its reads
listed, signed off once. An unregistered DICOM node knocks three times: one grouped alert.
Everything goes through the real services, so the ledger holds exactly what a real night would.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import select

from kura.errors import Denied
from kura.identity import service as identity
from kura.identity.models import User
from kura.imaging import peers
from kura.records import service as records
from kura.records.models import Record

__all__ = ["DESCRIPTION", "STEPS", "seed"]

DESCRIPTION = "監査 (緊急アクセスと拒否された接続のアラート)"
STEPS = 2
REASON = "夜間の急変で搬送、既往歴とアレルギーを確認"


def seed(kura, progress: Callable[..., None] = lambda n=1: None) -> dict[str, int]:
    with kura.sessions() as session:
        nurse = identity.subject_of(session.scalar(select(User).where(User.username == "nurse")))
        vip = session.scalar(select(Record.logical_id).where(Record.rtype == "Patient", Record.confidentiality == "V")
                             .order_by(Record.logical_id).limit(1))
    reads = 0
    if vip is not None:
        try:  # first without a reason: refused (an alert, grouped with the break-glass below)
            with kura.unit_of_work(nurse, None, origin="192.168.10.41") as ctx:
                records.read(ctx, "Patient", vip)
        except Denied:
            pass
        with kura.unit_of_work(nurse, None, origin="192.168.10.41", break_glass_reason=REASON) as ctx:
            records.read(ctx, "Patient", vip)
            reads += 1
        for _ in range(2):  # later pages of the same emergency: no reason asked again
            with kura.unit_of_work(nurse, None, origin="192.168.10.41") as ctx:
                reads += len(records.everything(ctx, vip))
    progress()
    for port in (50412, 50413, 50418):
        with kura.unit_of_work(None, "TREAT", origin=f"UNKNOWN_CT@192.168.20.9:{port}") as ctx:
            peers.record_association(ctx, ae_title="UNKNOWN_CT", address=f"192.168.20.9:{port}", accepted=False,
                                     reason="calling AE title not registered")
    progress()
    return {"break_glass_reads": reads, "rejected_associations": 3}


