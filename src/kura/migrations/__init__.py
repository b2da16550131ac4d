"""Alembic migrations: kura migrates on start and refuses a schema newer than it knows."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Engine

from kura.errors import Invalid

__all__ = ["upgrade", "alembic_config", "pending_diff", "metadata"]

HERE = Path(__file__).parent


def metadata() -> MetaData:
    """Every table of every area: import each models module, then hand back the one MetaData."""
    import kura.models  # noqa: F401  (registers every table)
    from kura.db.base import Base

    return Base.metadata


def alembic_config(engine: Engine, master_key: bytes | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    # Data migrations that re-wrap or seal need the master key (0004 re-wraps the data keys).
    cfg.attributes["master_key"] = master_key
    return cfg


def upgrade(engine: Engine, *, master_key: bytes | None = None) -> None:
    cfg = alembic_config(engine, master_key)
    script = ScriptDirectory.from_config(cfg)
    known = {rev.revision for rev in script.walk_revisions()}
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    unknown = current - known
    if unknown:
        raise Invalid(f"database schema {', '.join(sorted(unknown))} is newer than this kura; upgrade kura")
    if current != set(script.get_heads()):
        command.upgrade(cfg, "heads")
        if cfg.attributes.get("vacuum"):
            _vacuum(engine)


def _vacuum(engine: Engine) -> None:
    """After a migration that replaced plaintext (0006 seals the records): rewrite the
    database so the old rows' bytes do not linger in free pages (SQLite: VACUUM, then
    truncate the WAL; PostgreSQL: VACUUM FULL of the rewritten tables). Outside a transaction,
    as both require. The filesystem or SSD may still keep old blocks (THREAT_MODEL.md)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # the engine's own BEGIN hook would wrap VACUUM in a transaction
        try:
            raw.driver_connection.execute("VACUUM")
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    elif engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("record_version", "search_string", "search_token"):
                conn.exec_driver_sql(f"VACUUM FULL {table}")


def pending_diff(engine: Engine) -> list:
    """What autogenerate would add: empty when models and migrations agree (`kura db check`)."""
    from alembic.autogenerate import compare_metadata

    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata())
