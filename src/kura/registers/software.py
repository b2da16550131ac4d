"""ソフトウェア審査 (regulation §9; R65, R66): a build of kura is reviewed and approved by the
operations manager before it is used.

A submission runs `kura selfcheck` and keeps what it saw — kura's version, the SHA-256 over the
running package's files, the installed-file and SBOM counts, any anomalies — with the CycloneDX
SBOM sealed as a blob under the home's key. The operations manager then approves it (or
refuses it, with a reason), by name. A build is identified by (version, files digest): a
changed file is another build, which needs its own review. The operations screen and
`kura selfcheck` warn while the running build has no approved review.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import Conflict, IntegrityFailure, Invalid, NotFound
from kura.keys import service as keys
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.preservation.selfcheck import running_build, running_files, selfcheck
from kura.registers.models import SoftwareReview

__all__ = ["STATES", "submit", "approve", "refuse", "list_reviews", "get", "sbom", "approved_for", "running_status"]

STATES = {"pending": "Waiting for review", "approved": "Approved", "refused": "Refused"}
_AAD = b"sbom:"


def _blob_name(sha: str) -> str:
    return f"{sha}-{hashlib.sha256(b'sbom').hexdigest()[:16]}"


def submit(ctx: Context) -> SoftwareReview:
    """Run the self-check on the running build and submit it for review, with its SBOM.
    Raises Denied (needs OpsSelfcheckRun). Ledger: OpsSelfcheckCompleted, RegisterSoftwareSubmitted."""
    report = selfcheck(ctx)
    data = report.sbom.encode()
    sha = hashlib.sha256(data).hexdigest()
    name = _blob_name(sha)
    if not ctx.blobs.exists(name):
        ctx.blobs.put(name, keys.seal(ctx, keys.HOME, data, _AAD + sha.encode()))
    r = SoftwareReview(version=report.version, files_digest=report.files_digest, files=running_files(),
                       components=report.components, anomalies=json.dumps(report.anomalies[:50], ensure_ascii=False),
                       sbom_blob=name, sbom_sha256=sha, submitted_by_name=ctx.actor.name if ctx.actor else "system",
                       submitted_at=ctx.now(), state="pending", comment="")
    ctx.session.add(r)
    ctx.session.flush()
    ctx.record(LedgerTag.RegisterSoftwareSubmitted, target=Target(kind="Software", id=r.id),
               detail={"version": r.version, "files_digest": r.files_digest, "sbom_sha256": sha,
                       "anomalies": len(report.anomalies)})
    return r


def _decide(ctx: Context, review_id: str, state: str, comment: str, tag: LedgerTag) -> SoftwareReview:
    target = Target(kind="Software", id=review_id)
    ctx.require(Action.OpsSoftwareApprove, target)
    r = ctx.session.get(SoftwareReview, review_id)
    if r is None:
        raise NotFound(f"no software review {review_id}")
    if r.state != "pending":
        raise Conflict("this review was decided already")
    comment = (comment or "").strip()
    if state == "refused" and not comment:
        raise Invalid("a refusal needs its reason")
    if state == "approved" and json.loads(r.anomalies or "[]"):
        raise Invalid("the self-check of this build found anomalies: it cannot be approved")
    r.state, r.comment, r.decided_at = state, comment, ctx.now()
    r.decided_by_id, r.decided_by_name = (ctx.actor.id, ctx.actor.name) if ctx.actor else (None, "system")
    ctx.session.flush()
    ctx.record(tag, target=target, reason=comment[:500],
               detail={"version": r.version, "files_digest": r.files_digest, "sbom_sha256": r.sbom_sha256})
    return r


def approve(ctx: Context, review_id: str, *, comment: str = "") -> SoftwareReview:
    """The operations manager approves the build for use. Raises Denied, NotFound, Conflict
    (decided already), Invalid (its self-check found anomalies). Ledger: RegisterSoftwareApproved."""
    return _decide(ctx, review_id, "approved", comment, LedgerTag.RegisterSoftwareApproved)


def refuse(ctx: Context, review_id: str, *, comment: str) -> SoftwareReview:
    """The operations manager refuses the build, saying why. Raises Denied, NotFound, Conflict,
    Invalid (no reason). Ledger: RegisterSoftwareRefused."""
    return _decide(ctx, review_id, "refused", comment, LedgerTag.RegisterSoftwareRefused)


def list_reviews(ctx: Context) -> list[SoftwareReview]:
    ctx.require(Action.RegisterEntryRead, Target(kind="Software"))
    return list(ctx.session.scalars(select(SoftwareReview).order_by(SoftwareReview.submitted_at.desc())))


def get(ctx: Context, review_id: str) -> SoftwareReview:
    ctx.require(Action.RegisterEntryRead, Target(kind="Software", id=review_id))
    r = ctx.session.get(SoftwareReview, review_id)
    if r is None:
        raise NotFound(f"no software review {review_id}")
    return r


def sbom(ctx: Context, review_id: str) -> bytes:
    """The SBOM kept with a review, checked against its recorded SHA-256. Raises Denied,
    NotFound, IntegrityFailure."""
    r = get(ctx, review_id)
    data = keys.open(ctx, ctx.blobs.get(r.sbom_blob), _AAD + r.sbom_sha256.encode(), owner=keys.HOME)
    if hashlib.sha256(data).hexdigest() != r.sbom_sha256:
        raise IntegrityFailure(f"the SBOM of software review {r.id} does not match its recorded hash")
    return data


def approved_for(ctx: Context, version: str, files_digest: str) -> SoftwareReview | None:
    """The approval of this build, if it has one. No access check: whether the running build
    was approved is shown to whoever runs or operates it (the operations screen, `kura selfcheck`)."""
    return ctx.session.scalars(select(SoftwareReview).where(
        SoftwareReview.version == version, SoftwareReview.files_digest == files_digest,
        SoftwareReview.state == "approved").order_by(SoftwareReview.decided_at.desc()).limit(1)).first()


def running_status(ctx: Context) -> tuple[str, str, SoftwareReview | None]:
    """(version, files digest, its approval or None) of the build this process runs."""
    version, digest = running_build()
    return version, digest, approved_for(ctx, version, digest)
