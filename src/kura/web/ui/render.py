"""Templates, the page guard and the navigation shared by every screen.

Screens of other areas (patients, records, images) render through `render()` and extend
templates/base.html (blocks: title, nav, content, scripts). They add their menu entries with
`NAV.append(NavItem(...))`; an entry shows only when the signed-in user's roles allow its
action (the access policy decides, never `if role == …`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import jinja2
import segno
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from kura.access.actions import Action
from kura.access.policy import Target, check
from kura.access.roles import ROLE_GRANTS, ROLE_LABELS, Role
from kura.text import wareki
from kura.web.deps import Auth, AuthPendingDep, kura_of
from kura.i18n import gettext_for
from kura.web.i18n import language_of
from kura.web.ui.words import action_name, audit_reason, say

__all__ = ["render", "redirect", "PageDep", "NAV", "NavItem", "can", "safe_next", "qr_data_uri",
           "role_label", "fmt_time", "PERSON_ROLES", "LOCAL_TZ", "PasswordChangeRequired",
           "DutiesRequired"]

TEMPLATES = Path(__file__).parent / "templates"

# Hospital time for display and for the time-range filter; stored times stay UTC and the
# display always carries its offset (R26).
LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Tokyo")

# Roles a person can hold: those that may change their own password. The others
# (modality, workstation) belong to DICOM peers, never to user accounts.
PERSON_ROLES = tuple(r for r in Role if Action.SelfPasswordChange in ROLE_GRANTS.get(r, {}))

env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                         autoescape=jinja2.select_autoescape(["html"]),
                         trim_blocks=True, lstrip_blocks=True)


def _wareki(value) -> str:
    """Jinja filter: a date (date, or YYYY-MM-DD / YYYYMMDD text) as 昭和34年8月5日 (1959-08-05)."""
    text = value.isoformat() if isinstance(value, dt.date) else str(value or "")
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        era = wareki(dt.date.fromisoformat(text[:10]))
    except ValueError:
        return text
    return f"{era} ({text[:10]})" if era else text


env.filters["wareki"] = _wareki


@dataclasses.dataclass(frozen=True)
class NavItem:
    url: str
    label: str  # English message id, translated at render time
    action: Action | None = None  # shown when the policy allows this action …
    kind: str = "*"  # … on this kind of target
    hint: str = ""  # one line on the home page …
    write: Action | None = None  # … for those the policy allows this too;
    read_hint: str = ""  # for the others, this line (no promise of what their roles cannot do)
    write_kind: str = "*"

    def hint_for(self, auth: Auth | None) -> str:
        if self.write is None or can(auth, self.write, self.write_kind):
            return self.hint
        return self.read_hint or self.hint


NAV: list[NavItem] = [
    NavItem("/patients", "Patients", Action.RecordsRecordSearch, "Patient",
            "Find a patient and read or write their records.", Action.RecordsRecordCreate,
            "Find a patient and read their records.", "Encounter"),
    NavItem("/images", "Images", Action.ImagingStudySearch, "ImagingStudy",
            "Find imaging studies; check and confirm new ones.", Action.ImagingStudyConfirm,
            "Find imaging studies and view them.", "ImagingStudy"),
    NavItem("/images/reconcile", "Patient matching", Action.ImagingStudyReconcile, "ImagingStudy",
            "Images whose patient is unknown or disagrees with the registration: link, correct or send back."),
    NavItem("/admin/users", "Users", Action.AdminUserRead, "User",
            "Add users, change roles and clearance, disable, reset passwords, unlock."),
    NavItem("/admin/classes", "Management classes", Action.AdminClassRead, "ManagementClass",
            "Confidentiality, usage scope and retention of each class of record."),
    NavItem("/retention", "Retention and disposal", Action.RetentionDisposalRead, "Disposal",
            "What has passed its retention, legal holds, two-person disposal and its certificates."),
    NavItem("/registers/incidents", "Registers", Action.RegisterEntryRead, "Incident",
            "Equipment inventory and inspections, disposal, software review, incidents and their report deadlines, "
            "the emergency switch."),
    NavItem("/registers/media", "Patient media", Action.RegisterMediaManage, "PatientMedium",
            "Write a patient's studies to CD/DVD (DICOMDIR) and keep the media register."),
    NavItem("/registers/prints", "Printouts and exports", Action.RegisterPrintRead, "Ledger",
            "Who printed or carried out what, when, for what purpose."),
    NavItem("/accounts/requests", "Account requests", Action.AdminRequestRead, "AccountRequest",
            "Ask for an account or a change of rights; the system administrator approves or refuses."),
    NavItem("/training", "Training", Action.AdminTrainingRead, "Training",
            "Training records with their evidence, and who is due for the annual security training.",
            Action.AdminTrainingManage, "Training records, and who is due for the annual security training.",
            "Training"),
    NavItem("/admin/duties", "User duties", Action.AdminDutiesManage, "Duties",
            "The text every user acknowledges (利用者の責務): edit it as a new version; who has acknowledged."),
    NavItem("/admin/permissions", "Permissions", Action.AdminPermissionsRead, "Permissions",
            "What each role may do (read-only)."),
    NavItem("/audit", "Audit log", Action.AuditLedgerRead, "Ledger",
            "Browse the ledger by user, action, patient and time."),
    NavItem("/audit/alerts", "Alerts", Action.AuditAlertRead, "Ledger",
            "Review break-glass, lockouts and denials, and sign them off."),
    NavItem("/audit/patients", "Access history", Action.AuditPatientIdentify, "Patient",
            "Who accessed a patient's records and images, when and why: for a disclosure request."),
    NavItem("/audit/integrity", "Integrity", Action.AuditLedgerRead, "Ledger",
            "Verify the ledger and see its signed checkpoints."),
    NavItem("/reviews/reports", "Review reports", Action.AuditReportRead, "ReviewReport",
            "Daily and weekly review of the ledger's findings; sign each report off."),
    NavItem("/reviews/rights", "Rights review", Action.AdminReviewRead, "RightsReview",
            "Every account, its rights and what it has not used: keep, change or disable, then sign off.",
            Action.AdminReviewManage, "Read the periodic rights reviews and their decisions.", "RightsReview"),
    NavItem("/account", "My account", Action.SelfPasswordChange, "User",
            "Change your password or re-enrol your second factor."),
]


def can(auth: Auth | None, action: Action, kind: str = "*") -> bool:
    """Whether to offer a link: the same policy function that decides the request itself."""
    if auth is None:
        return False
    return check(subject=auth.subject, action=action, target=Target(kind=kind), purpose="HOPERAT").allowed


def nav_for(request: Request, auth: Auth | None) -> list[NavItem]:
    return [item for item in NAV if item.action is None or can(auth, item.action, item.kind)]


def role_label(role: str, lang: str) -> str:
    try:
        ja, en = ROLE_LABELS[Role(role)]
    except (ValueError, KeyError):
        return role
    return ja if lang == "ja" else en


def fmt_time(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S %z").replace("+0900", "+09:00")


def qr_data_uri(uri: str) -> str:
    """The otpauth:// URI as a PNG data: URI (the CSP allows data: images, not inline scripts)."""
    return segno.make(uri, error="m").png_data_uri(scale=6, border=4)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def render(request: Request, name: str, context: dict | None = None, status: int = 200) -> HTMLResponse:
    kura = kura_of(request)
    lang = language_of(request, kura.settings.language)
    auth = getattr(request.state, "auth", None)
    nav = nav_for(request, auth) if auth and not auth.must_change_password and not auth.duties_due else []
    path = request.url.path
    matching = [item.url for item in nav if path == item.url or path.startswith(item.url.rstrip("/") + "/")]
    values = {
        "request": request, "lang": lang, "_": gettext_for(lang), "auth": auth,
        "nav": nav, "current_url": max(matching, key=len) if matching else None,
        "here": here(request), "quote": lambda s: quote(s, safe=""),
        "idle_seconds": kura.settings.session_idle_minutes * 60 if auth else 0,
        "role_label": lambda r: role_label(r, lang), "fmt_time": fmt_time,
        "emergency": emergency_of(request),
        "say": lambda m: say(m, gettext_for(lang), lang), "action_name": lambda a: action_name(a, lang),
        "reason_words": lambda m: audit_reason(m, gettext_for(lang), lang),
        "today": kura.clock.now().astimezone(LOCAL_TZ).date().isoformat(),
    }
    values.update(context or {})
    html = env.get_template(name).render(values)
    return HTMLResponse(html, status_code=status)


