"""The ledger's head listeners live on the application's sessionmaker (kura.ledger.head.install),
not on SQLAlchemy's global Session: an append on any other session is refused, never left
without its head."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from kura.db.engine import make_sessionmaker
from kura.ledger import head
from kura.ledger import service as ledger
from kura.ledger.tags import LedgerTag


def _append(session, kura):
    return ledger.append(session, at=kura.clock.now(), tag=LedgerTag.SystemServerStarted,
                         actor_id=None, actor_name="test")


def test_append_on_a_session_without_the_listeners_is_refused(kura):
    with kura.sessions() as s:
        before = ledger.count(s)
    for session in (Session(kura.engine), make_sessionmaker(kura.engine)()):
        with session, pytest.raises(RuntimeError, match="without the ledger's listeners"):
            _append(session, kura)
    with kura.sessions() as s:
        assert ledger.count(s) == before


def test_the_applications_sessions_append_and_write_the_head(kura):
    with kura.sessions() as s:
        before = ledger.count(s)
        seq = _append(s, kura)
        s.commit()
    with kura.sessions() as s:
        assert ledger.count(s) == before + 1 == seq
        assert ledger.verify(s, signer=kura.signer).ok


def test_install_is_idempotent(kura):
    assert head.install(kura.sessions) is kura.sessions
    with kura.sessions() as s:
        _append(s, kura)
        s.commit()  # listeners registered twice would write the head twice and fail the commit
