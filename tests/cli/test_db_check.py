"""`kura db check` — the models and the migrations agree — on the engine the suite runs on
(SQLite, and PostgreSQL when KURA_TEST_DATABASE_URL is set: scripts/test runs both), and it
fails when they do not."""

from __future__ import annotations

from sqlalchemy import text


def test_models_match_migrations_on_this_engine(home, run_kura):
    code, out, err = run_kura("db", "check", home=home)
    assert code == 0, err
    assert "schema matches migrations" in out


def test_a_schema_the_migrations_do_not_hold_fails_the_check(home, kura, run_kura):
    with kura.engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_stray ON ledger_entry (reason)"))
    code, _, err = run_kura("db", "check", home=home)
    assert code == 1 and "models differ from migrations" in err
