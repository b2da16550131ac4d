"""`kura audit verify --deep` catches a label lowered with one SQL UPDATE (issue 7 §3; R14, R44)."""

from __future__ import annotations

from sqlalchemy import text

from kura.app import build
from kura.config import load_settings
from kura.records import service as records
from tests.cli.test_audit_cli import kura_cmd
from tests.factories import make_user
from tests.support.records import patient, seed_classes, user_subject


def test_r14_r44_verify_deep_names_a_lowered_label(home, clock):
    app = build(load_settings(home, env="development"), clock=clock)
    try:
        seed_classes(app)
        clerk = user_subject(make_user(app, "clerkr", ("clerk",), clearance="R"), "R")
        with app.unit_of_work(clerk, "HPAYMT") as ctx:
            pid = records.create(ctx, patient(security="R")).id
            records.confirm(ctx, "Patient", pid)
    finally:
        app.dispose()
    code, out, err = kura_cmd(home, "audit", "verify", "--deep")
    assert code == 0, err
    app = build(load_settings(home, env="development"), clock=clock)
    try:
        with app.engine.begin() as conn:
            conn.execute(text("UPDATE record SET confidentiality = 'N' WHERE logical_id = :id"), {"id": pid})
    finally:
        app.dispose()
    code, out, err = kura_cmd(home, "audit", "verify", "--deep")
    assert code == 1 and f"Patient/{pid}" in err and "label" in err, (out, err)
