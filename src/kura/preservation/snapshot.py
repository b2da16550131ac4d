"""A consistent, portable snapshot of the database: every table's rows, read in one
transaction, streamed as JSON lines through zlib into a sealed file; loaded back into either
engine.

Consistency: on PostgreSQL one SERIALIZABLE READ ONLY DEFERRABLE transaction — the "safe
snapshot" `pg_dump --serializable-deferrable` uses, which never blocks writers and never
fails; on SQLite one deferred read transaction in WAL mode, which sees the database as of its
first read while writers go on (the same consistency the online backup API gives, without a
plain copy of the database on disk). Rows rather than pages, so a snapshot can leave out
what must not, or need not, be in an immutable generation, and restore into either engine:

- VAULT_TABLES: the wrapped data keys (kura.keys); they live in DEST/vault.sealed, so a
  shredded key does not come back with an old generation (the key design, THREAT_MODEL.md);
- DERIVED_TABLES: search indexes, rebuilt from the content on restore (records.store.reindex),
  so a disposed patient leaves no blind tokens in a restored home;
- TRANSIENT_TABLES: login sessions, whose tokens must not come back to life.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import sqlite3
import zlib
from typing import Any, Callable, Iterator

from sqlalchemy import Column, LargeBinary, MetaData, Table, create_engine, event, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import DateTime

from kura.errors import IntegrityFailure
from kura.preservation.sealing import Sink

__all__ = ["VAULT_TABLES", "DERIVED_TABLES", "TRANSIENT_TABLES", "dump", "load", "reader_engine",
           "snapshot_connection", "schema_revision"]

VAULT_TABLES = frozenset({"data_key"})
DERIVED_TABLES = frozenset({"search_token", "search_string", "search_date", "patient_identifier"})
TRANSIENT_TABLES = frozenset({"login_session", "alembic_version"})
LEFT_OUT = VAULT_TABLES | DERIVED_TABLES | TRANSIENT_TABLES
_BATCH = 2000


def reader_engine(url: str) -> Engine:
    """An engine for reading a snapshot: on SQLite without kura's BEGIN IMMEDIATE (a backup
    must never hold the write lock); on PostgreSQL the driver URL kura uses."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN (deferred) ourselves
        dbapi_conn.execute("PRAGMA busy_timeout=30000")

    return engine


@contextlib.contextmanager
def snapshot_connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose every read sees one instant of the database, writers unblocked."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="SERIALIZABLE", postgresql_readonly=True,
                                          postgresql_deferrable=True)
            with conn.begin():
                yield conn
            return
        conn.exec_driver_sql("BEGIN")
        try:
            conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()  # the snapshot starts here
            yield conn
        finally:
            conn.exec_driver_sql("ROLLBACK")


def schema_revision(conn: Connection) -> str:
    return ",".join(sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))))


def _encoder(col: Column[Any]) -> Callable[[Any], Any]:
    if isinstance(col.type, LargeBinary):
        return lambda v: None if v is None else base64.b64encode(v).decode()
    if isinstance(getattr(col.type, "impl", col.type), DateTime):
        def enc(v: dt.datetime | None) -> str | None:
            if v is None:
                return None
            if v.tzinfo is None:
                v = v.replace(tzinfo=dt.timezone.utc)
            return v.astimezone(dt.timezone.utc).isoformat()
        return enc
    return lambda v: v


def _decoder(col: Column[Any], dialect: str) -> Callable[[Any], Any]:
    if isinstance(col.type, LargeBinary):
        return lambda v: None if v is None else base64.b64decode(v)
    if isinstance(col.type, DateTime):
        naive = dialect == "sqlite"  # kura keeps naive UTC on SQLite (kura.db.base.UTCDateTime)

        def dec(v: str | None) -> dt.datetime | None:
            if v is None:
                return None
            t = dt.datetime.fromisoformat(v)
            return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if naive else t
        return dec
    return lambda v: v


