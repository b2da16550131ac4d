"""Retention, legal holds and disposal requests over HTTP (CONTRACT.md "Retention, hold and
disposal"; R52, R78–R80, R87–R89)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from kura.classes import service as classes
from kura.disposal.retention import retention_of
from kura.errors import Invalid
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN
from tests.unit.disposal.helpers import make_patient, seed_classes
from tests.web.ui import entries


@pytest.fixture
def old_patient(server):
    seed_classes(server.kura)
    return make_patient(server.kura, last_visit="2015-03-10", mrn="10001")


@pytest.fixture
def recent_patient(server):
    seed_classes(server.kura)
    return make_patient(server.kura, last_visit="2025-06-01", mrn="10002")


def test_r78_r87_r88_r89_retention_may_be_lengthened_never_shortened(kura):
    with kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        classes.seed(ctx)
        with pytest.raises(Invalid, match="法定保存期間 5 年"):
            classes.define(ctx, code="shinryoroku", name_ja="診療録", name_en="Medical record", confidentiality="N",
                           scope_roles=["physician"], retention_years=4, legal_kind="shinryoroku")
        with pytest.raises(Invalid, match="完結の日"):
            classes.define(ctx, code="shinryoroku", name_ja="診療録", name_en="Medical record", confidentiality="N",
                           scope_roles=["physician"], retention_years=5, retention_start="creation")
        with pytest.raises(Invalid, match="法定保存期間 3 年"):
            classes.define(ctx, code="iji-kaikei", name_ja="医事会計", name_en="x", confidentiality="N",
                           scope_roles=["clerk"], retention_years=2)
        mc = classes.define(ctx, code="iji-kaikei", name_ja="医事会計", name_en="x", confidentiality="N",
                            scope_roles=["clerk"], retention_years=7, legal_kind="kaikei")
        assert (mc.retention_years, mc.legal_kind) == (7, "kaikei")
        with pytest.raises(Invalid, match="法定保存期間 7 年"):
            classes.define(ctx, code="iji-kaikei", name_ja="医事会計", name_en="x", confidentiality="N",
                           scope_roles=["clerk"], retention_years=6)


def test_r52_admin_screen_refuses_a_retention_below_the_legal_minimum(server, clock):
    from tests.web.ui import page_as
    seed_classes(server.kura)
    with page_as(server, clock, "admin") as admin:
        r = admin.post("/admin/classes", data={
            "code": "gazo", "name_ja": "画像", "name_en": "Images", "confidentiality": "N",
            "scope": ["physician"], "retention_years": "2", "retention_start": "completion", "legal_kind": "gazo"})
        assert r.status_code == 400 and "法定保存期間 3 年" in r.text
        assert "エックス線写真等" in admin.get("/admin/classes/gazo").text


def test_r52_patient_retention_ends_n_years_after_the_last_completion(server, old_patient, recent_patient):
    with server.kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        found = retention_of(ctx)
    old, recent = found[old_patient], found[recent_patient]
    assert (old.last_completion.isoformat(), old.years, old.ends.isoformat(), old.ended) == \
        ("2015-03-10", 5, "2020-03-10", True)
    assert (recent.ends.isoformat(), recent.ended) == ("2030-06-01", False)
    assert {p.code for p in old.classes} == {"iji-kaikei", "kanja-kihon"}


def test_r52_hold_place_and_lift(server, as_role, old_patient):
    admin, auditor, clerk, ops = as_role("admin"), as_role("auditor"), as_role("clerk"), as_role("operations")
    assert clerk.post("/api/holds", json={"patient": old_patient, "reason": "訴訟"}).status_code == 403
    assert ops.post("/api/holds", json={"patient": old_patient, "reason": "訴訟"}).status_code == 403
    assert admin.post("/api/holds", json={"patient": "nobody", "reason": "訴訟"}).status_code == 404
    assert admin.post("/api/holds", json={"patient": old_patient}).status_code == 422
    r = auditor.post("/api/holds", json={"patient": old_patient, "reason": "開示請求 2026-11"})
    assert r.status_code == 201, r.text
    hold = r.json()["id"]
    assert [h["id"] for h in admin.get("/api/holds?active=true").json()] == [hold]
    assert admin.delete(f"/api/holds/{hold}").status_code == 400  # no X-Kura-Reason
    assert clerk.delete(f"/api/holds/{hold}", headers={"X-Kura-Reason": "x"}).status_code == 403
    reason = quote("和解成立")
    assert admin.delete(f"/api/holds/{hold}", headers={"X-Kura-Reason": reason}).status_code == 204
    assert admin.delete(f"/api/holds/{hold}", headers={"X-Kura-Reason": reason}).status_code == 409
    assert admin.get("/api/holds?active=true").json() == []
    lifted = entries(server.kura, LedgerTag.RetentionHoldLifted)
    assert lifted[0].reason == "和解成立" and lifted[0].patient_id == old_patient
    assert entries(server.kura, LedgerTag.RetentionHoldPlaced)[0].actor_name == auditor.user.username


def test_r52_disposal_refused_while_retention_runs_naming_the_date(server, as_role, recent_patient):
    ops = as_role("operations")
    r = ops.post("/api/disposals", json={"patient": recent_patient, "reason": "保存期間満了"})
    assert r.status_code == 409 and "2030-06-01" in r.json()["detail"]
    assert ops.get("/api/disposals").json() == []


def test_r52_legal_hold_blocks_disposal(server, as_role, old_patient):
    admin, ops = as_role("admin"), as_role("operations")
    hold = admin.post("/api/holds", json={"patient": old_patient, "reason": "訴訟"}).json()["id"]
    r = ops.post("/api/disposals", json={"patient": old_patient, "reason": "保存期間満了"})
    assert r.status_code == 409 and hold in r.json()["detail"]
    assert admin.delete(f"/api/holds/{hold}", headers={"X-Kura-Reason": "ok"}).status_code == 204
    r = ops.post("/api/disposals", json={"patient": old_patient, "reason": "保存期間満了"})
    assert r.status_code == 201 and r.json()["status"] == "requested"


def test_r80_one_person_cannot_both_request_and_approve(server, as_role, old_patient):
    ops, clerk, auditor = as_role("operations"), as_role("clerk"), as_role("auditor")
    assert clerk.post("/api/disposals", json={"patient": old_patient, "reason": "x"}).status_code == 403
    assert auditor.post("/api/disposals", json={"patient": old_patient, "reason": "x"}).status_code == 403
    r = ops.post("/api/disposals", json={"patient": old_patient, "reason": "保存期間満了"})
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    assert ops.post("/api/disposals", json={"patient": old_patient, "reason": "again"}).status_code == 409
    assert ops.post(f"/api/disposals/{did}/approve").status_code == 403
    assert clerk.post(f"/api/disposals/{did}/approve").status_code == 403
    assert auditor.post(f"/api/disposals/{did}/approve").status_code == 403
    assert ops.get(f"/api/disposals/{did}").json()["status"] == "requested"
    denied = entries(server.kura, LedgerTag.AccessRequestDenied, actor=ops.user.username)
    assert any("two-person" in e.reason for e in denied)
    assert clerk.get(f"/fhir/Patient/{old_patient}").status_code == 200  # nothing was disposed of


def test_r80_worklist_screen_in_japanese_request_and_two_person_rule(server, clock, old_patient, recent_patient):
    from tests.web.ui import page_as, text_of
    with page_as(server, clock, "admin", name="kanri1") as admin:
        page = admin.get("/retention")
        assert page.status_code == 200 and "保存期間・廃棄" in page.text
        text = text_of(page.text)
        assert old_patient in text and "保存期間終了" in text and "2020-03-10" in text
        assert recent_patient not in text  # ends in 2030: not within a year
        assert recent_patient in text_of(admin.get("/retention?all=1").text)
        r = admin.post("/retention/disposals", data={"patient": recent_patient, "reason": "x"})
        assert r.status_code == 409 and "2030-06-01" in r.text
        r = admin.post("/retention/disposals", data={"patient": old_patient, "reason": "保存期間満了"})
        assert r.status_code == 303
        listing = admin.get("/retention/disposals")
        assert "承認待ち" in listing.text and "別の担当者の承認が必要です" in listing.text
        with server.kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
            from kura.disposal import service as disposals
            did = disposals.list_disposals(ctx)[0].id
        r = admin.post(f"/retention/disposals/{did}/approve")
        assert r.status_code == 403 and "別の担当者が承認してください" in r.text
    with page_as(server, clock, "clerk", name="iji1") as clerk:
        assert clerk.get("/retention").status_code == 403
        assert "保存期間・廃棄" not in clerk.get("/").text
