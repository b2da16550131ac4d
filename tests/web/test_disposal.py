"""Disposal by crypto-shredding, end to end over the real wire (CONTRACT.md "Retention, hold
and disposal"; R52, R78–R80): a second person approves, the patient's keys are destroyed,
every read answers 410, searches leave the patient out, the ledger still verifies deeply,
and the signed certificate names what was disposed of — never the content."""

from __future__ import annotations

import base64
import io

import pypdf
import pytest
from sqlalchemy import select

from kura.disposal import certificate
from kura.imaging import service as imaging
from kura.keys import service as keys
from kura.keys.models import DataKey
from kura.ledger.tags import LedgerTag
from kura.preservation.deep import deep_check
from kura.records import service as records
from tests.factories import ADMIN
from tests.unit.disposal.helpers import CLERK, make_patient
from tests.support.imaging import TECH, make_dataset, part10, prepare
from tests.support.records import document
from tests.web.ui import entries, page_as, text_of

STUDY = "1.2.392.200036.9116.2.6.1.48.1215.2015"


@pytest.fixture
def disposed_setup(server):
    """An old patient with records, an attachment and linked images; and a recent one."""
    kura = server.kura
    prepare(kura)
    pid = make_patient(kura, last_visit="2015-03-10", mrn="P0200")
    keep = make_patient(kura, last_visit="2025-06-01", mrn="P0201")
    from tests.support.imaging import PHYSICIAN
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        doc = records.create(ctx, document(pid, base64.b64encode(b"%PDF-1.4 referral 2015").decode(),
                                           when="2015-03-10T10:00:00+09:00"))
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        for n in (1, 2):
            imaging.store_instance(ctx, part10(make_dataset(
                patient_id="P0200", study_uid=STUDY, series_uid=STUDY + ".1", sop_uid=f"{STUDY}.1.{n}",
                study_date="20150310", instance_number=n, seed=n, birth_date="19700102")))
    with kura.unit_of_work(CLERK, "HPAYMT") as ctx:
        encounter = records.search(ctx, "Encounter", [("patient", pid)]).versions[0].id
    att = doc.resource()["content"][0]["attachment"]["url"].removeprefix("Binary/")
    return {"pid": pid, "keep": keep, "doc": doc.id, "att": att, "encounter": encounter}


def test_r79_r80_disposal_end_to_end(server, clock, as_role, disposed_setup):
    kura, s = server.kura, disposed_setup
    pid = s["pid"]
    ops, admin = as_role("operations", name="unyou-d"), as_role("admin", name="kanri-d")
    clerk, doctor = as_role("clerk", name="iji-d"), as_role("physician", name="dr-d")
    assert doctor.get(f"/dicom-web/studies/{STUDY}/metadata").status_code == 200
    with kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        owners = [keys.owner_of_patient(pid)]
        assert all(keys.keys_of(ctx, o) for o in owners)
        blob_names = list(kura.blobs.names())
    assert blob_names

    r = ops.post("/api/disposals", json={"patient": pid, "reason": "保存期間満了 (2020-03-10)"})
    assert r.status_code == 201 and r.json()["status"] == "requested"
    did = r.json()["id"]
    assert ops.post(f"/api/disposals/{did}/approve").status_code == 403  # the requester
    r = admin.post(f"/api/disposals/{did}/approve")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "done" and body["certificate"].endswith(f"/api/disposals/{did}/certificate")

    # every read of the patient, their records and their images answers 410
    for path in (f"/fhir/Patient/{pid}", f"/fhir/Patient/{pid}/_history/1", f"/fhir/Patient/{pid}/_history",
                 f"/fhir/Encounter/{s['encounter']}", f"/fhir/Patient/{pid}/$everything",
                 f"/fhir/DocumentReference/{s['doc']}", f"/fhir/Binary/{s['att']}"):
        got = doctor.get(path)
        assert got.status_code == 410, (path, got.status_code, got.text)
        assert got.json()["resourceType"] == "OperationOutcome" and got.json()["issue"][0]["code"] == "deleted"
    for path in (f"/dicom-web/studies/{STUDY}", f"/dicom-web/studies/{STUDY}/metadata",
                 f"/dicom-web/studies/{STUDY}/series/{STUDY}.1/instances/{STUDY}.1.1"):
        assert doctor.get(path).status_code == 410, path
    # searches and QIDO leave them out; the other patient is untouched
    assert clerk.get("/fhir/Patient", params={"identifier": "P0200"}).json()["total"] == 0
    assert clerk.get("/fhir/Encounter", params={"patient": pid}).json()["total"] == 0
    assert clerk.get("/fhir/Patient", params={"identifier": "P0201"}).json()["total"] == 1
    qido = doctor.get("/dicom-web/studies", params={"PatientID": "P0200"})
    assert qido.status_code in (200, 204) and (qido.status_code == 204 or qido.json() == [])
    assert clerk.get(f"/fhir/Patient/{s['keep']}").status_code == 200
    # a new record cannot be filed under the disposed patient
    enc = {"resourceType": "Encounter", "status": "finished", "subject": {"reference": f"Patient/{pid}"},
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}
    assert clerk.post("/fhir/Encounter", json=enc, headers={"Content-Type": "application/fhir+json"}).status_code == 400

    # the keys are destroyed, the blobs gone, the ledger verifies deeply
    with kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        rows = list(ctx.session.scalars(select(DataKey).where(DataKey.owner == keys.owner_of_patient(pid))))
        assert rows and all(r.wrapped is None and r.shredded_at for r in rows)
        from kura.audit import service as audit
        assert audit.verify(ctx).ok
        assert list(deep_check(ctx)) == []
    assert set(blob_names) - set(kura.blobs.names())  # the patient's sealed blobs were removed
    assert entries(kura, LedgerTag.KeysKeyShredded)
    approved = entries(kura, LedgerTag.RetentionDisposalApproved)[0]
    assert approved.actor_name == "kanri-d" and approved.patient_id == pid

    # the certificate: a signed PDF naming kinds, classes, dates and people, no content
    pdf = admin.get(f"/api/disposals/{did}/certificate")
    sig = admin.get(f"/api/disposals/{did}/certificate.sig")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    parsed = certificate.Signature.parse(sig.text)
    assert certificate.verify(kura.signer.public_key, kura.signer.key_id, pdf.content, parsed) == []
    assert certificate.verify(kura.signer.public_key, kura.signer.key_id, pdf.content + b" ", parsed) != []
    assert approved.digest == parsed.sha256
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "廃棄証明書" in text and "unyou-d" in text and "kanri-d" in text and "2015-03-10" in text
    assert "山田" not in text and "ヤマダ" not in text  # never the content
    assert clerk.get(f"/api/disposals/{did}/certificate").status_code == 403

    # the screens say it in Japanese
    with page_as(server, clock, "physician", name="dr-ui") as page:
        got = page.get(f"/patients/{pid}")
        assert got.status_code == 410 and "廃棄" in text_of(got.text)
