"""The server-rendered UI (Jinja2, Japanese first): one router per area.

Every route here is a page for a person at a ward PC. State changes are POST forms and
answer 303 (post/redirect/get); every page reaches the core through its services, so the
access check and the ledger entry happen there, not here.
"""

from __future__ import annotations

import importlib

from fastapi import APIRouter

__all__ = ["router", "AREAS"]

# Area modules, each exposing `router`; a new area adds its module name here.
AREAS = [
    "kura.web.ui.login",
    "kura.web.ui.home",
    "kura.web.ui.account",
    "kura.web.ui.admin",
    "kura.web.ui.accounts",
    "kura.web.ui.audit",
    "kura.web.ui.patients",
    "kura.web.ui.records",
    "kura.web.ui.images",
    "kura.web.ui.reconcile",
    "kura.web.ui.ops",
    "kura.web.ui.peers",
    "kura.web.ui.retention",
    "kura.web.ui.registers",
    "kura.web.ui.inventory",
    "kura.web.ui.software",
    "kura.web.ui.help",
    "kura.web.ui.reviews",
]

router = APIRouter(include_in_schema=False)
for _name in AREAS:
    router.include_router(importlib.import_module(_name).router, include_in_schema=False)
