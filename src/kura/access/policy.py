"""The one access decision (regulation §6: rights by confidentiality, exclusion of the unauthorised).

Pure: no database, no I/O. Every route, DIMSE handler and CLI command reaches it through
``Context.require``; nothing else decides access.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from kura.access.actions import Action
from kura.access.roles import ANY, CLINICAL_ROLES, ROLE_GRANTS, Role

__all__ = ["Subject", "Target", "Decision", "Grant", "check", "CONFIDENTIALITY", "rank", "highest", "SYSTEM"]

# HL7 v3 Confidentiality, ordered (R14).
CONFIDENTIALITY = ("N", "R", "V")


def rank(code: str) -> int:
    return CONFIDENTIALITY.index(code)


def highest(*codes: str | None) -> str:
    """The most restrictive of the labels given (None and "" ignored); N when none is."""
    return max((c for c in codes if c), key=rank, default="N")


@dataclasses.dataclass(frozen=True)
class Subject:
    """Who acts: a user, or a system principal such as a registered DICOM peer."""

    id: str | None
    name: str
    roles: frozenset[Role]
    clearance: str = "N"


# The server itself (migrations, scheduled checkpoints); holds no roles.
SYSTEM = Subject(id=None, name="system", roles=frozenset())


@dataclasses.dataclass(frozen=True)
class Target:
    """What is acted on: a kind (FHIR type, "User", "Ledger", …) and its labels."""

    kind: str
    id: str | None = None
    patient_id: str | None = None
    confidentiality: str = "N"
    scope_roles: frozenset[str] | None = None  # the management class's usage scope
    class_code: str | None = None


@dataclasses.dataclass(frozen=True)
class Grant:
    """A break-glass still open for one patient: the ledger entry that started it (its alert),
    the reason given then, and until when it lasts (settings.break_glass_minutes)."""

    seq: int
    patient_id: str
    reason: str
    until: dt.datetime


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    break_glass: bool = False
    needs_break_glass: bool = False
    grant: int | None = None  # the break-glass (ledger seq) this allowance falls under


def check(*, subject: Subject | None, action: Action, target: Target, purpose: str,
          break_glass_reason: str | None = None, grant: Grant | None = None) -> Decision:
    """Decide whether `subject` may do `action` on `target` for `purpose`. Deny by default (R13).

    Beyond clearance a clinician passes with a stated `break_glass_reason`, or under an open
    `grant` for the target's patient (the reason was given once, for a bounded time)."""
    if subject is None:
        return Decision(False, "not authenticated")
    granting = [r for r in sorted(subject.roles) if _grants(r, action, target.kind)]
    if not granting:
        return Decision(False, f"no role of {subject.name} grants {action} on {target.kind}")
    if target.scope_roles is not None and not (set(subject.roles) & set(target.scope_roles)):
        return Decision(False, f"class {target.class_code} is outside the scope of {subject.name}'s roles")
    if rank(target.confidentiality) > rank(subject.clearance):
        gap = f"clearance {subject.clearance} < label {target.confidentiality}"
        reason = (break_glass_reason or "").strip()
        clinical = bool(set(subject.roles) & CLINICAL_ROLES)
        if clinical and grant is not None and target.patient_id and grant.patient_id == target.patient_id:
            return Decision(True, f"{gap}; under break-glass #{grant.seq} by {subject.name}: {grant.reason}",
                            break_glass=True, grant=grant.seq)
        if reason and clinical:
            return Decision(True, f"{gap}; break-glass by {subject.name}: {reason}", break_glass=True)
        if reason:
            return Decision(False, f"{gap}; break-glass is for clinical roles only")
        return Decision(False, gap, needs_break_glass=bool(set(subject.roles) & CLINICAL_ROLES))
    return Decision(True, f"role {granting[0]} grants {action} on {target.kind}")


def _grants(role: Role, action: Action, kind: str) -> bool:
    kinds = ROLE_GRANTS.get(role, {}).get(action)
    return kinds is not None and (kinds == ANY or kind in kinds)
