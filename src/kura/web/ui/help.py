"""操作マニュアル (regulation §15; R81): in-app help, one page per task, for the user's roles."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/help", include_in_schema=False)
