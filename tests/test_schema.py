"""The ledger's schema version: databases of earlier versions are migrated when opened, a database of
a later version is refused with one clear error."""

from __future__ import annotations

import pytest
from fakes import ScriptedChatModel
from sqlalchemy import text

from langgraph_pdr import PDRConfig, SchemaError, inspect_run, list_runs, run_pdr
from langgraph_pdr.checkpoints.schema import SCHEMA_VERSION
from langgraph_pdr.cli import main


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("postgres_db")
    return str(tmp_path / "runs.sqlite")


def _engine(store):
    from sqlalchemy import create_engine

    url = store if store.startswith("postgresql") else f"sqlite:///{store}"
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _forget_checks():
    """This process checked the database once; a test that rewrites it must let it be checked again."""
    from langgraph_pdr.checkpoints import schema

    schema._READY.clear()


def test_a_database_of_the_first_version_is_migrated_on_open(store):
    done = run_pdr("q?", model=ScriptedChatModel(), db=store, config=PDRConfig(method="single"))
    engine = _engine(store)
    with engine.begin() as conn:  # what version 1 wrote: no version table, no `drafts.unfinished`
        conn.execute(text("DROP TABLE pdr_schema"))
        conn.execute(text("ALTER TABLE drafts DROP COLUMN unfinished"))
    _forget_checks()
    assert [r.thread_id for r in list_runs(store)] == [done.thread_id]  # readable again ...
    again = inspect_run(done.thread_id, db=store)
    assert again.answer == done.answer and again.rounds[0].drafts[0].unfinished is False
    with engine.connect() as conn:  # ... because it was brought to the current version
        assert conn.execute(text("SELECT version FROM pdr_schema")).scalar() == SCHEMA_VERSION
    run_pdr("q2?", model=ScriptedChatModel(), db=store, config=PDRConfig(method="single"))
    assert len(list_runs(store)) == 2
    engine.dispose()


def test_a_database_of_a_later_version_is_refused_clearly(store, capsys):
    run_pdr("q?", model=ScriptedChatModel(), db=store, config=PDRConfig(method="single"))
    engine = _engine(store)
    with engine.begin() as conn:
        conn.execute(text("UPDATE pdr_schema SET version = 99"))
    _forget_checks()
    with pytest.raises(SchemaError, match="newer langgraph-pdr .ledger schema 99"):
        list_runs(store)
    assert main(["runs", "--db", store]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "upgrade langgraph-pdr" in err[0]
    engine.dispose()
