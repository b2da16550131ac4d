"""A break-glass alert made through the core, as a records screen would make it (R18)."""

from kura.access.actions import Action
from kura.access.policy import Target
from kura.ledger.tags import LedgerTag
from tests.factories import make_user, subject
from tests.web.ui import entries


def break_glass(kura, *, name="kobayashi", patient="P-0042", reason="心停止のため緊急で既往歴を確認") -> int:
    """A physician with clearance N reads a V-labelled patient with a stated reason; returns the
    seq of the AccessBreakGlassStarted alert."""
    doctor = make_user(kura, name, ("physician",))
    with kura.unit_of_work(subject(doctor, "N"), "ETREAT", break_glass_reason=reason) as ctx:
        ctx.require(Action.RecordsRecordRead, Target(kind="Patient", id=patient, patient_id=patient,
                                                     confidentiality="V"))
    return entries(kura, LedgerTag.AccessBreakGlassStarted, actor=name)[0].seq
