"""Composition root: build(settings) -> Kura. The only place that chooses implementations."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from kura.access.policy import Subject
from kura.access.purpose import purpose_of
from kura.blobs.crypto import new_key
from kura.blobs.pack import PackedStore
from kura.blobs.store import BlobStore
from kura.clock import Clock, SystemClock
from kura.config import CONFIG_FILE, Settings
from kura.db.engine import READ_ONLY, make_engine, make_sessionmaker
from kura.bridge import RecordsBridge
from kura.errors import Denied, Invalid
from kura.keys.ring import KeyRing
from kura.imaging import link as imaging_link
from kura.imaging.link import RecordsPort
from kura.records.link import ImagingPort
from kura.ledger import head as ledger_head
from kura.ledger.signing import Signer
from kura.operation import Context

if TYPE_CHECKING:  # imported on first use: `kura` commands that store no image need not load pydicom
    from kura.imaging.ingest import Ingest

__all__ = ["Kura", "build", "create_home", "MASTER_KEY_FILE", "SIGNING_KEY_FILE"]

MASTER_KEY_FILE = "master.key"
SIGNING_KEY_FILE = "signing.key"


@dataclasses.dataclass
class Kura:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    master_key: bytes
    signer: Signer
    clock: Clock
    records_port: RecordsPort | None = None
    imaging_port: ImagingPort | None = None
    patient_aliases: Any = None  # kura.imaging.link.aliases
    keyring: KeyRing = dataclasses.field(init=False)
    _ingest: Ingest | None = dataclasses.field(default=None, init=False, repr=False)
    _ingest_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def ingest(self) -> Ingest:
        """The image archive's group-commit writer (kura.imaging.ingest), started on first use."""
        from kura.imaging.ingest import Ingest

        with self._ingest_lock:
            if self._ingest is None:
                self._ingest = Ingest(self.unit_of_work, self.blobs, self.keyring)
            return self._ingest

    def __post_init__(self) -> None:
        # The one cache of unwrapped data keys (kura.keys): purged on shred.
        self.keyring = KeyRing(self.master_key)

    @contextlib.contextmanager
    def unit_of_work(self, actor: Subject | None, purpose: str | None = None, *, origin: str = "",
                     request_id: str | None = None, break_glass_reason: str | None = None,
                     read_only: bool = False, channel: str = "") -> Iterator[Context]:
        """One transaction: the change and its ledger entries commit together or not at all.

        When the work is refused (Denied), it is rolled back and the denial is then written
        to the ledger in a transaction of its own, so every denial leaves a trace (R13, R23);
        so are the security alerts noted with ctx.alert (an integrity failure found on read).
        Without a `purpose`, kura.access.purpose decides it from the actor and the break-glass.
        A `read_only` unit of work reads a snapshot without taking SQLite's write lock; it
        may not write (ctx.record raises RuntimeError). A `channel` (fhir, dicomweb, api) names
        the protocol a web request came by; its entries record it (detail "via").
        """
        if purpose is None:
            purpose = purpose_of(actor, break_glass=bool(break_glass_reason))
        session = self.sessions(execution_options={READ_ONLY: True}) if read_only else self.sessions()
        ctx = Context(session=session, actor=actor, purpose=purpose, clock=self.clock,
                      signer=self.signer, origin=origin, break_glass_reason=break_glass_reason,
                      checkpoint_interval=self.settings.checkpoint_interval, blobs=self.blobs,
                      master_key=self.master_key, keyring=self.keyring, settings=self.settings,
                      records_port=self.records_port, imaging_port=self.imaging_port,
                      patient_aliases=self.patient_aliases, read_only=read_only, channel=channel)
        if request_id:
            ctx.request_id = request_id
        try:
            yield ctx
            ctx.write_alerts()
            session.commit()
        except Denied:
            session.rollback()
            if ctx.denials or ctx.alerts:
                self._record_denials(ctx)
            raise
        except BaseException:
            session.rollback()
            if ctx.alerts:  # e.g. an integrity failure found on read (records.sealing)
                self._record_denials(ctx)
            raise
        finally:
            session.close()

    def _record_denials(self, failed: Context) -> None:
        """Denials and security alerts of a rolled-back unit of work, in a transaction of their own."""
        with self.sessions() as session:
            ctx = dataclasses.replace(failed, session=session, break_glass_used=False, under={},
                                      alerts=list(failed.alerts))
            ctx.record_denials()
            ctx.write_alerts()
            session.commit()

    def open_home(self, home: Path) -> Kura:
        """Another home (a restore drill's scratch home), wired like this one; dispose it after use.
        For the layers below the composition root, which may not import it."""
        from kura.config import load_settings
        return build(load_settings(home))

    def migrate(self) -> None:
        from kura.migrations import upgrade
        upgrade(self.engine, master_key=self.master_key)

    def dispose(self) -> None:
        with self._ingest_lock:
            if self._ingest is not None:
                self._ingest.stop()
                self._ingest = None
        self.engine.dispose()


def _read_secret(path: Path, env: str) -> bytes:
    if not path.exists():
        raise Invalid(f"missing key file {path}: run `kura init` first")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and env != "development":
        raise Invalid(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    return path.read_bytes()


def build(settings: Settings, *, clock: Clock | None = None, blobs: BlobStore | None = None,
          engine: Engine | None = None, migrate: bool = True) -> Kura:
    """Wire the app from settings. Migrates the database unless told not to; refuses a newer schema."""
    master = _read_secret(settings.key_dir / MASTER_KEY_FILE, settings.env)
    signing = serialization.load_pem_private_key(
        _read_secret(settings.key_dir / SIGNING_KEY_FILE, settings.env), password=None)
    if not isinstance(signing, Ed25519PrivateKey) or len(master) != 32:
        raise Invalid("the home's keys are malformed")
    engine = engine or make_engine(settings.db_url)
    bridge = RecordsBridge()
    kura = Kura(settings=settings, engine=engine, sessions=ledger_head.install(make_sessionmaker(engine)),
                blobs=blobs or PackedStore(settings.blob_dir), master_key=master,
                signer=Signer(signing), clock=clock or SystemClock(),
                # each store's view of the other (neither may import the other)
                records_port=bridge, imaging_port=bridge, patient_aliases=imaging_link.aliases)
    if migrate:
        kura.migrate()
    return kura


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def create_home(home: Path, config_text: str = "") -> None:
    """Create the home's folders, config and keys (mode 0600). Refuses an existing home."""
    if (home / CONFIG_FILE).exists():
        raise Invalid(f"{home} is already a kura home")
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)  # the database and blobs hold patient data
    (home / "keys").mkdir(mode=0o700, exist_ok=True)
    (home / "blobs").mkdir(exist_ok=True)
    _write_private(home / "keys" / MASTER_KEY_FILE, new_key())
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(home / "keys" / SIGNING_KEY_FILE, pem)
    (home / CONFIG_FILE).write_text(config_text or "[kura]\n", encoding="utf-8")