def dump(conn: Connection, metadata: MetaData, sink: Sink, *,
         progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write every table but LEFT_OUT to `sink` (compressed JSON lines); returns rows per table."""
    z = zlib.compressobj(1)  # much of it is sealed already: level 1 loses little, gains time
    counts: dict[str, int] = {}
    done = 0
    for table in metadata.sorted_tables:
        if table.name in LEFT_OUT:
            continue
        cols = list(table.columns)
        enc = [_encoder(c) for c in cols]
        sink.write(z.compress(json.dumps({"table": table.name, "columns": [c.name for c in cols]}).encode() + b"\n"))
        n = 0
        result = conn.execution_options(yield_per=_BATCH).execute(select(*cols))
        for part in result.partitions():
            lines = [json.dumps([e(v) for e, v in zip(enc, row)], ensure_ascii=False, separators=(",", ":"))
                     for row in part]
            sink.write(z.compress(("\n".join(lines) + "\n").encode()))
            n += len(part)
            done += len(part)
            if progress:
                progress(done)
        counts[table.name] = n
    sink.write(z.compress(b'{"end": true}\n') + z.flush())
    return counts


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    z = zlib.decompressobj()
    rest = b""
    for chunk in chunks:
        rest += z.decompress(chunk)
        *lines, rest = rest.split(b"\n")
        yield from lines
    rest += z.flush()
    yield from (ln for ln in rest.split(b"\n") if ln)


def load(conn: Connection, chunks: Iterator[bytes], *,
         progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Insert a dump's rows into the (empty, migrated) database behind `conn`, using the tables
    as they are there (reflected), so a snapshot loads at the schema revision it was taken at.
    Raises IntegrityFailure when the dump is cut short or names an unknown table or column."""
    meta = MetaData()
    meta.reflect(conn)
    dialect = conn.dialect.name
    # Migrations seed rows (the ledger's genesis head, default classes): the snapshot's replace them.
    for t in reversed(meta.sorted_tables):
        if t.name != "alembic_version":
            conn.execute(t.delete())
    counts: dict[str, int] = {}
    table: Table | None = None
    names: list[str] = []
    dec: list[Callable[[Any], Any]] = []
    batch: list[dict[str, Any]] = []
    done, ended = 0, False

    def flush() -> None:
        nonlocal done
        if batch:
            assert table is not None  # rows come after their table's header line
            conn.execute(table.insert(), batch)
            done += len(batch)
            counts[table.name] = counts.get(table.name, 0) + len(batch)
            batch.clear()
            if progress:
                progress(done)

    for line in _lines(chunks):
        if not line:
            continue
        if line[:1] == b"{":
            flush()
            head = json.loads(line)
            if head.get("end"):
                ended = True
                break
            if head["table"] not in meta.tables:
                raise IntegrityFailure(f"the snapshot holds table {head['table']}, unknown to this schema")
            table = meta.tables[head["table"]]
            names = head["columns"]
            missing = [n for n in names if n not in table.c]
            if missing:
                raise IntegrityFailure(f"the snapshot's {table.name} has unknown column(s) {missing}")
            dec = [_decoder(table.c[n], dialect) for n in names]
            counts.setdefault(table.name, 0)
            continue
        row = json.loads(line)
        batch.append({n: d(v) for n, d, v in zip(names, dec, row)})
        if len(batch) >= _BATCH:
            flush()
    if not ended:
        raise IntegrityFailure("the database snapshot is cut short")
    if dialect == "postgresql":
        _advance_sequences(conn, meta)
    return counts


def _advance_sequences(conn: Connection, meta: MetaData) -> None:
    """Rows came with their ids: move each serial column's sequence past the largest."""
    for table in meta.sorted_tables:
        for col in table.primary_key.columns:
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": table.name, "c": col.name}).scalar()
            if seq:
                conn.execute(text(f'SELECT setval(:s, COALESCE((SELECT max("{col.name}") FROM "{table.name}"), 0) + 1, false)'),  # noqa: S608 — names from our own metadata
                             {"s": seq})
