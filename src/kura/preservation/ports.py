"""What preservation uses of the running application (kura.app.Kura, which it may not import:
it sits above this layer), and the shape of a progress callback."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from kura.access.policy import Subject
from kura.blobs.store import BlobStore
from kura.clock import Clock
from kura.config import Settings
from kura.keys.ring import KeyRing
from kura.ledger.signing import Signer
from kura.operation import Context

__all__ = ["App", "Progress"]

# (stage, done, total or None when unknown): a CLI progress bar, or a server job's state
Progress = Callable[[str, int, int | None], None]


class App(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def master_key(self) -> bytes: ...
    @property
    def signer(self) -> Signer: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def keyring(self) -> KeyRing: ...

    def unit_of_work(self, actor: Subject | None, purpose: str | None = None) -> AbstractContextManager[Context]: ...
    def open_home(self, home: Path) -> App: ...
    def dispose(self) -> None: ...
