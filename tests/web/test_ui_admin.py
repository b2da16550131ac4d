"""The system administrator's screens over real HTTP: who may open each page (R13), and that
each form writes its ledger entry (R29)."""

import re

import pytest

from kura.classes import service as classes
from kura.identity import totp
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN, make_user, secret_of
from tests.web.ui import browser, entries, form_login, page_as

PAGES = ["/admin/users", "/admin/users/new", "/admin/users/clerk-ui", "/admin/classes", "/admin/classes/new",
         "/admin/classes/shinryoroku", "/admin/permissions"]


@pytest.mark.parametrize("path", PAGES)
def test_r13_admin_pages_anonymous_go_to_login(server, path):
    with browser(server) as c:
        r = c.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


@pytest.fixture
def seeded(server):
    with server.kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        classes.seed(ctx)


@pytest.mark.parametrize("path", PAGES)
def test_r13_admin_pages_refuse_other_roles_and_serve_the_admin(server, clock, seeded, path):
    with page_as(server, clock, "clerk") as clerk:
        denied = clerk.get(path)
    assert denied.status_code == 403 and "この操作の権限がありません" in denied.text
    with page_as(server, clock, "admin") as admin:
        r = admin.get(path)
    assert r.status_code == 200, r.text
    assert "<h1>" in r.text


def test_r13_a_refused_page_is_a_ledgered_denial(server, clock):
    with page_as(server, clock, "nurse") as nurse:
        assert nurse.get("/admin/users").status_code == 403
    denied = entries(server.kura, LedgerTag.AccessRequestDenied, actor="nurse-ui")
    assert denied and "admin:user:read" in denied[0].detail


def test_the_permission_table_shows_role_grants(server, clock):
    with page_as(server, clock, "auditor") as auditor:
        r = auditor.get("/admin/permissions")
    assert r.status_code == 200
    assert "監査責任者" in r.text and "audit:alert:signoff" in r.text and "records:record:read" in r.text


def test_r6_add_user_shows_secret_once_and_the_user_can_sign_in(server, clock):
    with page_as(server, clock, "admin") as admin:
        r = admin.post("/admin/users", data={"username": "Ｗａｔａｎａｂｅ", "display_name": "渡辺 花子",
                                             "department": "放射線科", "roles": ["technologist", "nurse"],
                                             "clearance": "R", "password": "first-Day-4471"})
        assert r.status_code == 201, r.text
        assert 'src="data:image/png;base64,' in r.text
        uri = re.search(r'otpauth://totp/[^<"]+', r.text).group(0).replace("&amp;", "&")
        listing = admin.get("/admin/users")
        assert "watanabe" in listing.text and "渡辺 花子" in listing.text
        dup = admin.post("/admin/users", data={"username": "watanabe", "display_name": "x", "roles": ["clerk"],
                                               "clearance": "N", "password": "first-Day-4471"})
        assert dup.status_code == 400 and "すでに存在します" in dup.text
        weak = admin.post("/admin/users", data={"username": "okada", "display_name": "x", "roles": ["clerk"],
                                                "clearance": "N", "password": "password"})
        assert weak.status_code == 400
    created = entries(server.kura, LedgerTag.AdminUserCreated, actor="admin-ui")
    assert [e.target_id for e in created] == ["watanabe"]
    clock.advance(seconds=30)
    with browser(server) as c:
        r = c.post("/login", data={"username": "watanabe", "password": "first-Day-4471",
                                   "otp": totp.code_at(secret_of(uri), clock.now())})
        assert r.headers["location"] == "/account/password"


