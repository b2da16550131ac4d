"""`kura demo`'s images: synthetic, deterministic DICOM studies for the demo patients.

CT chest series (40 slices, 256×256, 16-bit), CT head, MR head and CR chest, generated with
pydicom and numpy (kura.demo.phantoms) — nothing is downloaded. Patient names carry
their alphabetic, ideographic and phonetic groups (SpecificCharacterSet ISO_IR 192).
Everything is stored through the imaging service as the demo technologist, so the ledger
shows each instance arriving; some studies are then confirmed (検像), one is sent back, and
the rest wait on the technologist's worklist. The doctor then restricts one study (機密区分
R, with the reason), so the nurse and the technologist no longer find it; the records demo's
VIP patients (V) restrict their own studies through kura.imaging.labels.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Callable, Iterator

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (ComputedRadiographyImageStorage, CTImageStorage, ExplicitVRLittleEndian,
                         MRImageStorage, generate_uid)

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.errors import NotFound
from kura.identity import service as identity
from kura.demo import phantoms
from kura.imaging import link, relabel
from kura.imaging import service as imaging

__all__ = ["DESCRIPTION", "STEPS", "PATIENTS", "PLAN", "DemoPatient", "studies", "seed",
           "TECHNOLOGIST", "PHYSICIAN", "RETURN_REASON", "LABELLED", "study_uid", "instance_uid", "demo_patients", "RECORDS_IDS"]

DESCRIPTION = "画像 (DICOM) の合成データ / synthetic DICOM studies"
TECHNOLOGIST = "tech"
PHYSICIAN = "doctor"  # clearance R in kura.demo.seed
RETURN_REASON = "体位不良 (肩の挙上不十分) のため再撮影をお願いします"
INSTITUTION = "蔵総合病院"
_ROOT = "kura-demo-imaging-1"


@dataclasses.dataclass(frozen=True)
class DemoPatient:
    patient_id: str  # the DICOM Patient ID = the records store's patient identifier
    alphabetic: str
    ideographic: str
    phonetic: str
    birth_date: str  # YYYYMMDD
    sex: str  # M / F

    @property
    def pn(self) -> str:
        return f"{self.alphabetic}={self.ideographic}={self.phonetic}".rstrip("=")


# The demo patients that have images.
PATIENTS = [
    DemoPatient("00001", "Yamada^Taro", "山田^太郎", "やまだ^たろう", "19580412", "M"),
    DemoPatient("00002", "Sato^Hanako", "佐藤^花子", "さとう^はなこ", "19650823", "F"),
    DemoPatient("00003", "Suzuki^Ichiro", "鈴木^一郎", "すずき^いちろう", "19490102", "M"),
    DemoPatient("00004", "Takahashi^Yumi", "高橋^由美", "たかはし^ゆみ", "19720315", "F"),
    DemoPatient("00005", "Tanaka^Kenji", "田中^健二", "たなか^けんじ", "19810907", "M"),
    DemoPatient("00006", "Watanabe^Sachiko", "渡辺^幸子", "わたなべ^さちこ", "19440630", "F"),
    DemoPatient("00007", "Ito^Hiroshi", "伊藤^博", "いとう^ひろし", "19530121", "M"),
    DemoPatient("00008", "Nakamura^Mai", "中村^舞", "なかむら^まい", "19900518", "F"),
    DemoPatient("00009", "Kobayashi^Makoto", "小林^誠", "こばやし^まこと", "19671111", "M"),
    DemoPatient("00010", "Kato^Akiko", "加藤^明子", "かとう^あきこ", "19580228", "F"),
    DemoPatient("00011", "Yoshida^Shota", "吉田^翔太", "よしだ^しょうた", "20010704", "M"),
    DemoPatient("00012", "Yamamoto^Keiko", "山本^恵子", "やまもと^けいこ", "19611019", "F"),
    DemoPatient("00013", "Matsumoto^Takeshi", "松本^武", "まつもと^たけし", "19470805", "M"),
    DemoPatient("00014", "Inoue^Naomi", "井上^直美", "いのうえ^なおみ", "19781203", "F"),
    DemoPatient("00015", "Kimura^Daisuke", "木村^大輔", "きむら^だいすけ", "19950326", "M"),
]

# (patient index, kind, study date, 検像 outcome: confirmed | draft | returned)
PLAN = [
    (0, "ct_chest", "20260310", "confirmed"), (0, "cr_chest", "20260415", "draft"),
    (1, "ct_chest", "20260322", "draft"), (2, "mr_head", "20260201", "confirmed"),
    (3, "cr_chest", "20260405", "confirmed"), (4, "ct_head", "20260418", "draft"),
    (5, "ct_chest", "20260219", "confirmed"), (6, "cr_chest", "20260420", "returned"),
    (7, "mr_head", "20260408", "draft"), (8, "ct_head", "20260312", "confirmed"),
    (9, "cr_chest", "20260110", "confirmed"), (10, "ct_chest", "20260421", "draft"),
    (11, "mr_head", "20260125", "confirmed"), (12, "ct_chest", "20260402", "confirmed"),
    (13, "cr_chest", "20260416", "draft"), (14, "ct_head", "20260330", "confirmed"),
]

# plan index -> (label, reason): studies the doctor restricts by hand (機密区分の変更).
LABELLED = {3: ("R", "ご本人の希望により閲覧を制限 (精神科通院中のため)")}

# kind -> modality, SOP class, description (ja), series description, slices, body part
KINDS = {
    "ct_chest": ("CT", CTImageStorage, "胸部CT (造影)", "Chest 5mm", 40, "CHEST"),
    "ct_head": ("CT", CTImageStorage, "頭部CT (単純)", "Head 5mm", 24, "HEAD"),
    "mr_head": ("MR", MRImageStorage, "頭部MRI", "T1 axial", 20, "HEAD"),
    "cr_chest": ("CR", ComputedRadiographyImageStorage, "胸部単純X線 (正面)", "PA", 1, "CHEST"),
}

STEPS = sum(KINDS[kind][4] for _, kind, _, _ in PLAN) + len(PLAN)

# The records demo (kura.demo.records) registers its patients with identifiers 10000001…;
# the imaging demo takes the first fifteen, so the patient page shows their studies. The
# records and imaging layers are independent, so the registered names come through the
# archive's RecordsPort (wired by kura.app) rather than from that module.
RECORDS_IDS = [f"{10000001 + i:08d}" for i in range(len(PATIENTS))]
# Common surnames (kanji, katakana), to split a registered full name into PN components.
SURNAMES = [
    ("佐々木", "ササキ"), ("長谷川", "ハセガワ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"),
    ("田中", "タナカ"), ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("山口", "ヤマグチ"),
    ("松本", "マツモト"), ("井上", "イノウエ"), ("木村", "キムラ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"), ("石川", "イシカワ"),
    ("山下", "ヤマシタ"), ("中島", "ナカジマ"), ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"),
    ("岡田", "オカダ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("近藤", "コンドウ"), ("村上", "ムラカミ"),
    ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"), ("福田", "フクダ"), ("太田", "オオタ"),
    ("西村", "ニシムラ"), ("藤井", "フジイ"), ("金子", "カネコ"), ("岡本", "オカモト"), ("藤原", "フジワラ"),
    ("中野", "ナカノ"), ("三浦", "ミウラ"), ("原田", "ハラダ"), ("中川", "ナカガワ"), ("松田", "マツダ"),
    ("竹内", "タケウチ"), ("小野", "オノ"), ("田村", "タムラ"), ("中山", "ナカヤマ"), ("和田", "ワダ"),
    ("石田", "イシダ"), ("森田", "モリタ"), ("上田", "ウエダ"), ("林", "ハヤシ"), ("森", "モリ"),
]


def _is_kana(text: str) -> bool:
    return bool(text) and all("\u30a0" <= c <= "\u30ff" for c in text)


def _split(kanji: str, kana: str) -> tuple[str, str]:
    """'佐藤花子', 'サトウハナコ' -> ('佐藤^花子', 'サトウ^ハナコ'); unsplit when the surname is unknown."""
    for family, family_kana in SURNAMES:
        if kanji.startswith(family) and kana.startswith(family_kana):
            return f"{family}^{kanji[len(family):]}", f"{family_kana}^{kana[len(family_kana):]}"
    return kanji, kana


def _registered(patient_id: str, registered) -> DemoPatient:
    """A demo patient named as the records store registered them (kanji and kana groups)."""
    kana = next((n for n in sorted(registered.names) if _is_kana(n)), "")
    kanji = next((n for n in sorted(registered.names) if not _is_kana(n) and not n.isascii()), "")
    ideographic, phonetic = _split(kanji, kana)
    return DemoPatient(patient_id, "", ideographic, phonetic, registered.birth_date, registered.sex)


def demo_patients(kura, subject: Subject) -> list[DemoPatient]:
    """PATIENTS, each replaced by the records demo's patient of RECORDS_IDS when the records
    store is wired (the application's records port) and that patient is registered."""
    out = []
    with kura.unit_of_work(subject, "TREAT", origin="kura demo") as ctx:
        port = link.port(ctx)
        if port is None:
            return list(PATIENTS)
        for mine, patient_id in zip(PATIENTS, RECORDS_IDS):
            registered = port.registered_patient(ctx, patient_id)
            out.append(_registered(patient_id, registered) if registered and registered.names else mine)
    return out


def _uid(*parts) -> str:
    return generate_uid(entropy_srcs=[_ROOT, *map(str, parts)])


def study_uid(n: int) -> str:
    """The Study Instance UID of the n-th planned study (deterministic)."""
    return _uid("study", n)


def instance_uid(n: int, i: int) -> str:
    """The SOP Instance UID of slice i of the n-th planned study (deterministic)."""
    return _uid("instance", n, i)


def _pixels(kind: str, z: float, seed: int):
    if kind == "ct_chest":
        return phantoms.ct_chest(z, seed=seed)
    if kind == "ct_head":
        return phantoms.ct_head(z, seed=seed)
    if kind == "mr_head":
        return phantoms.mr_head(z, seed=seed)
    return phantoms.cr_chest(seed=seed)


def _instance(patient: DemoPatient, kind: str, study_date: str, n: int, i: int, slices: int) -> bytes:
    modality, sop_class, description, series_description, _, body_part = KINDS[kind]
    study_uid, series_uid = _uid("study", n), _uid("series", n)
    pixels = _pixels(kind, (i + 0.5) / slices, seed=n * 1000 + i)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, instance_uid(n, i)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientName, ds.PatientID = patient.pn, patient.patient_id
    ds.PatientBirthDate, ds.PatientSex = patient.birth_date, patient.sex
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
    ds.StudyTime = ds.SeriesTime = f"{9 + n % 8:02d}{(n * 7) % 60:02d}00"
    ds.AccessionNumber, ds.StudyID = f"A{study_date[2:]}{n:02d}", str(n + 1)
    ds.StudyDescription, ds.SeriesDescription = description, series_description
    ds.ReferringPhysicianName = "Iryo^Kenichi=医師^健一=いし^けんいち"
    ds.InstitutionName, ds.Manufacturer = INSTITUTION, "kura demo phantom"
    ds.Modality, ds.BodyPartExamined = modality, body_part
    ds.SeriesNumber, ds.InstanceNumber = 1, i + 1
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if modality == "CR":
        ds.PixelSpacing = [1.4, 1.4]
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        ds.ViewPosition = "PA"
    else:
        thickness = 5.0
        ds.SliceThickness = thickness
        ds.PixelSpacing = [1.5, 1.5] if kind == "ct_chest" else [0.9, 0.9]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-192.0, -192.0, -i * thickness]
        ds.SliceLocation = -i * thickness
        if modality == "CT":
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = phantoms.CT_INTERCEPT, 1, "HU"
            ds.KVP = 120
            ds.WindowCenter, ds.WindowWidth = (40, 400) if kind == "ct_chest" else (40, 80)
        else:
            ds.MagneticFieldStrength, ds.EchoTime, ds.RepetitionTime = 1.5, 12, 500
            ds.WindowCenter, ds.WindowWidth = 450, 900
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def studies(plan=None, *, max_slices: int | None = None, patients: list[DemoPatient] | None = None
            ) -> Iterator[tuple[int, DemoPatient, str, str, list[bytes]]]:
    """(n, patient, study uid, outcome, instances as Part 10 bytes) for each planned study.
    `max_slices` thins each series (tests); the phantom still spans the whole body part."""
    for n, (p, kind, date, outcome) in enumerate(plan if plan is not None else PLAN):
        patient = (patients or PATIENTS)[p]
        slices = min(KINDS[kind][4], max_slices or KINDS[kind][4])
        yield n, patient, _uid("study", n), outcome, [
            _instance(patient, kind, date, n, i, slices) for i in range(slices)]


