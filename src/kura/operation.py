"""The unit of work's context: who acts, for what purpose, from where — and the one way in.

Services take a Context first. ``ctx.require`` asks the access policy and keeps its reason;
``ctx.record`` appends the ledger entry in the same transaction as the change. Nothing here
commits: ``Kura.unit_of_work`` commits the change and its entries together, and writes
denials in a transaction of their own after rolling the refused work back.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy.orm import Session

from kura.access.actions import Action
from kura.access.policy import Decision, Subject, Target, check
from kura.blobs.store import BlobStore
from kura.clock import Clock
from kura.config import Settings
from kura.errors import Denied
from kura.ledger import service as ledger
from kura.ledger.signing import Signer
from kura.ledger.tags import LedgerTag

__all__ = ["Context", "Denial"]


@dataclasses.dataclass(frozen=True)
class Denial:
    action: Action
    target: Target
    reason: str


@dataclasses.dataclass
class Context:
    session: Session
    actor: Subject | None
    purpose: str
    clock: Clock
    signer: Signer
    blobs: BlobStore
    settings: Settings
    origin: str = ""
    request_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    break_glass_reason: str | None = None
    checkpoint_interval: int = 1000
    master_key: bytes = b""
    keyring: Any = None  # kura.keys.ring.KeyRing (typed loosely: operation sits below kura.keys)
    # The image archive's view of the records store (kura.imaging.link.RecordsPort), wired by
    # kura.app; typed loosely because this layer sits below both stores.
    records_port: object | None = None
    denials: list[Denial] = dataclasses.field(default_factory=list)
    break_glass_used: bool = False

    # -- access -------------------------------------------------------------------------
    def allows(self, action: Action, target: Target | None = None) -> Decision:
        """The policy's answer, with no side effects (for filtering search results)."""
        return check(subject=self.actor, action=action, target=target or Target(kind="*"),
                     purpose=self.purpose, break_glass_reason=self.break_glass_reason)

    def require(self, action: Action, target: Target | None = None) -> Decision:
        """Allow or raise Denied. A denial is written to the ledger (after rollback);
        a break-glass allowance is written now, as a security alert (R18, DICOM 110113/110127)."""
        target = target or Target(kind="*")
        decision = self.allows(action, target)
        if not decision.allowed:
            self.denials.append(Denial(action, target, decision.reason))
            raise Denied(decision.reason, needs_break_glass=decision.needs_break_glass)
        if decision.break_glass:
            self.break_glass_used = True
            self.record(LedgerTag.AccessBreakGlassStarted, target=target, reason=decision.reason,
                        detail={"action": str(action)}, alert=True)
        return decision

    # -- ledger -------------------------------------------------------------------------
    def record(self, tag: LedgerTag, *, target: Target | None = None, outcome: int = 0,
               digest: str | None = None, reason: str = "", detail: dict | None = None,
               alert: bool | None = None) -> int:
        actor = self.actor
        target = target or Target(kind="")
        return ledger.append(
            self.session, at=self.clock.now(), tag=tag, outcome=outcome,
            actor_id=actor.id if actor else None, actor_name=actor.name if actor else "anonymous",
            roles=actor.roles if actor else (), origin=self.origin, request_id=self.request_id,
            purpose=self.purpose, target_kind=target.kind, target_id=target.id,
            patient_id=target.patient_id, digest=digest, reason=reason, detail=detail, alert=alert,
            signer=self.signer, checkpoint_interval=self.checkpoint_interval)

    def now(self):
        return self.clock.now()
