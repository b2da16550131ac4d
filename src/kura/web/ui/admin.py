"""The system administrator's screens: users, management classes, the permission table.

Each page calls one identity/classes service inside the request's unit of work; those do the
access check (AdminUserManage, AdminClassManage, …) and write the ledger entry.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Target
from kura.access.roles import ANY, RECORD_TYPES, ROLE_GRANTS, ROLE_LABELS
from kura.classes import service as classes
from kura.classes.legal import LEGAL_KINDS, legal_kind as legal_kind_of
from kura.errors import Conflict, Invalid, NotFound
from kura.identity import service as identity
from kura.web.deps import kura_of, work
from kura.web.i18n import language_of
from kura.web.ui import words
from kura.web.ui.render import PERSON_ROLES, PageDep, qr_data_uri, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)

PURPOSE = "HSYSADMIN"  # v3 PurposeOfUse: health system administration
CLASS_TYPES = (*RECORD_TYPES, "ImagingStudy")

DONE = {"updated": "The user has been updated.", "disabled": "The account has been disabled.",
        "enabled": "The account has been enabled again.", "unlocked": "The account has been unlocked.",
        "class": "The management class has been saved.",
        "end_date": "The end date has been saved. The account is disabled on that day."}

Text = Annotated[str, Form(max_length=200)]
Password = Annotated[str, Form(max_length=1024)]
Choices = Annotated[list[str], Form()]


def _user_row(user, now) -> dict:
    locked_until = user.locked_until
    if locked_until is not None and locked_until.tzinfo is None:
        locked_until = locked_until.replace(tzinfo=now.tzinfo)
    return {"username": user.username, "display_name": user.display_name, "roles": sorted(user.role_set),
            "clearance": user.clearance, "disabled": user.disabled, "department": user.department,
            "locked": bool(locked_until and locked_until > now), "must_change": user.must_change_password,
            "created_at": user.created_at, "end_date": user.end_date}


# -- users -------------------------------------------------------------------------------

@router.get("/users")
def users(request: Request, auth: PageDep, done: str = ""):
    with work(request, auth, PURPOSE) as ctx:
        rows = [_user_row(u, ctx.now()) for u in identity.list_users(ctx)]
    return render(request, "admin/users.html", {"users": rows, "done": DONE.get(done)})


def _new_user_page(request: Request, form: dict | None = None, error: str | None = None, status: int = 200):
    return render(request, "admin/user_new.html",
                  {"roles": PERSON_ROLES, "levels": CONFIDENTIALITY, "form": form or {"clearance": "N", "roles": []},
                   "error": error, "min_length": request.app.state.kura.settings.password_min_length},
                  status=status)


@router.get("/users/new")
def new_user(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        identity.list_users(ctx)  # the access check: only who may read users sees the form
    return _new_user_page(request)


def _secret_page(request: Request, username: str, uri: str, *, reset: bool, status: int = 200):
    return render(request, "admin/user_secret.html",
                   {"username": username, "uri": uri, "qr": qr_data_uri(uri), "reset": reset}, status=status)


@router.post("/users")
def add_user(request: Request, auth: PageDep, username: Text = "", display_name: Text = "",
             department: Text = "", clearance: Annotated[str, Form(max_length=1)] = "N",
             password: Password = "", roles: Choices = []):  # noqa: B006 (FastAPI copies defaults)
    form = {"username": username, "display_name": display_name, "department": department,
            "clearance": clearance, "roles": roles}
    try:
        with work(request, auth, PURPOSE) as ctx:
            user, uri = identity.register(ctx, username=username, display_name=display_name, roles=roles,
                                          clearance=clearance, password=password, department=department)
            name = user.username
    except Conflict:
        return _new_user_page(request, form, "A user with this name exists already.", 400)
    except Invalid as exc:
        return _new_user_page(request, form, str(exc), 400)
    # Shown once: the secret is sealed in the database and never displayed again.
    return _secret_page(request, name, uri, reset=False, status=201)


def _find_user(ctx, username: str):
    for user in identity.list_users(ctx):  # list_users does the access check
        if user.username == username:
            return user
    raise NotFound(f"no user {username!r}")


def _user_page(request: Request, auth, username: str, error: str | None = None, status: int = 200,
               done: str | None = None):
    with work(request, auth, PURPOSE) as ctx:
        row = _user_row(_find_user(ctx, username), ctx.now())
    return render(request, "admin/user_edit.html",
                  {"user": row, "roles": PERSON_ROLES, "levels": CONFIDENTIALITY, "error": error, "done": done,
                   "min_length": request.app.state.kura.settings.password_min_length}, status=status)


@router.get("/users/{username}")
def edit_user(request: Request, auth: PageDep, username: str, done: str = ""):
    return _user_page(request, auth, username, done=DONE.get(done))


def _change(request: Request, auth, username: str, done: str, call):
    try:
        with work(request, auth, PURPOSE) as ctx:
            call(ctx)
    except (Invalid, Conflict) as exc:
        return _user_page(request, auth, username, str(exc), 400)
    return redirect(f"/admin/users/{username}?done={done}")


@router.post("/users/{username}")
def update_user(request: Request, auth: PageDep, username: str, display_name: Text = "",
                clearance: Annotated[str, Form(max_length=1)] = "N", roles: Choices = []):  # noqa: B006
    return _change(request, auth, username, "updated", lambda ctx: identity.update_user(
        ctx, username=username, roles=roles, clearance=clearance, display_name=display_name or None))


@router.post("/users/{username}/disable")
def disable_user(request: Request, auth: PageDep, username: str):
    return _change(request, auth, username, "disabled", lambda ctx: identity.disable(ctx, username=username))


@router.post("/users/{username}/enable")
def enable_user(request: Request, auth: PageDep, username: str):
    return _change(request, auth, username, "enabled",
                   lambda ctx: identity.update_user(ctx, username=username, enabled=True))


@router.post("/users/{username}/unlock")
def unlock_user(request: Request, auth: PageDep, username: str):
    return _change(request, auth, username, "unlocked", lambda ctx: identity.unlock(ctx, username=username))


@router.post("/users/{username}/reset-password")
def reset_password(request: Request, auth: PageDep, username: str, password: Password = ""):
    try:
        with work(request, auth, PURPOSE) as ctx:
            user, uri = identity.reset_password(ctx, username=username, password=password)
            name = user.username
    except (Invalid, Conflict) as exc:
        return _user_page(request, auth, username, str(exc), 400)
    return _secret_page(request, name, uri, reset=True)


# -- management classes --------------------------------------------------------------------

def _legal(code: str):
    kind = legal_kind_of(code)
    return kind if kind and kind.years else None


def _class_row(mc) -> dict:
    return {"code": mc.code, "name_ja": mc.name_ja, "name_en": mc.name_en, "confidentiality": mc.confidentiality,
            "scope": sorted(mc.scope), "retention_years": mc.retention_years,
            "retention_start": mc.retention_start, "update_rule": mc.update_rule,
            "legal_kind": mc.legal_kind, "legal": _legal(mc.legal_kind),
            "default_for": [t for t in mc.default_for.split(",") if t], "description": mc.description}


@router.get("/classes")
def class_list(request: Request, auth: PageDep, done: str = ""):
    with work(request, auth, PURPOSE) as ctx:
        rows = [_class_row(mc) for mc in classes.list_classes(ctx)]
        may_edit = ctx.allows(Action.AdminClassManage, Target(kind="ManagementClass")).allowed
    return render(request, "admin/classes.html", {"classes": rows, "may_edit": may_edit, "done": DONE.get(done)})


def _class_page(request: Request, form: dict, *, new: bool, error: str | None = None, status: int = 200):
    return render(request, "admin/class_form.html",
                  {"form": form, "new": new, "roles": PERSON_ROLES, "levels": CONFIDENTIALITY,
                   "types": CLASS_TYPES, "kinds": list(LEGAL_KINDS.values()), "error": error}, status=status)


_BLANK_CLASS = {"code": "", "name_ja": "", "name_en": "", "confidentiality": "N", "scope": [],
                "retention_years": 5, "retention_start": "completion", "update_rule": "versioned",
                "legal_kind": "other",
                "default_for": [], "description": ""}


@router.get("/classes/new")
def new_class(request: Request, auth: PageDep):
    with work(request, auth, PURPOSE) as ctx:
        classes.list_classes(ctx)  # the access check
    return _class_page(request, dict(_BLANK_CLASS), new=True)


@router.get("/classes/{code}")
def edit_class(request: Request, auth: PageDep, code: str):
    with work(request, auth, PURPOSE) as ctx:
        found = [_class_row(mc) for mc in classes.list_classes(ctx) if mc.code == code]
    if not found:
        raise NotFound(f"no management class {code!r}")
    return _class_page(request, found[0], new=False)


@router.post("/classes")
def save_class(request: Request, auth: PageDep, code: Annotated[str, Form(max_length=64)] = "",
               name_ja: Text = "", name_en: Text = "", confidentiality: Annotated[str, Form(max_length=1)] = "N",
               scope: Choices = [], retention_years: Annotated[int, Form(ge=1, le=100)] = 5,  # noqa: B006
               retention_start: Annotated[str, Form(max_length=16)] = "completion",
               default_for: Choices = [], description: Annotated[str, Form(max_length=2000)] = "",  # noqa: B006
               new: Annotated[str, Form(max_length=1)] = "",
               legal_kind: Annotated[str, Form(max_length=32)] = "other"):
    form = {"code": code, "name_ja": name_ja, "name_en": name_en, "confidentiality": confidentiality,
            "scope": scope, "retention_years": retention_years, "retention_start": retention_start,
            "update_rule": "versioned", "default_for": default_for, "description": description,
            "legal_kind": legal_kind}
    try:
        with work(request, auth, PURPOSE) as ctx:
            classes.define(ctx, code=code, name_ja=name_ja, name_en=name_en, confidentiality=confidentiality,
                           scope_roles=scope, retention_years=retention_years, retention_start=retention_start,
                           default_for=",".join(t for t in default_for if t in CLASS_TYPES),
                           description=description, legal_kind=legal_kind)
    except (Invalid, Conflict) as exc:
        return _class_page(request, form, new=bool(new), error=str(exc), status=400)
    return redirect("/admin/classes?done=class")


# -- the permission table ------------------------------------------------------------------

@router.get("/permissions")
def permissions(request: Request, auth: PageDep):
    """ROLE_GRANTS as a table, read-only: the one place permissions live, shown as it is."""
    with work(request, auth, PURPOSE) as ctx:
        ctx.require(Action.AdminPermissionsRead, Target(kind="Permissions"))
    roles = list(ROLE_GRANTS)
    lang = language_of(request, kura_of(request).settings.language)
    groups: dict[str, list] = {area: [] for area in words.AREAS}
    for action in Action:
        cells = []
        for role in roles:
            kinds = ROLE_GRANTS[role].get(action)
            cells.append(None if kinds is None else "*" if kinds == ANY else
                         "・".join(KIND_WORDS.get(k, k) if lang == "ja" else k for k in sorted(kinds)))
        groups.setdefault(words.area_of(action), []).append((action, words.action_name(action, lang), cells))
    table = [(words.AREAS.get(area, (area, area))[0 if lang == "ja" else 1], rows)
             for area, rows in groups.items() if rows]
    return render(request, "admin/permissions.html",
                  {"roles": roles, "groups": table, "labels": ROLE_LABELS})


# The kinds of target a grant names, as staff call them.
KIND_WORDS = {"Patient": "患者", "Coverage": "保険", "Encounter": "受診", "ChargeItem": "診療行為",
              "Invoice": "請求", "DocumentReference": "文書", "ImagingStudy": "画像検査", "Practitioner": "職員",
              "Provenance": "来歴", "AuditEvent": "監査イベント", "Binary": "添付ファイル", "User": "利用者"}
