"""Hostile shapes get a clear 4xx, never a 5xx: huge numbers in paging and query parameters,
deeply nested JSON, oversized bodies and control characters in FHIR strings (issue 7 §5).
"""

from __future__ import annotations

import json

import pytest

from tests.support.imaging import make_dataset, part10
from tests.support.records import FHIR, patient, post, put, seed_classes

HUGE = "9" * 30


@pytest.fixture
def clerk(server, as_role):
    seed_classes(server.kura)
    return as_role("clerk")


@pytest.fixture
def pid(clerk):
    r = post(clerk, "Patient", patient())
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _outcome(r, *status):
    assert r.status_code in status, (r.status_code, r.text[:300])
    assert r.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("path", [
    "/fhir/Patient?_offset={n}", "/fhir/Patient?_count={n}", "/fhir/Encounter?_offset={n}",
    "/fhir/Encounter?patient=Patient/{pid}&_offset={n}", "/fhir/Patient?name=ヤマダ&_offset={n}",
    "/fhir/Patient?name=ヤマダ&_count={n}", "/fhir/Patient/_history?_offset={n}", "/fhir/Patient/_history?_count={n}",
    "/fhir/Patient/{pid}/_history?_offset={n}", "/fhir/Patient/{pid}/_history?_count={n}",
    "/fhir/Patient?_offset=-1", "/fhir/Patient/_history?_count=-1",
])
def test_huge_paging_numbers_in_fhir_are_400(clerk, pid, path):
    _outcome(clerk.get(path.format(n=HUGE, pid=pid)), 400)


def test_huge_version_in_vread_is_404(clerk, pid):
    _outcome(clerk.get(f"/fhir/Patient/{pid}/_history/{HUGE}"), 404)


@pytest.mark.parametrize("query", [f"_offset={HUGE}", f"_count={HUGE}", "_count=-3"])
def test_huge_paging_numbers_in_audit_events_are_400(server, as_role, query):
    auditor = as_role("auditor")
    _outcome(auditor.get(f"/fhir/AuditEvent?{query}"), 400)


@pytest.mark.parametrize("query", [f"offset={HUGE}", f"limit={HUGE}", "limit=-1", "offset=-1",
                                   f"InstanceNumber={HUGE}", f"SeriesNumber={HUGE}", f"InstanceNumber=-{HUGE}",
                                   f"Rows={HUGE}", "InstanceNumber=1\\" + HUGE])
def test_huge_numbers_in_qido_are_400(server, as_role, query):
    reader = as_role("physician")
    level = "instances" if query.startswith(("Instance", "Rows")) else "series" if query.startswith("Series") \
        else "studies"
    r = reader.get(f"/dicom-web/{level}?{query}")
    assert r.status_code == 400, (r.status_code, r.text[:300])


@pytest.mark.parametrize("path", ["/records/Patient/{pid}/diff?a=1&b={n}", "/records/Patient/{pid}/diff?a={n}&b=1",
                                  "/records/Patient/{pid}/pdf?version={n}", "/audit?before={n}", "/audit?after={n}"])
def test_huge_numbers_in_ui_pages_are_400(server, as_role, pid, path):
    user = as_role("auditor") if path.startswith("/audit") else as_role("physician")
    r = user.get(path.format(n=HUGE, pid=pid), headers={"Accept": "text/html"})
    assert r.status_code == 400, (r.status_code, r.text[:300])


def test_huge_alert_number_in_sign_off_is_not_a_server_error(server, as_role):
    auditor = as_role("auditor")
    r = auditor.post(f"/audit/alerts/{HUGE}/sign-off", data={"note": "x"}, headers={"Accept": "text/html"})
    assert r.status_code in (400, 404), (r.status_code, r.text[:300])