def emergency_of(request: Request) -> list[dict]:
    """The break-glasses the page's unit of work fell under: a banner names each, until when
    it lasts, and offers to end it."""
    ctx = getattr(request.state, "uow", None)
    out = []
    for pid, seq in (ctx.under.items() if ctx is not None else ()):
        grant = ctx.grants.get(pid)
        if grant is not None:
            out.append({"patient_id": pid, "seq": seq, "until": fmt_clock(grant.until)})
    return out


def fmt_clock(value: dt.datetime) -> str:
    """A time of today in hospital time, e.g. 14:35."""
    return value.astimezone(LOCAL_TZ).strftime("%H:%M")


def redirect(url: str) -> RedirectResponse:
    """After a POST: 303 See Other, so a reload does not repeat the change (PRG)."""
    return RedirectResponse(url, status_code=303)


class PasswordChangeRequired(Exception):
    """Raised by PageDep; kura.web.errors turns it into a redirect to the change form (R6)."""


class DutiesRequired(Exception):
    """Raised by PageDep while the user duties wait for the user's 同意; kura.web.errors
    turns it into a redirect to the text (kura.identity.duties)."""


def page_auth(auth: AuthPendingDep) -> Auth:
    if auth.must_change_password:
        raise PasswordChangeRequired()
    if auth.duties_due:
        raise DutiesRequired()
    return auth


# The guard of every screen: signed in, and no password change pending.
PageDep = Annotated[Auth, Depends(page_auth)]
