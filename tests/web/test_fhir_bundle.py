"""FHIR R4 batch and transaction Bundles at POST /fhir (FHIR R4 http.html#transaction): every
entry through the same records.service call as its own route; a transaction is one unit of
work, all or nothing."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from kura.audit import service as audit
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN
from tests.support.records import FHIR, encounter, patient, post, seed_classes


@pytest.fixture
def clerk(server, as_role):
    seed_classes(server.kura)
    return as_role("clerk")


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _send(client, kind: str, entries: list[dict], **headers):
    return client.post("/fhir", json={"resourceType": "Bundle", "type": kind, "entry": entries},
                       headers={"Content-Type": FHIR, **headers})


def _create(res: dict, full_url: str | None = None, **request) -> dict:
    e = {"resource": res, "request": {"method": "POST", "url": res["resourceType"], **request}}
    if full_url:
        e["fullUrl"] = full_url
    return e


def _encounter(ref: str) -> dict:
    """An Encounter whose subject is `ref` as given (a urn:uuid fullUrl, or Patient/<id>)."""
    return {**encounter("x"), "subject": {"reference": ref}}


def _confirm(url: str) -> dict:
    return {"request": {"method": "POST", "url": f"{url}/$confirm"}}


def _status(resource: dict) -> str:
    return next(t["code"] for t in resource["meta"]["tag"] if t["system"] == "urn:kura:status")


def _count(client, rtype: str, **params) -> int:
    return client.get(f"/fhir/{rtype}", params={**params, "_count": "0"}).json()["total"]


def _entries(server, pid: str = "", actor: str = ""):
    with server.kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        rows, _ = audit.browse(ctx, audit.Filter(patient_id=pid, actor=actor), limit=200)
    return rows


def test_r30_transaction_creates_and_confirms_with_provenance_and_ledger(server, clerk, as_role):
    p, e = _urn(), _urn()
    r = _send(clerk, "transaction", [
        _confirm(p),  # listed first; run after the creates
        _create(_encounter(p), e),  # references the patient by its urn:uuid
        _create(patient(mrn="tx-1"), p),
        _confirm(f"Encounter/{e}"),
    ])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["resourceType"] == "Bundle" and out["type"] == "transaction-response"
    statuses = [x["response"]["status"] for x in out["entry"]]
    assert statuses == ["200 OK", "201 Created", "201 Created", "200 OK"]
    pid = out["entry"][2]["resource"]["id"]
    eid = out["entry"][1]["resource"]["id"]
    assert out["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{pid}"
    assert out["entry"][0]["response"]["location"] == f"Patient/{pid}/_history/2"
    for rtype, rid in (("Patient", pid), ("Encounter", eid)):
        cur = clerk.get(f"/fhir/{rtype}/{rid}").json()
        assert cur["meta"]["versionId"] == "2" and _status(cur) == "confirmed"
        assert _status(clerk.get(f"/fhir/{rtype}/{rid}/_history/1").json()) == "draft"
    prov = as_role("physician").get("/fhir/Provenance", params={"target": f"Patient/{pid}"}).json()
    assert sorted(x["resource"]["target"][0]["reference"] for x in prov["entry"]) == \
        [f"Patient/{pid}/_history/1", f"Patient/{pid}/_history/2"]
    tags = [row.tag for row in _entries(server, pid) if row.target_id in (pid, eid)]
    assert tags.count(LedgerTag.RecordsRecordCreated) == 2 and tags.count(LedgerTag.RecordsRecordConfirmed) == 2


def test_transaction_is_all_or_nothing_and_names_the_failing_entry(clerk):
    before = _count(clerk, "Patient")
    p = _urn()
    bad = _encounter("Patient/no-such-patient")
    r = _send(clerk, "transaction", [_create(patient(mrn="tx-2"), p), _confirm(p),
                                     _create(patient(mrn="tx-3")), _create(bad)])
    assert r.status_code == 400, r.text
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert "entry 3 (POST Encounter)" in oo["issue"][0]["diagnostics"]
    assert _count(clerk, "Patient") == before
    assert _count(clerk, "Patient", identifier="tx-2") == 0


def test_transaction_unknown_urn_and_update_with_reason(clerk):
    r = _send(clerk, "transaction", [_confirm(_urn())])
    assert r.status_code == 400 and "entry 0" in r.json()["issue"][0]["diagnostics"]
    made = post(clerk, "Patient", patient(mrn="tx-4")).json()
    pid = made["id"]
    assert clerk.post(f"/fhir/Patient/{pid}/$confirm").status_code == 200
    fix = {**patient(mrn="tx-4", birth="1970-01-03"), "id": pid}
    # a confirmed resource: a correction without a reason is refused (the whole transaction)
    r = _send(clerk, "transaction", [{"resource": fix, "request": {"method": "PUT", "url": f"Patient/{pid}"}}])
    assert r.status_code == 400 and "reason" in r.json()["issue"][0]["diagnostics"]
    put = {"resource": fix, "request": {"method": "PUT", "url": f"Patient/{pid}", "extension": [
        {"url": "urn:kura:reason", "valueString": "生年月日の誤り"}]}}
    r = _send(clerk, "transaction", [put, _confirm(f"Patient/{pid}")])
    assert r.status_code == 200, r.text
    assert [x["response"]["status"] for x in r.json()["entry"]] == ["200 OK", "200 OK"]
    hist = clerk.get(f"/fhir/Patient/{pid}/_history").json()
    assert [x["request"]["method"] for x in hist["entry"]][:2] == ["POST", "PUT"]
    # the Bundle-level header works too
    fix2 = {**patient(mrn="tx-4", birth="1970-01-04"), "id": pid}
    r = _send(clerk, "transaction", [{"resource": fix2, "request": {"method": "PUT", "url": f"Patient/{pid}"}}],
              **{"X-Kura-Reason": quote("再修正")})
    assert r.status_code == 200, r.text
    assert clerk.get(f"/fhir/Patient/{pid}").json()["birthDate"] == "1970-01-04"


def test_conditional_create_in_transaction(clerk):
    first = post(clerk, "Patient", patient(mrn="tx-5")).json()
    p = _urn()
    r = _send(clerk, "transaction", [
        _create(patient(mrn="tx-5"), p, ifNoneExist="identifier=urn:oid:1.2.392.100495.20.3.51.11318814|tx-5"),
        _create(_encounter(p))])
    assert r.status_code == 200, r.text
    out = r.json()["entry"]
    assert out[0]["response"]["status"] == "200 OK" and out[0]["resource"]["id"] == first["id"]
    assert out[1]["resource"]["subject"]["reference"] == f"Patient/{first['id']}"


def test_batch_gives_each_entry_its_own_status(clerk):
    pid = post(clerk, "Patient", patient(mrn="b-1")).json()["id"]
    bad = {**patient(mrn="b-2"), "birthDate": "yesterday"}
    r = _send(clerk, "batch", [
        _create(patient(mrn="b-3")),
        _create(bad),
        _confirm(f"Patient/{pid}"),
        {"request": {"method": "GET", "url": f"Patient/{pid}"}},
        {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
        _confirm(f"Patient/{pid}"),  # confirmed already
    ])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "batch-response"
    statuses = [x["response"]["status"] for x in out["entry"]]
    assert statuses == ["201 Created", "400 Bad Request", "200 OK", "200 OK", "404 Not Found", "409 Conflict"]
    assert out["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert _status(out["entry"][3]["resource"]) == "confirmed"
    assert _count(clerk, "Patient", identifier="b-3") == 1


def test_r13_nurse_transaction_refused_wholly_batch_per_entry(server, clerk, as_role):
    pid = post(clerk, "Patient", patient(mrn="n-1")).json()["id"]
    nurse = as_role("nurse")
    before = _count(clerk, "Encounter")
    r = _send(nurse, "transaction", [{"request": {"method": "GET", "url": f"Patient/{pid}"}},
                                     _create(encounter(pid))])
    assert r.status_code == 403, r.text
    assert "entry 1 (POST Encounter)" in r.json()["issue"][0]["diagnostics"]
    r = _send(nurse, "batch", [{"request": {"method": "GET", "url": f"Patient/{pid}"}},
                               _create(encounter(pid)), _confirm(f"Patient/{pid}")])
    assert r.status_code == 200, r.text
    assert [x["response"]["status"] for x in r.json()["entry"]] == ["200 OK", "403 Forbidden", "403 Forbidden"]
    assert _count(clerk, "Encounter") == before
    assert _status(clerk.get(f"/fhir/Patient/{pid}").json()) == "draft"
    denials = [row for row in _entries(server, actor=nurse.user.username) if row.tag == LedgerTag.AccessRequestDenied]
    assert len(denials) == 3  # the refused transaction's create; the batch's create and confirm


def test_bundle_shape_is_checked(clerk):
    r = clerk.post("/fhir", json={"resourceType": "Bundle", "type": "collection", "entry": []},
                   headers={"Content-Type": FHIR})
    assert r.status_code == 400
    r = _send(clerk, "transaction", [{"request": {"method": "DELETE", "url": "Patient/x"}}])
    assert r.status_code == 400 and "entry 0" in r.json()["issue"][0]["diagnostics"]
    r = _send(clerk, "batch", [_create(_encounter(_urn()))])
    assert r.json()["entry"][0]["response"]["status"] == "400 Bad Request"
    cap = clerk.get("/fhir/metadata").json()
    assert {i["code"] for i in cap["rest"][0]["interaction"]} == {"transaction", "batch"}
