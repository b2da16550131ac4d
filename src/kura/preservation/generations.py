"""`backup verify`, `backup list`, `backup prune`: the generations at a destination.

verify re-hashes every file and blob a generation's signed manifest names (each shared blob
once) and checks the signature with this home's public key (or the recovery kit's); prune
keeps generations by the configured policy (newest per day, ISO week, month) and deletes only
blobs no kept generation names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kura.access.actions import Action
from kura.access.policy import Target
from kura.errors import IntegrityFailure, Invalid
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.preservation import vault
from kura.preservation.destination import Destination
from kura.preservation.ports import Progress
from kura.i18n import Say, plain

__all__ = ["verify", "VerifyReport", "list_generations", "GenerationInfo", "prune", "keep_set", "hash_file"]

TARGET = Target(kind="Backup")


def hash_file(path: Path) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


@dataclasses.dataclass
class VerifyReport:
    dest: Path
    generations: list[str]
    files: int = 0
    bytes: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self, say: Say = plain) -> str:
        if self.ok:
            return say("backup intact: %(generations)s generation(s), %(files)s files, %(mb).1f MB re-hashed against "
                       "their signed manifests", generations=len(self.generations), files=self.files,
                       mb=self.bytes / 1048576)
        return say("backup damaged: %(n)s problem(s); first: %(first)s", n=len(self.problems), first=self.problems[0])


def _check_generation(d: Destination, gen: str, public_key: Ed25519PublicKey, seen: dict[str, tuple[str, int] | None],
                      report: VerifyReport, progress: Progress | None) -> None:
    try:
        m = d.manifest(gen)
        m.check(public_key)
    except IntegrityFailure as exc:
        report.problems.append(f"generations/{gen}/{exc}")
        return
    for name, (sha, size) in sorted(m.body.get("files", {}).items()):
        path = d.generations_dir / gen / name
        try:
            actual = hash_file(path)
        except FileNotFoundError:
            report.problems.append(f"generations/{gen}/{name}: missing")
            continue
        report.files += 1
        report.bytes += actual[1]
        if actual != (sha, size):
            report.problems.append(f"generations/{gen}/{name}: SHA-256 differs from the manifest")
    blobs = m.body.get("blobs", {})
    for i, (name, (sha, size)) in enumerate(blobs.items()):
        rel = f"blobs/{name[:2]}/{name[2:4]}/{name}"
        if name not in seen:
            try:
                hashed = hash_file(d.blob_path(name))
                seen[name] = hashed
                report.files += 1
                report.bytes += hashed[1]
            except FileNotFoundError:
                seen[name] = None
            if progress:
                progress("verifying", len(seen), None)
        found = seen[name]
        if found is None:
            if f"{rel}: missing" not in report.problems:
                report.problems.append(f"{rel}: missing")
        elif found != (sha, size) and f"{rel}: SHA-256 differs from the manifest" not in report.problems:
            report.problems.append(f"{rel}: SHA-256 differs from the manifest")


def verify(ctx: Context | None, dest: Path, *, public_key: Ed25519PublicKey, master_key: bytes | None = None,
           generation: str | None = None, progress: Progress | None = None) -> VerifyReport:
    """Re-hash DEST against its signed manifests. With `ctx`: raises Denied without
    OpsBackupVerify; ledger OpsBackupVerified (outcome 8 and an alert when damaged).
    Never raises for damage: it is reported, one line per damaged or missing file."""
    if ctx is not None:
        ctx.require(Action.OpsBackupVerify, TARGET)
    d = Destination(dest)
    d.info()
    gens = d.generations()
    if generation:
        if generation not in gens:
            raise Invalid(f"no complete generation {generation} in {dest}")
        gens = [generation]
    report = VerifyReport(d.root, gens)
    if not gens:
        report.problems.append("no complete generation")
    seen: dict[str, tuple[str, int] | None] = {}
    for gen in gens:
        _check_generation(d, gen, public_key, seen, report, progress)
    if gens and not (d.root / vault.FILE).exists():
        report.problems.append(f"{vault.FILE}: missing (a restore needs the current key vault)")
    elif master_key is not None:
        try:
            vault.read(d, master_key)
        except IntegrityFailure as exc:
            report.problems.append(f"{vault.FILE}: {exc}")
    at = (ctx.now() if ctx else dt.datetime.now(dt.timezone.utc)).isoformat()
    for gen in gens:
        mine = [p for p in report.problems if p.startswith(f"generations/{gen}/")]
        try:
            d.note_verification(gen, at, report.ok, len(mine) or len(report.problems))
        except OSError:
            pass  # a read-only medium (WORM, a mounted snapshot) can be verified, not annotated
    if ctx is not None:
        ctx.record(LedgerTag.OpsBackupVerified, target=Target(kind="Backup", id=str(d.root)),
                   outcome=0 if report.ok else 8, reason=report.line(), alert=not report.ok,
                   detail={"dest": str(d.root), "generations": len(gens), "problems": report.problems[:20]})
    return report


@dataclasses.dataclass
class GenerationInfo:
    name: str
    created_at: str
    bytes: int
    files: int
    ledger_size: int
    verified_at: str | None
    verified_ok: bool | None


def list_generations(dest: Path) -> list[GenerationInfo]:
    """Complete generations, newest first: date, size, entries, last verification."""
    d = Destination(dest)
    d.info()
    ver = d.verifications()
    out = []
    for gen in reversed(d.generations()):
        try:
            body = d.manifest(gen).body
        except IntegrityFailure:
            out.append(GenerationInfo(gen, "", 0, 0, 0, None, False))
            continue
        sizes = [v[1] for v in body.get("files", {}).values()] + [v[1] for v in body.get("blobs", {}).values()]
        v = ver.get(gen, {})
        out.append(GenerationInfo(gen, body.get("created_at", ""), sum(sizes), len(sizes),
                                  body.get("ledger", {}).get("size", 0), v.get("at"), v.get("ok")))
    return out


def _when(gen: str) -> dt.datetime:
    return dt.datetime.strptime(gen[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)


def keep_set(gens: list[str], *, daily: int, weekly: int, monthly: int) -> set[str]:
    """The generations a daily/weekly/monthly policy keeps: the newest of each of the last
    `daily` days that have one, likewise ISO weeks and months; the newest always."""
    newest_first = sorted(gens, reverse=True)
    keep = set(newest_first[:1])
    for count, bucket in ((daily, lambda t: t.date()), (weekly, lambda t: t.isocalendar()[:2]),
                          (monthly, lambda t: (t.year, t.month))):
        seen: list[object] = []
        for gen in newest_first:
            b = bucket(_when(gen))
            if b not in seen:
                if len(seen) >= count:
                    break
                seen.append(b)
                keep.add(gen)
    return keep


def prune(ctx: Context, dest: Path, *, daily: int, weekly: int, monthly: int) -> tuple[list[str], int]:
    """Delete the generations the policy does not keep, then blobs no kept generation names.
    Returns (deleted generations, deleted blobs). Raises Denied without OpsBackupPrune, Conflict
    while another run holds DEST. Ledger: OpsBackupPruned."""
    ctx.require(Action.OpsBackupPrune, TARGET)
    d = Destination(dest)
    d.info()
    with d.lock():
        gens = d.generations()
        keep = keep_set(gens, daily=daily, weekly=weekly, monthly=monthly)
        gone = [g for g in gens if g not in keep]
        for g in gone:
            d.remove_tree(d.generations_dir / g)
        for stale in d.partials():
            d.remove_tree(stale)
        blobs_gone = collect_blobs(d, keep)
    ctx.record(LedgerTag.OpsBackupPruned, target=Target(kind="Backup", id=str(d.root)),
               reason=f"{len(gone)} generation(s) and {blobs_gone} blob(s) deleted; {len(keep)} kept",
               detail={"dest": str(d.root), "deleted": gone, "kept": sorted(keep), "blobs_deleted": blobs_gone})
    return gone, blobs_gone


def collect_blobs(d: Destination, kept: set[str]) -> int:
    """Delete DEST blobs that no kept generation's manifest names. A kept generation whose
    manifest cannot be read keeps every blob (nothing is deleted on a doubt)."""
    wanted: set[str] = set()
    for g in kept:
        try:
            wanted.update(d.manifest(g).body.get("blobs", {}))
        except IntegrityFailure:
            return 0
    n = 0
    if not d.blobs.is_dir():
        return 0
    for path in d.blobs.glob("??/??/*"):
        if path.name not in wanted:
            path.unlink()
            n += 1
    return n