def _nested(depth: int, kind: str, **extra) -> str:
    """A Patient (as JSON text: too deep for json.dumps) with one element nested `depth` deep."""
    resource = {**patient(), **extra}
    resource["name"][0]["given"] = ["@@"]
    text = json.dumps(resource, ensure_ascii=False)
    if kind == "array":
        inner = "[" * depth + '"x"' + "]" * depth
    elif kind == "object":
        inner = '{"a":' * depth + '"x"' + "}" * depth
    else:  # extensions inside extensions
        inner = '{"url":"http://example.org/x","extension":[' * depth + \
            '{"url":"http://example.org/x","valueString":"x"}' + "]}" * depth
    return text.replace('"@@"', inner)


@pytest.mark.parametrize("kind", ["array", "object", "extension"])
@pytest.mark.parametrize("depth", [40, 200, 5000, 100_000])
def test_deeply_nested_json_is_400(clerk, pid, kind, depth):
    headers = {"Content-Type": FHIR}
    # (413 when the nesting makes the body larger than json_max_bytes)
    _outcome(clerk.post("/fhir/Patient", content=_nested(depth, kind), headers=headers), 400, 413)
    _outcome(clerk.put(f"/fhir/Patient/{pid}", content=_nested(depth, kind, id=pid), headers=headers), 400, 413)
    bundle = ('{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"POST","url":"Patient"},'
              '"resource":' + _nested(depth, kind) + "}]}")
    r = clerk.post("/fhir", content=bundle, headers=headers)
    if r.status_code == 200:  # a batch answers each entry on its own
        assert r.json()["entry"][0]["response"]["status"].startswith("400")
    else:
        _outcome(r, 400, 413)


def test_raw_deep_nesting_is_400_before_parsing(clerk):
    _outcome(clerk.post("/fhir/Patient", content="[" * 300_000 + "]" * 300_000,
                        headers={"Content-Type": FHIR}), 400)


def test_oversized_fhir_body_is_413_with_operation_outcome(clerk, server):
    limit = server.kura.settings.json_max_bytes
    big = {**patient(), "text": {"status": "generated", "div": "<div>" + "x" * limit + "</div>"}}
    _outcome(clerk.post("/fhir/Patient", content=json.dumps(big), headers={"Content-Type": FHIR}), 413)


@pytest.mark.parametrize("char", ["\u0000", "\u0001", "\u0008", "\u000b", "\u000c", "\u001b"])
def test_control_characters_in_fhir_strings_are_400(clerk, pid, char):
    _outcome(post(clerk, "Patient", patient(family="山田" + char)), 400)
    _outcome(put(clerk, "Patient", pid, {**patient(given="太" + char + "郎"), "id": pid}), 400)
    _outcome(clerk.get("/fhir/Patient", params={"name": f"山田{char}"}), 400)


@pytest.mark.parametrize("char", ["\t", "\r\n"])
def test_tab_and_newlines_are_allowed(clerk, char):
    resource = patient()
    resource["text"] = {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">a{char}b</div>'}
    r = post(clerk, "Patient", resource)
    assert r.status_code == 201, r.text


def test_stow_with_huge_instance_number_is_not_a_server_error(server, as_role):
    """STOW takes what the modality wrote; an IS beyond any integer column is refused, not a 500."""
    tech = as_role("technologist")
    ds = make_dataset(patient_id="H1", study_uid="1.2.392.88", series_uid="1.2.392.88.1", sop_uid="1.2.392.88.1.1")
    ds.InstanceNumber = "9" * 12
    body = part10(ds)
    boundary = "kura-boundary"
    payload = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + body
               + f"\r\n--{boundary}--\r\n".encode())
    r = tech.post("/dicom-web/studies", content=payload,
                  headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
    assert r.status_code < 500, (r.status_code, r.text[:300])


@pytest.mark.parametrize("key", ["PatientID", "PatientName", "AccessionNumber"])
def test_control_characters_in_qido_are_400(server, as_role, key):
    reader = as_role("physician")
    r = reader.get("/dicom-web/studies", params={key: "A\u0000B"})
    assert r.status_code == 400, (r.status_code, r.text[:300])
