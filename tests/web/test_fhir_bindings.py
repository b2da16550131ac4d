"""Required bindings (FHIR R4 terminologies.html#strength) over real HTTP: a code outside the
value set of a required binding is a 422 with an OperationOutcome naming the element and the
allowed codes, and nothing is stored; extensible and preferred bindings are not errors. The
value sets are the specification's (records/fhir/bindings.json, scripts/fhir-r4-data)."""

from __future__ import annotations

import uuid

import pytest

from kura.records.fhir.bindings import _data
from kura.records.fhir.validate import STORED_TYPES
from tests.support.records import FHIR, charge, coverage, encounter, invoice, patient, post, put, seed_classes


@pytest.fixture
def clerk(server, as_role):
    seed_classes(server.kura)
    return as_role("clerk")


@pytest.fixture
def pid(clerk):
    r = post(clerk, "Patient", patient())
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _count(client, rtype: str) -> int:
    return client.get(f"/fhir/{rtype}", params={"_count": "0"}).json()["total"]


def _refused(r, *expressions: str) -> list[dict]:
    """The 422's OperationOutcome: one code-invalid issue per element named."""
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(FHIR)
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    issues = [i for i in body["issue"] if i["code"] == "code-invalid"]
    assert [i["expression"][0] for i in issues] == list(expressions), issues
    return issues


def test_r49_the_issue_codes_are_refused_with_the_allowed_codes(clerk, pid):
    cases = [("Encounter", {**encounter(pid), "status": "cancelled-ish"}, "cancelled, entered-in-error"),
             ("Coverage", {**coverage(pid), "status": "valid"}, "active, cancelled, draft, entered-in-error"),
             ("ChargeItem", {**charge(pid), "status": "paid"}, "billable, billed"),
             ("Invoice", {**invoice(pid), "status": "open"}, "balanced, cancelled, draft, entered-in-error, issued")]
    for rtype, body, allowed in cases:
        [issue] = _refused(post(clerk, rtype, body), f"{rtype}.status")
        assert f"'{body['status']}' is not in the required value set" in issue["diagnostics"]
        assert allowed in issue["diagnostics"], issue
        assert _count(clerk, rtype) == 0  # nothing stored
        good = post(clerk, rtype, {**body, "status": {"Encounter": "cancelled", "Coverage": "cancelled",
                                                      "ChargeItem": "billed", "Invoice": "balanced"}[rtype]})
        assert good.status_code == 201, good.text


def test_r49_nested_elements_and_datatypes_are_checked(clerk, pid, as_role):
    bad = patient(mrn="00002")
    bad["identifier"][0]["use"] = "primary"             # Identifier.use
    bad["name"][1]["use"] = "kana"                      # HumanName.use
    bad["telecom"] = [{"system": "phone", "value": "03-0000-0000"},
                      {"system": "mobile", "value": "090-0000-0000"}]  # ContactPoint.system
    bad["contact"] = [{"gender": "f"}]                  # Patient.contact.gender (a BackboneElement)
    bad["extension"] = [{"url": "urn:kura:test", "valueQuantity": {"value": 1, "comparator": "~"}}]
    issues = _refused(post(clerk, "Patient", bad), "Patient.identifier[0].use", "Patient.name[1].use",
                      "Patient.telecom[1].system", "Patient.contact[0].gender",
                      "Patient.extension[0].valueQuantity.comparator")
    assert "allowed: email, fax, other, pager, phone, sms, url" in issues[2]["diagnostics"]
    assert _count(clerk, "Patient") == 1

    doc = {"resourceType": "DocumentReference", "status": "final", "docStatus": "done",
           "subject": {"reference": f"Patient/{pid}"},
           "content": [{"attachment": {"contentType": "text/plain", "title": "紹介状"}}]}
    _refused(post(as_role("physician"), "DocumentReference", doc), "DocumentReference.status",
             "DocumentReference.docStatus")
    inv = {**invoice(pid), "totalPriceComponent": [{"type": "base"}, {"type": "fee"}]}  # a contentReference
    _refused(post(clerk, "Invoice", inv), "Invoice.totalPriceComponent[1].type")
    enc = {**encounter(pid), "statusHistory": [{"status": "done", "period": {"start": "2026-04-01"}}]}
    _refused(post(clerk, "Encounter", enc), "Encounter.statusHistory[0].status")


def test_r49_extensible_and_preferred_bindings_are_not_errors(clerk):
    body = patient(mrn="00003")
    body["maritalStatus"] = {"coding": [{"system": "urn:kura:local", "code": "内縁"}]}  # extensible
    body["communication"] = [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "ja-x-osaka"}]}}]
    body["language"] = "ja-JP"  # preferred
    r = post(clerk, "Patient", body)
    assert r.status_code == 201, r.text


def test_r49_updates_are_checked_too(clerk, pid):
    r = post(clerk, "Encounter", encounter(pid))
    assert r.status_code == 201, r.text
    body = {**r.json(), "status": "closed"}
    _refused(put(clerk, "Encounter", body["id"], body), "Encounter.status")
    assert clerk.get(f"/fhir/Encounter/{body['id']}").json()["status"] == "finished"


def _entry(res: dict, full_url: str | None = None) -> dict:
    e = {"resource": res, "request": {"method": "POST", "url": res["resourceType"]}}
    if full_url:
        e["fullUrl"] = full_url
    return e


def test_r49_a_transaction_with_a_bad_code_stores_nothing(clerk):
    urn = f"urn:uuid:{uuid.uuid4()}"
    bad = {**encounter("x"), "subject": {"reference": urn}, "status": "cancelled-ish"}
    r = clerk.post("/fhir", json={"resourceType": "Bundle", "type": "transaction",
                                  "entry": [_entry(patient(mrn="00004"), urn), _entry(bad)]},
                   headers={"Content-Type": FHIR})
    [issue] = _refused(r, "Bundle.entry[1].resource.status")
    assert "entry 1 (POST Encounter)" in issue["diagnostics"]
    assert _count(clerk, "Patient") == 0 and _count(clerk, "Encounter") == 0


def test_r49_a_batch_answers_422_for_the_bad_entry_only(clerk, pid):
    r = clerk.post("/fhir", json={"resourceType": "Bundle", "type": "batch",
                                  "entry": [_entry({**coverage(pid), "status": "valid"}), _entry(coverage(pid))]},
                   headers={"Content-Type": FHIR})
    assert r.status_code == 200, r.text
    bad, good = (e["response"] for e in r.json()["entry"])
    assert bad["status"] == "422 Unprocessable Entity"
    assert [i["expression"] for i in bad["outcome"]["issue"][1:]] == [["Coverage.status"]]
    assert good["status"] == "201 Created"
    assert _count(clerk, "Coverage") == 1


def test_the_generated_bindings_cover_every_stored_type():
    structures, sets = _data()
    assert set(STORED_TYPES) <= set(structures)
    # a few the specification binds `required`, found where a resource uses them
    assert structures["Encounter"]["status"]["vs"] == "http://hl7.org/fhir/ValueSet/encounter-status"
    assert structures["Identifier"]["use"]["vs"] == "http://hl7.org/fhir/ValueSet/identifier-use"
    assert structures["Provenance"]["entity"]["children"]["role"]["kind"] == "code"
    assert sets["http://hl7.org/fhir/ValueSet/administrative-gender"] == {
        "http://hl7.org/fhir/administrative-gender": {"male", "female", "other", "unknown"}}
