"""The demo's accounts and training: the duties published and acknowledged, a pending, a
refused and an approved request (the approved account with an end date), training records
with one expired and one with evidence."""

from __future__ import annotations

from kura.demo import accounts as demo
from kura.identity import duties, requests, training
from kura.identity import service as identity
from tests.factories import ADMIN, make_user


def test_demo_seeds_requests_duties_and_training(kura):
    for name, roles in (("admin", ("admin",)), ("ops", ("operations",)), ("audit", ("auditor",)),
                        ("nurse", ("nurse",)), ("doctor", ("physician",)), ("bucho", ("department_head",))):
        make_user(kura, name, roles)
    assert demo.seed(kura) == {"requests": 3, "acknowledged": 6}
    with kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        assert sorted(r.state for r in requests.list_requests(ctx)) == ["approved", "pending", "refused"]
        ishii = identity.get_user(ctx, "ishii")
        assert ishii.end_date and ishii.end_date.endswith("-03-31") and not ishii.disabled
        assert all(duties.due(ctx, identity.get_user(ctx, n)) is None for n in ("admin", "nurse", "bucho"))
        due = {s.username: state for s, state in training.due_report(ctx)}
        assert due == {"nurse": "expired", "ishii": "never"}
        evidence = [r for r, _ in training.list_records(ctx) if r.evidence_blob]
        assert len(evidence) == 1 and training.evidence(ctx, evidence[0].id)[0].startswith(b"%PDF")
