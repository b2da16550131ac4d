"""`kura selfcheck` (regulation §9, R65, R67): is the software the one installed, and the home sound?

- every file of the installed kura distribution against the SHA-256 its wheel's RECORD holds
  (importlib.metadata), and kura running from that distribution;
- every installed distribution, with its version, as a CycloneDX SBOM (cyclonedx-python-lib);
- the home's permissions (home and keys 0700, key files 0600, owned by this account) and keys;
- the database schema at this kura's migration head, with no model change unmigrated;
- the ledger head agreeing with the last entry, and the newest checkpoint's signature.
It also names the build it ran: kura's version and one SHA-256 over every file of the running
package (`package_digest`), which the software review (kura.registers.software) approves.
Any anomaly makes the check fail; an editable (development) install is noted, and an anomaly
only in production.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import importlib.metadata as md
import os
import stat
import warnings
from pathlib import Path

from sqlalchemy import select

from kura.config import Settings

from kura.access.actions import Action
from kura.access.policy import Target
from kura.ledger import service as ledger
from kura.ledger.models import LedgerEntry, LedgerHead
from kura.ledger.signing import checkpoint_message, verify_signature
from kura.ledger.encoding import iso_utc
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.i18n import Say, plain

__all__ = ["selfcheck", "SelfcheckReport", "check_distribution", "sbom_json", "check_home", "package_digest",
           "running_build", "running_files"]

TARGET = Target(kind="Software")


@dataclasses.dataclass
class SelfcheckReport:
    files_checked: int
    components: int
    anomalies: list[str]
    notes: list[str]
    sbom: str
    version: str = ""
    files_digest: str = ""

    @property
    def ok(self) -> bool:
        return not self.anomalies

    def line(self, say: Say = plain) -> str:
        head = say("selfcheck: %(files)s installed files, %(components)s components in the SBOM",
                   files=self.files_checked, components=self.components)
        if self.ok:
            return head + "; " + say("no anomaly") + (f" ({'; '.join(self.notes)})" if self.notes else "")
        n, first = len(self.anomalies), self.anomalies[0]
        return head + "; " + (say("1 anomaly: %(first)s", first=first) if n == 1
                              else say("%(n)s anomalies: %(first)s", n=n, first=first))


@functools.cache
def package_digest(package_dir: Path) -> tuple[str, int]:
    """(SHA-256, file count) over every file of the package at `package_dir`: one line
    "path<TAB>sha256" per file, sorted, bytecode caches left out. Installed from a wheel or
    from a source tree alike, a changed, added or removed file gives another digest. Cached:
    the code a process runs is the code it started with."""
    lines = []
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            lines.append(f"{path.relative_to(package_dir).as_posix()}\t{hashlib.sha256(path.read_bytes()).hexdigest()}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest(), len(lines)


def running_build() -> tuple[str, str]:
    """(version, files digest) of the kura this process runs."""
    import kura
    return kura.__version__, package_digest(Path(kura.__file__).parent)[0]


def running_files() -> int:
    """How many files of the running package the digest covers."""
    import kura
    return package_digest(Path(kura.__file__).parent)[1]


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def check_distribution(dist: md.Distribution, package_dir: Path | None = None) -> tuple[int, list[str], list[str]]:
    """(files checked, anomalies, notes) for one distribution against its RECORD."""
    anomalies: list[str] = []
    notes: list[str] = []
    files = dist.files or []
    if any(str(f).startswith("__editable__") for f in files) or (dist.read_text("direct_url.json") or "").find(
            '"editable": true') >= 0:
        notes.append(f"{dist.metadata['Name']} is an editable (development) install: its files have no RECORD hashes")
        return 0, anomalies, notes
    n = 0
    for f in files:
        if not f.hash or f.hash.mode != "sha256":
            continue  # RECORD itself, and files pip writes at install (INSTALLER, REQUESTED)
        path = Path(f.locate())
        try:
            actual = _record_hash(path.read_bytes())
        except FileNotFoundError:
            anomalies.append(f"installed file missing: {f}")
            continue
        n += 1
        if actual != f"sha256={f.hash.value}":
            anomalies.append(f"installed file altered: {f}")
    if package_dir is not None:
        located = {Path(f.locate()).resolve() for f in files if str(f).endswith(".py")}
        if located and (package_dir / "__init__.py").resolve() not in located:
            anomalies.append(f"kura runs from {package_dir}, not from the installed distribution")
    return n, anomalies, notes


def sbom_json() -> tuple[str, int]:
    """A CycloneDX 1.6 JSON SBOM of every installed distribution; (json, component count)."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    bom = Bom()
    seen = set()
    for dist in sorted(md.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
        name, version = dist.metadata["Name"], dist.version
        if not name or (name.lower(), version) in seen:
            continue
        seen.add((name.lower(), version))
        comp = Component(name=name, version=version, type=ComponentType.LIBRARY,
                         purl=PackageURL(type="pypi", name=name.lower(), version=version),
                         bom_ref=f"pkg:pypi/{name.lower()}@{version}")
        if name.lower() == "kura":
            bom.metadata.component = Component(name=name, version=version, type=ComponentType.APPLICATION,
                                               bom_ref=f"app:{name}@{version}")
        bom.components.add(comp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no dependency graph": a flat inventory is what §9 asks for
        return JsonV1Dot6(bom).output_as_string(indent=2), len(seen)


def check_home(settings: Settings) -> list[str]:
    """Permissions and keys of the home; one line per anomaly."""
    out = []
    uid = os.getuid()

    def mode_of(p: Path) -> tuple[int, int]:
        st = p.stat()
        return stat.S_IMODE(st.st_mode), st.st_uid

    for path, most in ((settings.home, 0o700), (settings.key_dir, 0o700),
                       (settings.key_dir / "master.key", 0o600), (settings.key_dir / "signing.key", 0o600)):
        try:
            mode, owner = mode_of(path)
        except FileNotFoundError:
            out.append(f"{path}: missing")
            continue
        if mode & ~most & 0o777:
            out.append(f"{path}: mode {mode:o}, should be at most {most:o}")
        if owner != uid:
            out.append(f"{path}: owned by uid {owner}, not by this account ({uid})")
    try:
        if len((settings.key_dir / "master.key").read_bytes()) != 32:
            out.append("master.key: not a 256-bit key")
    except OSError:
        pass
    config = settings.home / "config.toml"
    if config.exists() and stat.S_IMODE(config.stat().st_mode) & 0o022:
        out.append(f"{config}: writable by others")
    return out


def _schema(ctx: Context) -> list[str]:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from kura.migrations import alembic_config, metadata
    conn = ctx.session.connection()  # this transaction's (a second one would wait for its lock)
    mc = MigrationContext.configure(conn)
    current = set(mc.get_current_heads())
    heads = set(ScriptDirectory.from_config(alembic_config(conn.engine)).get_heads())
    out = []
    if current != heads:
        out.append(f"database schema {sorted(current)} is not this kura's {sorted(heads)}")
    elif compare_metadata(mc, metadata()):
        out.append("the database schema differs from the models (run `kura db check`)")
    return out


def _ledger(ctx: Context) -> list[str]:
    s = ctx.session
    ledger.sync_head(s)
    head = s.get(LedgerHead, 1)
    last = s.execute(select(LedgerEntry.seq, LedgerEntry.chain_hash).order_by(LedgerEntry.seq.desc()).limit(1)).first()
    out = []
    if head is None:
        return ["the ledger head is missing"]
    if (last.seq if last else 0) != head.size or (last and last.chain_hash != head.chain_hash):
        out.append(f"the ledger head (size {head.size}) disagrees with the last entry ({last.seq if last else 0})")
    cp = ledger.latest_checkpoint(s)
    if cp is not None and not verify_signature(ctx.signer.public_key,
                                               checkpoint_message(cp.tree_size, cp.root_hash, iso_utc(cp.at)),
                                               cp.signature):
        out.append(f"the newest checkpoint (size {cp.tree_size}) has a bad signature")
    return out


def selfcheck(ctx: Context, *, dist: md.Distribution | None = None, package_dir: Path | None = None) -> SelfcheckReport:
    """Run every check. Raises Denied without OpsSelfcheckRun; never raises for an anomaly.
    Ledger: OpsSelfcheckCompleted (outcome 8 and an alert when an anomaly was found)."""
    ctx.require(Action.OpsSelfcheckRun, TARGET)
    anomalies, notes = [], []
    if dist is None:
        import kura
        try:
            dist = md.distribution("kura")
        except md.PackageNotFoundError:
            dist = None
            anomalies.append("kura is not installed as a distribution (no RECORD to check)")
        package_dir = Path(kura.__file__).parent
    files = 0
    if dist is not None:
        files, a, n = check_distribution(dist, package_dir)
        anomalies += a
        notes += n
        if n and ctx.settings is not None and ctx.settings.env == "production":
            anomalies += n
            notes = []
    sbom, components = sbom_json()
    if ctx.settings is not None:
        anomalies += check_home(ctx.settings)
    anomalies += _schema(ctx)
    anomalies += _ledger(ctx)
    version, digest = running_build()
    report = SelfcheckReport(files, components, anomalies, notes, sbom, version, digest)
    ctx.record(LedgerTag.OpsSelfcheckCompleted, target=TARGET, outcome=0 if report.ok else 8,
               reason=report.line()[:500], alert=not report.ok,
               detail={"files": files, "components": components, "anomalies": anomalies[:20],
                       "version": version, "files_digest": digest,
                       "sbom_sha256": hashlib.sha256(sbom.encode()).hexdigest()})
    return report


