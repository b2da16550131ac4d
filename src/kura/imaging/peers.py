"""Registered DICOM peers: who may associate, with which rights, acting as which Subject.

Only AE titles registered with `kura dicom-peer add` may associate (README, DICOM).
The table is read at association time, so a change takes effect on a running server.

A peer is a system Subject, never a user. Its roles derive from its rights:

- ``store``    → Role.modality: ImagingInstanceStore only (a modality cannot query);
- ``query``, ``retrieve`` → Role.workstation: ImagingStudySearch and ImagingStudyRead;
  which of the two DIMSE services it may use is then narrowed by `require_right`.

A peer's clearance is N, so restricted (R/V) studies never leave over DIMSE, and a study's
management class must name ``workstation`` in its usage scope for peers to see it: the
class decides whether its images may be used through DICOM nodes at all. Whether the
peer may query or retrieve (not just hold the role) is checked on its rights at each
request (`require_right`), recorded like any denial.
"""

from __future__ import annotations

import re
from typing import Iterable

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Subject, Target
from kura.access.roles import Role
from kura.errors import Invalid, NotFound
from kura.imaging.models import DicomPeer
from kura.ledger.tags import LedgerTag
from kura.errors import Denied
from kura.operation import Context, Denial

__all__ = ["RIGHTS", "add_peer", "disable_peer", "list_peers", "lookup", "subject_for", "record_association",
           "require_right", "right_denial"]

RIGHTS = ("store", "query", "retrieve")
_AET = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE: 16 chars, no backslash


def _validate(ae_title: str, host: str, port: int, rights: Iterable[str]) -> tuple[str, str]:
    aet = (ae_title or "").strip()
    if not aet or not _AET.match(aet):
        raise Invalid("an AE title is 1–16 printable characters without a backslash")
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        raise Invalid("host must be a host name or address")
    if not 1 <= int(port) <= 65535:
        raise Invalid("port must be between 1 and 65535")
    chosen = {r.strip() for r in rights if r.strip()}
    unknown = [r for r in chosen if r not in RIGHTS]
    if unknown or not chosen:
        raise Invalid(f"rights are a comma-separated subset of {', '.join(RIGHTS)}")
    return aet, ",".join(r for r in RIGHTS if r in chosen)


def add_peer(ctx: Context, *, ae_title: str, host: str, port: int,
             rights: Iterable[str] = RIGHTS) -> DicomPeer:
    """Register a peer, or change an existing one's address and rights.
    Raises Invalid, Denied. Ledger: AdminPeerAdded / AdminPeerChanged."""
    aet, right_text = _validate(ae_title, host, port, rights)
    target = Target(kind="DicomPeer", id=aet)
    ctx.require(Action.AdminPeerManage, target)
    peer = ctx.session.get(DicomPeer, aet)
    now = ctx.now()
    before = None
    if peer is None:
        peer = DicomPeer(ae_title=aet, created_at=now)
        ctx.session.add(peer)
        tag = LedgerTag.AdminPeerAdded
    else:
        before = {"host": peer.host, "port": peer.port, "rights": peer.rights}
        tag = LedgerTag.AdminPeerChanged
    peer.host, peer.port, peer.rights, peer.updated_at = host, int(port), right_text, now
    ctx.session.flush()
    ctx.record(tag, target=target, detail={"before": before, "host": host, "port": int(port),
                                           "rights": right_text})
    return peer


def list_peers(ctx: Context) -> list[DicomPeer]:
    ctx.require(Action.AdminPeerRead, Target(kind="DicomPeer"))
    return list(ctx.session.scalars(select(DicomPeer).order_by(DicomPeer.ae_title)))


def disable_peer(ctx: Context, ae_title: str) -> DicomPeer:
    """Take every right away: the AE title is then rejected like an unknown one (kept, not
    deleted, so its history stays readable). Giving it rights again enables it.
    Raises NotFound, Denied. Ledger: AdminPeerChanged (detail: disabled)."""
    target = Target(kind="DicomPeer", id=ae_title)
    ctx.require(Action.AdminPeerManage, target)
    peer = ctx.session.get(DicomPeer, ae_title)
    if peer is None:
        raise NotFound(f"no DICOM peer {ae_title}")
    before = {"host": peer.host, "port": peer.port, "rights": peer.rights}
    peer.rights, peer.updated_at = "", ctx.now()
    ctx.session.flush()
    ctx.record(LedgerTag.AdminPeerChanged, target=target, detail={"before": before, "disabled": True})
    return peer


def lookup(ctx: Context, ae_title: str) -> DicomPeer | None:
    """The registered, enabled peer for an AE title, or None. No access check: the association
    acceptor itself asks, before there is a caller to check."""
    peer = ctx.session.get(DicomPeer, (ae_title or "").strip())
    return peer if peer is not None and peer.rights else None


def subject_for(peer: DicomPeer) -> Subject:
    roles = set()
    if "store" in peer.right_set:
        roles.add(Role.modality)
    if peer.right_set & {"query", "retrieve"}:
        roles.add(Role.workstation)
    return Subject(id=None, name=f"dicom:{peer.ae_title}", roles=frozenset(roles), clearance="N")


_RIGHT_ACTIONS = {"store": Action.ImagingInstanceStore, "query": Action.ImagingStudySearch,
                  "retrieve": Action.ImagingStudyRead}


def right_denial(peer: DicomPeer, right: str) -> Denial | None:
    """None when `peer` holds `right`, else the denial to record (pure)."""
    if right in peer.right_set:
        return None
    reason = f"peer {peer.ae_title} has no {right} right (rights: {peer.rights})"
    return Denial(_RIGHT_ACTIONS[right], Target(kind="DicomPeer", id=peer.ae_title), reason)


def require_right(ctx: Context, peer: DicomPeer, right: str) -> None:
    """Raise Denied (written to the ledger by the unit of work) unless `peer` holds `right`."""
    denial = right_denial(peer, right)
    if denial is not None:
        ctx.denials.append(denial)
        raise Denied(denial.reason)


def record_association(ctx: Context, *, ae_title: str, address: str, accepted: bool | None,
                       reason: str = "") -> None:
    """Ledger: DicomAssociationAccepted, DicomAssociationRejected (alert) or, with
    accepted=None, DicomAssociationReleased."""
    target = Target(kind="DicomPeer", id=(ae_title or "")[:16])
    if accepted is None:
        ctx.record(LedgerTag.DicomAssociationReleased, target=target, detail={"address": address})
    elif accepted:
        ctx.record(LedgerTag.DicomAssociationAccepted, target=target, detail={"address": address})
    else:
        ctx.record(LedgerTag.DicomAssociationRejected, target=target, outcome=4, reason=reason,
                   detail={"address": address}, alert=True)