def test_r11_r29_user_changes_are_ledgered(server, clock):
    make_user(server.kura, "hayashi", ("clerk",))
    with page_as(server, clock, "admin") as admin:
        r = admin.post("/admin/users/hayashi", data={"display_name": "林", "roles": ["clerk", "nurse"],
                                                     "clearance": "R"})
        assert r.status_code == 303
        page = admin.get(r.headers["location"])
        assert "更新しました" in page.text and 'value="R" checked' in page.text
        assert admin.post("/admin/users/hayashi/disable").status_code == 303
        assert "無効" in admin.get("/admin/users/hayashi").text
        assert admin.post("/admin/users/hayashi/enable").status_code == 303
        assert admin.post("/admin/users/hayashi/unlock").status_code == 303
        reset = admin.post("/admin/users/hayashi/reset-password", data={"password": "new-Start-8812"})
        assert reset.status_code == 200 and "otpauth://totp/" in reset.text
        own = admin.post("/admin/users/admin-ui/disable")
        assert own.status_code == 400 and "自分のアカウントは無効にできません" in own.text
    for tag in (LedgerTag.AdminUserUpdated, LedgerTag.AdminUserDisabled, LedgerTag.AdminUserUnlocked,
                LedgerTag.AdminUserPasswordReset):
        assert any(e.target_id == "hayashi" and e.actor_name == "admin-ui" for e in entries(server.kura, tag)), tag


def test_r51_management_class_add_and_edit(server, clock):
    with page_as(server, clock, "admin") as admin:
        r = admin.post("/admin/classes", data={
            "new": "1", "code": "kenshin", "name_ja": "健診記録", "name_en": "Health checks", "confidentiality": "R",
            "scope": ["physician", "nurse"], "retention_years": "5", "retention_start": "creation",
            "default_for": [], "description": "健康診断"})
        assert r.status_code == 303
        assert "健診記録" in admin.get("/admin/classes").text
        edit = admin.get("/admin/classes/kenshin")
        assert 'value="creation" checked' in edit.text
        r = admin.post("/admin/classes", data={
            "code": "kenshin", "name_ja": "健診記録", "name_en": "Health checks", "confidentiality": "V",
            "scope": ["physician"], "retention_years": "10", "retention_start": "creation"})
        assert r.status_code == 303
        bad = admin.post("/admin/classes", data={"code": "x", "name_ja": "x", "confidentiality": "N",
                                                 "scope": [], "retention_years": "5", "retention_start": "creation"})
        assert bad.status_code == 400 and "利用範囲" in bad.text
        assert admin.get("/admin/classes/nope").status_code == 404
    assert entries(server.kura, LedgerTag.AdminClassDefined, actor="admin-ui")[0].target_id == "kenshin"
    assert entries(server.kura, LedgerTag.AdminClassChanged, actor="admin-ui")[0].target_id == "kenshin"


def test_admin_forms_refuse_other_roles_and_write_nothing(server, clock):
    make_user(server.kura, "mori", ("clerk",))
    with page_as(server, clock, "operations") as ops:
        r = ops.post("/admin/users/mori/disable")
        assert r.status_code == 403
    assert not entries(server.kura, LedgerTag.AdminUserDisabled)
    assert entries(server.kura, LedgerTag.AccessRequestDenied, actor="operations-ui")


def test_cross_site_form_posts_are_refused(server, clock):
    with page_as(server, clock, "admin") as admin:
        r = admin.post("/admin/users/admin-ui/disable", headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        r = admin.post("/admin/users/admin-ui/disable",
                       headers={"Sec-Fetch-Site": "", "Origin": "https://evil.example"})
        assert r.status_code == 403


def test_r22_locked_account_is_shown_and_the_admin_unlocks_it(server, clock):
    user = make_user(server.kura, "ueda", ("clerk",))
    with browser(server) as c:
        for _ in range(5):
            c.post("/login", data={"username": "ueda", "password": "bad-password-x", "otp": "123456"})
    with page_as(server, clock, "admin") as admin:
        assert "ロック中" in admin.get("/admin/users/ueda").text
        assert admin.post("/admin/users/ueda/unlock").status_code == 303
        assert "ロック中" not in admin.get("/admin/users/ueda").text
    with browser(server) as c:
        form_login(server, clock, user, c)
    assert entries(server.kura, LedgerTag.AdminUserUnlocked)[0].target_id == "ueda"
