"""schemathesis over the OpenAPI schema: no generated input may produce a 5xx."""

import schemathesis
from hypothesis import HealthCheck, given, settings

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
