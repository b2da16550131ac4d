"""The unit of work's context: who acts, for what purpose, from where — and the one way in.

Services take a Context first. ``ctx.require`` asks the access policy and keeps its reason;
``ctx.record`` appends the ledger entry in the same transaction as the change. Nothing here
commits: ``Kura.unit_of_work`` commits the change and its entries together, and writes
denials in a transaction of their own after rolling the refused work back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from kura.access.actions import Action
from kura.access.policy import Decision, Grant, Subject, Target, check
from kura.access.purpose import Purpose
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
    # The records store's view of the image archive (kura.records.link.ImagingPort), likewise.
    imaging_port: object | None = None
    # The other names of one patient (FHIR Patient id ↔ the DICOM Patient IDs linked to it),
    # wired by kura.app: one break-glass covers the patient's records and images alike.
    patient_aliases: Any = None  # Callable[[Session, str], tuple[str, ...]]
    read_only: bool = False
    # The protocol of a web request other than the screens (fhir, dicomweb, api); recorded in
    # each entry's detail as "via", so the audit manager can tell the sources apart.
    channel: str = ""
    denials: list[Denial] = dataclasses.field(default_factory=list)
    break_glass_used: bool = False
    # Open break-glasses by patient (None: looked up, none open), and the ones this work used.
    grants: dict[str, Grant | None] = dataclasses.field(default_factory=dict)
    under: dict[str, int] = dataclasses.field(default_factory=dict)
    alerts: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    # -- access -------------------------------------------------------------------------
    def allows(self, action: Action, target: Target | None = None) -> Decision:
        """The policy's answer, with no side effects (for filtering search results).

        Beyond clearance, the facts the policy needs about an open break-glass for the
        target's patient are looked up in the ledger (only then, so ordinary work pays nothing)."""
        target = target or Target(kind="*")
        decision = check(subject=self.actor, action=action, target=target, purpose=self.purpose,
                         break_glass_reason=self.break_glass_reason)
        if (decision.needs_break_glass or decision.break_glass) and target.patient_id:
            grant = self.grant_for(target.patient_id)
            if grant is not None:
                decision = check(subject=self.actor, action=action, target=target, purpose=self.purpose,
                                 break_glass_reason=self.break_glass_reason, grant=grant)
        return decision

    def grant_for(self, patient_id: str) -> Grant | None:
        """The actor's open break-glass for `patient_id` (started within break_glass_minutes)."""
        if patient_id not in self.grants:
            self.grants[patient_id] = None
            if self.actor is not None and self.actor.id:
                window = dt.timedelta(minutes=self._break_glass_minutes())
                row = ledger.open_break_glass(self.session, actor_id=self.actor.id, patient_id=patient_id,
                                              since=self.clock.now() - window, aliases=self._aliases(patient_id))
                if row is not None:
                    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.timezone.utc)
                    stated = json.loads(row.detail or "{}").get("break_glass_reason") or row.reason
                    self.grants[patient_id] = Grant(row.seq, patient_id, stated, at + window)
        return self.grants[patient_id]

    def _aliases(self, patient_id: str) -> tuple[str, ...]:
        return tuple(self.patient_aliases(self.session, patient_id)) if self.patient_aliases else ()

    def _break_glass_minutes(self) -> int:
        return self.settings.break_glass_minutes

    def require(self, action: Action, target: Target | None = None) -> Decision:
        """Allow or raise Denied. A denial is written to the ledger (after rollback).

        A break-glass starts once per patient: its AccessBreakGlassStarted entry is the one
        security alert (R18, DICOM 110113/110127) and opens the patient to this user for
        settings.break_glass_minutes. Later work on that patient falls under it (purpose
        ETREAT, each ledger entry naming the break-glass), with no further alert."""
        target = target or Target(kind="*")
        decision = self.allows(action, target)
        if not decision.allowed:
            self.denials.append(Denial(action, target, decision.reason))
            raise Denied(decision.reason, needs_break_glass=decision.needs_break_glass)
        if decision.break_glass:
            self.break_glass_used = True
            self.purpose = str(Purpose.ETREAT)
            seq = decision.grant
            if seq is None:
                minutes = self._break_glass_minutes()
                seq = self.record(LedgerTag.AccessBreakGlassStarted, target=target, reason=decision.reason,
                                  detail={"action": str(action), "minutes": minutes,
                                          "break_glass_reason": (self.break_glass_reason or "").strip()},
                                  alert=True)
                if target.patient_id:
                    grant = Grant(seq, target.patient_id, self.break_glass_reason or "",
                                  self.clock.now() + dt.timedelta(minutes=minutes))
                    for pid in (target.patient_id, *self._aliases(target.patient_id)):
                        self.grants[pid] = dataclasses.replace(grant, patient_id=pid)
            if target.patient_id:
                self.under[target.patient_id] = seq
        return decision

    def end_break_glass(self, patient_id: str) -> int | None:
        """End the actor's open break-glass for `patient_id` before its time runs out.
        Ledger: AccessBreakGlassStopped (naming the break-glass), or nothing when none is open."""
        grant = self.grant_for(patient_id)
        if grant is None:
            return None
        for pid in (patient_id, *self._aliases(patient_id)):
            self.grants[pid] = None
        return self.record(LedgerTag.AccessBreakGlassStopped, target=Target(kind="Patient", id=patient_id,
                                                                             patient_id=patient_id),
                           reason=grant.reason, detail={"break_glass": grant.seq}, alert=False)

    # -- ledger -------------------------------------------------------------------------
    def record(self, tag: LedgerTag, *, target: Target | None = None, outcome: int = 0,
               digest: str | None = None, reason: str = "", detail: dict[str, Any] | None = None,
               alert: bool | None = None) -> int:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot write to the ledger")
        actor = self.actor
        target = target or Target(kind="")
        if target.patient_id in self.under and tag != LedgerTag.AccessBreakGlassStarted:
            detail = {**(detail or {}), "break_glass": self.under[target.patient_id]}
        if self.channel:
            detail = {**(detail or {}), "via": self.channel}
        return ledger.append(
            self.session, at=self.clock.now(), tag=tag, outcome=outcome,
            actor_id=actor.id if actor else None, actor_name=actor.name if actor else "anonymous",
            roles=actor.roles if actor else (), origin=self.origin, request_id=self.request_id,
            purpose=self.purpose, target_kind=target.kind, target_id=target.id,
            patient_id=target.patient_id, digest=digest, reason=reason, detail=detail, alert=alert,
            signer=self.signer, checkpoint_interval=self.checkpoint_interval)

    def alert(self, tag: LedgerTag, *, target: Target | None = None, reason: str = "",
              detail: dict[str, Any] | None = None) -> None:
        """A security alert that must reach the ledger even when this unit of work is rolled
        back (an integrity failure found while reading): Kura.unit_of_work writes it with the
        commit, or after the rollback in a transaction of its own, as it does denials."""
        self.alerts.append({"tag": tag, "target": target, "reason": reason, "detail": detail})

    def write_alerts(self) -> None:
        for a in self.alerts:
            self.record(a["tag"], target=a["target"], outcome=8, reason=a["reason"], detail=a["detail"],
                        alert=True)
        self.alerts = []

    def record_denials(self) -> None:
        """Write each denial this work met (AccessRequestDenied), after its work was rolled back."""
        for d in self.denials:
            self.record(LedgerTag.AccessRequestDenied, target=d.target, outcome=4, reason=d.reason,
                        detail={"action": str(d.action)})

    def now(self) -> dt.datetime:
        return self.clock.now()
