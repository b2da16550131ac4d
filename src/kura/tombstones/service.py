"""Looking tombstones up: the stores call `check` on an id they did not find."""

from __future__ import annotations

from sqlalchemy import select

from kura.errors import Shredded
from kura.operation import Context
from kura.tombstones.models import Tombstone

__all__ = ["check", "is_disposed", "disposed_ids"]


def is_disposed(ctx: Context, kind: str, object_id: str) -> Tombstone | None:
    return ctx.session.scalar(select(Tombstone).where(Tombstone.kind == kind, Tombstone.object_id == object_id))


def check(ctx: Context, kind: str, object_id: str) -> None:
    """Raise Shredded (→ HTTP 410) when `kind/object_id` was lawfully disposed; else return.
    The message names the disposal and its date, never what the object held."""
    t = is_disposed(ctx, kind, object_id)
    if t is not None:
        raise Shredded(f"{kind}/{object_id} was disposed of after its retention period "
                       f"(disposal {t.disposal_id}, {t.disposed_at:%Y-%m-%d}); its content no longer exists")


def disposed_ids(ctx: Context, kind: str) -> set[str]:
    """Every disposed id of `kind` (for `audit verify --deep`: disposed, not missing)."""
    return set(ctx.session.scalars(select(Tombstone.object_id).where(Tombstone.kind == kind)))
