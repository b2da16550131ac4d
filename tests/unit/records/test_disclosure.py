"""カルテ開示 (regulation §6; R48, R64, R69): one patient's records as a ZIP whose manifest
hashes every file; only roles with the export right; one ledger entry."""

import base64
import hashlib
import io
import json
import zipfile

import pytest
import pyzipper

from kura.errors import Denied, Invalid
from kura.ledger.tags import LedgerTag
from kura.records import disclosure
from kura.records import resources as R
from kura.records import service as records
from tests.factories import make_user, subject
from tests.support.records import seed_classes
from tests.web.ui import entries


@pytest.fixture
def patient(kura):
    seed_classes(kura)
    clerk = subject(make_user(kura, "clerk-d", ("clerk",)))
    doctor = subject(make_user(kura, "doc-d", ("physician",)), "R")
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        p = records.create(ctx, R.patient(mrn="00000200", family="小林", given="誠", family_kana="コバヤシ",
                                          given_kana="マコト", birth_date="1975-05-05", gender="male"))
        records.create(ctx, R.coverage(patient_id=p.id, kind="shaho", insurer="01130012", symbol="1234", number="5",
                                       start="2026-04-01"))
        records.confirm(ctx, "Patient", p.id)
        records.update(ctx, "Patient", p.id, {**records.read(ctx, "Patient", p.id).resource(), "gender": "male"},
                       reason="再確認")
    with kura.unit_of_work(doctor, "TREAT") as ctx:
        records.create(ctx, R.document_reference(patient_id=p.id, title="紹介状", date="2026-04-01T10:00:00+09:00",
                                                 data_b64=base64.b64encode(b"%PDF-1.4 referral").decode()))
        records.create(ctx, R.encounter(patient_id=p.id, start="2026-04-02T14:00:00+09:00", department="精神科",
                                        label="R"))
    return clerk, doctor, p.id


def _export(ctx, pid):
    return disclosure.export_patient(ctx, pid, purpose="patient", recipient="本人 小林 誠")


def _open(out) -> pyzipper.AESZipFile:
    zf = pyzipper.AESZipFile(io.BytesIO(out.data))
    zf.setpassword(out.password.encode())
    return zf


def test_r64_manifest_hashes_match_every_file(kura, patient):
    _, doctor, pid = patient
    with kura.unit_of_work(doctor, "TREAT") as ctx:
        out = _export(ctx, pid)
    zf = _open(out)
    manifest = json.loads(zf.read("manifest.json"))
    assert set(zf.namelist()) == {"manifest.json"} | {f["path"] for f in manifest["files"]}
    for f in manifest["files"]:
        assert hashlib.sha256(zf.read(f["path"])).hexdigest() == f["sha256"]
    assert disclosure.verify_zip(out.data, out.password) == []
    bundle = json.loads(zf.read("fhir/bundle.json"))
    types = sorted(e["resource"]["resourceType"] for e in bundle["entry"])
    assert types == ["Coverage", "DocumentReference", "Encounter", "Patient"]
    history = json.loads(zf.read("fhir/history.json"))
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]
            if e["resource"]["resourceType"] == "Patient"] == ["1", "2", "3"]
    assert b"%PDF-1.4 referral" in [zf.read(n) for n in zf.namelist() if n.startswith("attachments/")]
    assert zf.read("summary.pdf").startswith(b"%PDF")


def test_r71_the_export_is_aes256_encrypted_and_the_password_is_not_stored(kura, patient):
    _, doctor, pid = patient
    with kura.unit_of_work(doctor, "TREAT") as ctx:
        out = _export(ctx, pid)
    plain = zipfile.ZipFile(io.BytesIO(out.data))
    info = plain.infolist()[0]
    assert info.flag_bits & 0x1 and info.compress_type == 99  # encrypted, WinZip AES (AE-x)
    with pytest.raises(RuntimeError):
        plain.read(info.filename)  # the standard library cannot open it without the password
    wrong = pyzipper.AESZipFile(io.BytesIO(out.data))
    wrong.setpassword(b"not-the-password")
    with pytest.raises(RuntimeError):
        wrong.read("manifest.json")
    exported = entries(kura, LedgerTag.RecordsRecordExported, actor="doc-d")[0]
    assert out.password not in exported.detail and out.password not in exported.reason
    detail = json.loads(exported.detail)
    assert detail["destination"] == "本人 小林 誠" and detail["purpose"] == "patient"
    assert f"Patient/{pid}" in detail["objects"] and detail["encryption"].startswith("AES-256")


def test_r69_an_export_without_purpose_or_recipient_is_refused(kura, patient):
    _, doctor, pid = patient
    for purpose, recipient in (("", "本人"), ("patient", ""), ("holiday", "本人"), ("other", "本人")):
        with pytest.raises(Invalid), kura.unit_of_work(doctor, "TREAT") as ctx:
            disclosure.export_patient(ctx, pid, purpose=purpose, recipient=recipient)
    assert not entries(kura, LedgerTag.RecordsRecordExported, actor="doc-d")


def test_tampering_is_detected(kura, patient):
    _, doctor, pid = patient
    with kura.unit_of_work(doctor, "TREAT") as ctx:
        out = _export(ctx, pid)
    src = _open(out)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data.replace(b"Coverage", b"Coverage ") if name == "fhir/bundle.json" else data)
    assert disclosure.verify_zip(buf.getvalue()) == ["fhir/bundle.json: does not match the manifest"]
    assert disclosure.verify_zip(out.data, "wrong-password") != []


def test_r69_export_is_recorded_and_leaves_out_what_the_caller_may_not_see(kura, patient):
    clerk, _, pid = patient
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        out = _export(ctx, pid)
    bundle = json.loads(_open(out).read("fhir/bundle.json"))
    assert "Encounter" not in {e["resource"]["resourceType"] for e in bundle["entry"]}  # R, outside the clerk's scope
    exported = entries(kura, LedgerTag.RecordsRecordExported, actor="clerk-d")
    assert len(exported) == 1 and exported[0].digest == out.sha256 and exported[0].patient_id == pid
    assert json.loads(exported[0].detail)["manifest_sha256"] == hashlib.sha256(
        _open(out).read("manifest.json")).hexdigest()


def test_a_role_without_the_export_right_is_refused(kura, patient):
    _, _, pid = patient
    nurse = subject(make_user(kura, "nurse-d", ("nurse",)))
    with pytest.raises(Denied), kura.unit_of_work(nurse, "TREAT") as ctx:
        _export(ctx, pid)
    assert not entries(kura, LedgerTag.RecordsRecordExported, actor="nurse-d")
    assert entries(kura, LedgerTag.AccessRequestDenied, actor="nurse-d")
