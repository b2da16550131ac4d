"""`kura demo`'s patient matching (画像の患者照合): what the image archive meets when images
and registrations disagree.

- A chest X-ray of 小野 健太 taken under the 患者ID of the records demo's second patient (10000002):
  the modality operator picked the wrong line from the worklist. It is flagged and waits on
  画像の患者照合 for the technologist's review (it cannot be confirmed until then).
- An emergency head CT that arrived before the 医事 registration, under the 患者ID 95000001;
  the clerk then registers 前田 修 with that 患者ID and the study is linked to him at once.
- A second emergency CT under 95000002 whose patient is not registered yet: it stays listed
  as unmatched. Register 岡田 由紀子 (オカダ ユキコ, 1968-11-23, 女) with 患者ID 95000002 on
  the patient screen and it appears on her page.
"""

from __future__ import annotations

from typing import Callable

from kura.access.roles import Role
from kura.demo.images import DemoPatient, _instance, _user
from kura.imaging import service as imaging
from kura.records import resources as R
from kura.records import service as records

__all__ = ["DESCRIPTION", "STEPS", "seed", "WRONG_PATIENT", "LINKED", "UNMATCHED", "study_uid"]

DESCRIPTION = "画像の患者照合 (不一致・未照合) / patient matching"
CLERK = "clerk"
WRONG_PATIENT = DemoPatient("10000002", "Ono^Kenta", "小野^健太", "おの^けんた", "19880714", "M")
LINKED = DemoPatient("95000001", "Maeda^Osamu", "前田^修", "まえだ^おさむ", "19750314", "M")
UNMATCHED = DemoPatient("95000002", "Okada^Yukiko", "岡田^由紀子", "おかだ^ゆきこ", "19681123", "F")
# (patient, kind, study date, slices); plan numbers 900… keep the UIDs apart from kura.demo.images'.
PLAN = [(WRONG_PATIENT, "cr_chest", "20260422", 1), (LINKED, "ct_head", "20260423", 12),
        (UNMATCHED, "ct_head", "20260424", 12)]
STEPS = sum(p[3] for p in PLAN) + 1


def study_uid(n: int) -> str:
    from kura.demo.images import study_uid as uid
    return uid(900 + n)


def seed(kura, progress: Callable[..., object] = lambda n=1: None, *, max_slices: int | None = None) -> dict:
    """Store the three studies as the demo technologist, then register 前田 修 as the demo
    clerk (his study is linked in that transaction). Returns the study UIDs by role."""
    tech = _user(kura, "tech")
    for n, (patient, kind, date, slices) in enumerate(PLAN):
        slices = min(slices, max_slices or slices)
        with kura.unit_of_work(tech, "TREAT", origin="kura demo") as ctx:
            for i in range(slices):
                imaging.store_instance(ctx, _instance(patient, kind, date, 900 + n, i, slices))
                progress(1)
    clerk = _user(kura, CLERK, Role.clerk)
    with kura.unit_of_work(clerk, "HPAYMT", origin="kura demo") as ctx:
        records.create(ctx, R.patient(mrn=LINKED.patient_id, family="前田", given="修", family_kana="マエダ",
                                      given_kana="オサム", birth_date="1975-03-14", gender="male"))
    progress(1)
    return {"flagged": study_uid(0), "linked": study_uid(1), "unmatched": study_uid(2)}