def _user(kura, username: str, role: Role = Role.technologist, clearance: str = "N") -> Subject:
    """The demo user's own account, so the ledger names a real user."""
    with kura.unit_of_work(None, "HOPERAT") as ctx:
        try:
            return identity.subject_of(identity.get_user(ctx, username))
        except NotFound:
            return Subject(id=None, name=username, roles=frozenset({role}), clearance=clearance)


def seed(kura, progress: Callable[..., object] = lambda n=1: None, *, plan=None,
         technologist: str = TECHNOLOGIST, max_slices: int | None = None,
         labelled: dict[int, tuple[str, str]] | None = None) -> dict[str, int]:
    """Store the demo studies through the imaging service as the technologist, then confirm
    or return them as planned, and let the physician label the `labelled` ones (LABELLED for
    the demo's own plan). Needs the management classes (classes.seed). Returns counts."""
    tech = _user(kura, technologist)
    patients = demo_patients(kura, tech)
    labelled = labelled if labelled is not None else (LABELLED if plan is None else {})
    counts = {"studies": 0, "instances": 0, "confirmed": 0, "returned": 0, "draft": 0, "labelled": 0}
    for n, patient, study_uid, outcome, instances in studies(plan, max_slices=max_slices, patients=patients):
        with kura.unit_of_work(tech, "TREAT", origin="kura demo") as ctx:
            for data in instances:
                imaging.store_instance(ctx, data)
                progress(1)
        with kura.unit_of_work(tech, "TREAT", origin="kura demo") as ctx:
            if outcome == "confirmed":
                imaging.confirm(ctx, study_uid)
            elif outcome == "returned":
                imaging.return_study(ctx, study_uid, reason=RETURN_REASON)
        progress(1)
        counts["studies"] += 1
        counts["instances"] += len(instances)
        counts[outcome] += 1
    if labelled:
        doctor = _user(kura, PHYSICIAN, Role.physician, "R")
        with kura.unit_of_work(doctor, "TREAT", origin="kura demo") as ctx:
            for n, (label, reason) in sorted(labelled.items()):
                relabel.set_study_label(ctx, _uid("study", n), label=label, reason=reason)
                counts["labelled"] += 1
    return counts
