"""Patients with dated 医事 records, written through the real records service."""

from __future__ import annotations

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.records import service as records
from tests.support.records import charge, coverage, encounter, invoice, patient, seed_classes

CLERK = Subject(id="clerk-id", name="clerk1", roles=frozenset({Role.clerk}), clearance="N")

__all__ = ["CLERK", "make_patient", "seed_classes"]


def make_patient(kura, *, last_visit: str, mrn: str = "00001", confirm: bool = True) -> str:
    """A patient with a coverage, an encounter, a charge and an invoice on `last_visit` (YYYY-MM-DD)."""
    with kura.unit_of_work(CLERK, "HPAYMT") as ctx:
        pid = records.create(ctx, patient(mrn=mrn)).id
        for body in (coverage(pid), encounter(pid, start=f"{last_visit}T09:00:00+09:00"),
                     charge(pid, when=last_visit), invoice(pid, when=last_visit)):
            v = records.create(ctx, body)
            if confirm:
                records.confirm(ctx, v.rtype, v.id)
    return pid
