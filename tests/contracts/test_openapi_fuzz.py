"""schemathesis over the OpenAPI schema, and hypothesis over the routes it leaves out: no
generated input may produce a 5xx."""

import json

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_user


def test_no_server_errors_anywhere(server, clock):
    user = make_user(server.kura, "fuzzer", ("clerk",))
    token = server.login(user, clock)
    schema = schemathesis.openapi.from_dict(server.app.openapi())
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/session" and operation.method.upper() == "DELETE":
            continue  # would end the fuzzer's own session

        @given(operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")

        run()
    assert not failures, failures[:5]


# The routes the OpenAPI schema leaves out (FHIR, QIDO's attribute keys, UI pages) with the
# shapes that used to make 500s (issue 7 §5): numbers beyond any integer column, signs,
# control characters, deep nesting. Each must be answered below 500.
_NUMBER = st.one_of(st.integers(min_value=-(10**40), max_value=10**40).map(str),
                    st.text(alphabet="0123456789+-. e", min_size=0, max_size=45))
_TEXT = st.text(alphabet=st.characters(max_codepoint=0x30FF, blacklist_categories=("Cs",)), max_size=12)
_QUERIES = [
    ("clerk", "/fhir/Patient", ["_offset", "_count"], ["name", "identifier", "birthdate", "gender", "_id"]),
    ("clerk", "/fhir/Encounter", ["_offset", "_count"], ["patient", "date", "identifier"]),
    ("clerk", "/fhir/Patient/_history", ["_offset", "_count"], ["_since"]),
    ("clerk", "/fhir/Patient/{pid}/_history", ["_offset", "_count"], []),
    ("auditor", "/fhir/AuditEvent", ["_offset", "_count"], ["patient", "agent", "date"]),
    ("physician", "/dicom-web/studies", ["offset", "limit"], ["PatientID", "PatientName", "StudyDate", "AccessionNumber"]),
    ("physician", "/dicom-web/series", ["offset", "limit", "SeriesNumber"], ["Modality"]),
    ("physician", "/dicom-web/instances", ["offset", "limit", "InstanceNumber", "Rows", "Columns"], ["SOPClassUID"]),
    ("physician", "/records/Patient/{pid}/diff", ["a", "b"], []),
    ("physician", "/records/Patient/{pid}/pdf", ["version"], []),
    ("auditor", "/audit", ["page"], ["user", "patient", "since"]),
]


def _nested_body(depth: int, kind: str, text: str) -> str:
    inner = json.dumps(text)
    if kind == "array":
        inner = "[" * depth + inner + "]" * depth
    elif kind == "object":
        inner = '{"a":' * depth + inner + "}" * depth
    else:
        inner = '[{"url":"http://example.org/x","extension":' * depth + inner + "}]" * depth
    return inner


def test_hostile_shapes_never_a_server_error(server, clock):
    from tests.support.records import FHIR, patient, seed_classes

    seed_classes(server.kura)
    tokens = {role: server.login(make_user(server.kura, f"hostile-{role}", (role,)), clock)
              for role in ("clerk", "auditor", "physician")}
    clients = {role: server.client(token) for role, token in tokens.items()}
    pid = clients["clerk"].post("/fhir/Patient", json=patient(), headers={"Content-Type": FHIR}).json()["id"]
    failures = []

    @given(st.sampled_from(_QUERIES), st.data())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def queries(endpoint, data):
        role, path, numeric, textual = endpoint
        params = {}
        for name in numeric:
            if data.draw(st.booleans()):
                params[name] = data.draw(_NUMBER)
        for name in textual:
            if data.draw(st.booleans()):
                params[name] = data.draw(_TEXT)
        r = clients[role].get(path.format(pid=pid), params=params, headers={"Accept": "text/html"}
                              if path.startswith(("/records", "/audit")) else {})
        if r.status_code >= 500:
            failures.append(f"GET {path} {params!r}: {r.status_code}")

    @given(st.integers(0, 3000), st.sampled_from(["array", "object", "extension"]), _TEXT,
           st.sampled_from(["POST", "PUT", "Bundle"]), st.sampled_from(["given", "family", "extension"]))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def bodies(depth, kind, text, how, where):
        resource = patient()
        resource["name"][0]["given"] = ["@@"] if where == "given" else resource["name"][0]["given"]
        if where == "family":
            resource["name"][0]["family"] = "@@"
        elif where == "extension":
            resource["extension"] = "@@"
        if how == "PUT":
            resource["id"] = pid
        body = json.dumps(resource, ensure_ascii=False).replace('"@@"', _nested_body(depth, kind, text))
        headers = {"Content-Type": FHIR}
        if how == "POST":
            r = clients["clerk"].post("/fhir/Patient", content=body.encode(), headers=headers)
        elif how == "PUT":
            r = clients["clerk"].put(f"/fhir/Patient/{pid}", content=body.encode(), headers=headers)
        else:
            bundle = ('{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST",'
                      '"url":"Patient"},"resource":' + body + "}]}")
            r = clients["clerk"].post("/fhir", content=bundle.encode(), headers=headers)
        if r.status_code >= 500:
            failures.append(f"{how} depth {depth} {kind} {text!r}: {r.status_code}")

    try:
        queries()
        bodies()
    finally:
        for c in clients.values():
            c.close()
    assert not failures, failures[:5]
