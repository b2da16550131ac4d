"""A small home with something of everything a backup must carry (shared by the preservation
tests and the crash harnesses): users, a confirmed patient with kanji and kana names, a
corrected record, a document with an encrypted attachment, and a DICOM instance.

NAME/KANA/MRN are what must never appear in plain bytes outside the home's database.
"""

from __future__ import annotations

import base64
import dataclasses

from kura.imaging import service as imaging
from kura.records import service as records

from tests.factories import make_user
from tests.support.imaging import TECH, make_dataset, part10, prepare
from tests.support.records import document, encounter, patient, user_subject

FAMILY, GIVEN = "長谷川", "花子"
KANA = ("ハセガワ", "ハナコ")
MRN = "73519246"
DICOM_NAME = "Hasegawa^Hanako=長谷川^花子=ハセガワ^ハナコ"


@dataclasses.dataclass
class Populated:
    patient_id: str
    document_id: str
    study_uid: str
    attachment: bytes


def populate(kura, *, mrn: str = MRN, seed: int = 0) -> Populated:
    """Write the sample data through the real services (each in its own unit of work)."""
    prepare(kura)  # the management classes, 画像 open to DICOM workstations
    clerk = user_subject(make_user(kura, f"clerk{seed}", ("clerk",)))
    doc = user_subject(make_user(kura, f"doc{seed}", ("physician",)), clearance="R")
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        pid = records.create(ctx, patient(family=FAMILY, given=GIVEN, kana=KANA, mrn=mrn)).id
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        records.confirm(ctx, "Patient", pid)
        records.create(ctx, encounter(pid))
    attachment = b"%PDF-1.4 " + f"紹介状 {FAMILY}{GIVEN} 様".encode() + bytes(range(256)) * 8
    with kura.unit_of_work(doc, "TREAT") as ctx:
        did = records.create(ctx, document(pid, base64.b64encode(attachment).decode())).id
    ds = make_dataset(patient_id=mrn, name=DICOM_NAME, seed=seed)
    with kura.unit_of_work(TECH, "TREAT", origin="test") as ctx:
        study = imaging.store_instance(ctx, part10(ds)).study_uid
    return Populated(pid, did, study, attachment)


def add_image(kura, *, mrn: str = MRN, seed: int = 1) -> str:
    ds = make_dataset(patient_id=mrn, name=DICOM_NAME, seed=seed, instance_number=seed + 1)
    with kura.unit_of_work(TECH, "TREAT", origin="test") as ctx:
        return imaging.store_instance(ctx, part10(ds)).sha256
