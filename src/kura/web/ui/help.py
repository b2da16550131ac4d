"""操作マニュアル (regulation §15; R81): the in-app help, one page per task, and all of it as the
operations manual to print.

The pages are Markdown under templates/help/<lang>/<topic>.md (Japanese, and English), kept
beside the screens they describe so they change with them. The header's ヘルプ link opens the
topic of the screen in view when the user's roles cover it, else the list of the topics for
their roles; any signed-in user may read any topic (the manual is not a secret), the list only
leaves out what their roles do not do.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from typing import Annotated

from fastapi import APIRouter, Query, Request
from markdown_it import MarkdownIt

import kura
from kura.access.actions import Action
from kura.access.roles import CLINICAL_ROLES
from kura.errors import NotFound
from kura.web.deps import Auth, kura_of
from kura.web.i18n import language_of
from kura.web.ui.render import PageDep, can, redirect, render, safe_next

__all__ = ["router", "TOPICS", "Topic", "topics_for", "topic_for_path", "page_html"]

router = APIRouter(prefix="/help", include_in_schema=False)
HELP = Path(__file__).parent / "templates" / "help"


@dataclasses.dataclass(frozen=True)
class Topic:
    slug: str
    title: str  # English message id
    for_: tuple[tuple[Action, str], ...] = ()  # shown to those allowed any of these; () = everyone
    clinical: bool = False  # … or to those holding a clinical role (break-glass is theirs)
    paths: tuple[str, ...] = ()  # screens (path prefixes) whose ヘルプ link opens this topic


TOPICS = [
    Topic("basics", "Signing in, your account and the screens", paths=("/account",)),
    Topic("patients", "Registering a patient", ((Action.RecordsRecordCreate, "Patient"),),
          paths=("/patients", "/patients/new")),
    Topic("records", "Confirming and correcting a record",
          ((Action.RecordsRecordConfirm, "Encounter"), (Action.RecordsRecordConfirm, "Patient")),
          paths=("/records", "/patients/")),
    Topic("images", "Checking images (検像)", ((Action.ImagingStudyConfirm, "ImagingStudy"),), paths=("/images",)),
    Topic("breakglass", "Using and reviewing emergency access (break-glass)", ((Action.AuditAlertSignoff, "Ledger"),), clinical=True),
    Topic("backup", "Backups, restore and the daily checks", ((Action.OpsBackupCreate, "Backup"),), paths=("/ops",)),
    Topic("ledger", "Reviewing the audit log and alerts", ((Action.AuditLedgerRead, "Ledger"),), paths=("/audit", "/reviews/reports")),
    Topic("accounts", "Managing accounts and rights",
          ((Action.AdminUserManage, "User"), (Action.AdminRequestCreate, "AccountRequest")),
          paths=("/admin", "/accounts", "/training", "/reviews/rights")),
    Topic("equipment", "Equipment inventory, inspections and software review",
          ((Action.RegisterEquipmentManage, "Equipment"), (Action.OpsSoftwareApprove, "Software")),
          paths=("/registers/inventory", "/registers/software", "/registers/equipment")),
]
_BY_SLUG = {t.slug: t for t in TOPICS}


def _shown(topic: Topic, auth: Auth | None) -> bool:
    if auth is None:
        return False
    if not topic.for_ and not topic.clinical:
        return True
    if topic.clinical and set(auth.subject.roles) & CLINICAL_ROLES:
        return True
    return any(can(auth, action, kind) for action, kind in topic.for_)


def topics_for(auth: Auth | None) -> list[Topic]:
    """The topics for the user's roles, in the manual's order."""
    return [t for t in TOPICS if _shown(t, auth)]


def topic_for_path(path: str, auth: Auth | None) -> str | None:
    """The topic of the screen at `path` if the user's roles cover it (the longest match)."""
    best, length = None, 0
    for t in topics_for(auth):
        for prefix in t.paths:
            if path.startswith(prefix) and len(prefix) > length:
                best, length = t.slug, len(prefix)
    return best


@functools.cache
def _markdown(lang: str) -> MarkdownIt:
    # Raw HTML off: the pages are ours, but nothing in them needs it, and a table is Markdown.
    md = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
    if lang == "ja":  # a line wrapped in the source is no space in Japanese text
        md.add_render_rule("softbreak", lambda *args, **kwargs: "")
    return md


@functools.cache
def _source(lang: str, slug: str) -> str:
    path = HELP / lang / f"{slug}.md"
    if not path.exists():
        path = HELP / "ja" / f"{slug}.md"
    return path.read_text(encoding="utf-8")


def page_html(lang: str, slug: str) -> str:
    """A topic's page as HTML (its first line, `# Title`, is the page's heading)."""
    return _markdown(lang).render(_source(lang, slug))


@router.get("")
def index(request: Request, auth: PageDep, from_: Annotated[str, Query(alias="from", max_length=2000)] = ""):
    """The header's ヘルプ link: the topic of the screen it was pressed on (`from`), when the
    user's roles cover it; else the list of their topics."""
    slug = topic_for_path(safe_next(from_), auth) if from_ else None
    if slug is not None:
        return redirect(f"/help/{slug}")
    mine = topics_for(auth)
    others = [t for t in TOPICS if t not in mine]
    return render(request, "help/index.html", {"mine": mine, "others": others})


@router.get("/manual")
def manual(request: Request, auth: PageDep, all: str = ""):
    """Every topic (or the user's) on one page, styled to print as the operations manual."""
    lang = language_of(request, kura_of(request).settings.language)
    chosen = TOPICS if all else topics_for(auth)
    return render(request, "help/manual.html", {
        "pages": [(t, page_html(lang, t.slug)) for t in chosen], "complete": bool(all), "version": kura.__version__,
        "contact": kura_of(request).settings.support_contact})


@router.get("/{slug}")
def topic(request: Request, auth: PageDep, slug: str):
    t = _BY_SLUG.get(slug)
    if t is None:
        raise NotFound(f"no help topic {slug}")
    lang = language_of(request, kura_of(request).settings.language)
    return render(request, "help/topic.html", {"t": t, "body": page_html(lang, slug), "mine": topics_for(auth)})
