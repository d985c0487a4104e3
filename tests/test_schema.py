"""The ledger's schema version: databases of earlier versions are migrated when opened, a database of
a later version is refused with one clear error."""

from __future__ import annotations

from typing import Any

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


def test_a_database_of_version_3_gets_turns_and_keeps_its_calls(store):
    """Version 4 keys `calls` by turn too: the table is rebuilt (SQLite) or re-keyed (PostgreSQL),
    every call of an earlier run kept as turn 0, and a tool-using run then stores each turn."""
    done = run_pdr("q?", model=ScriptedChatModel(), db=store, config=PDRConfig(schedule="2,1"))
    engine = _engine(store)
    cols = "id, thread_id, role, round, idx, stage, input_tokens, output_tokens, usage_source, latency_s"
    cols += ", finish_reason, model, error"
    with engine.begin() as conn:  # what version 3 wrote: no turn anywhere, calls keyed by role/round/idx
        conn.execute(text(f"CREATE TABLE calls_copy AS SELECT {cols} FROM calls"))
        conn.execute(text("DROP TABLE calls"))
        serial = "SERIAL" if store.startswith("postgresql") else "INTEGER"
        conn.execute(
            text(
                f"CREATE TABLE calls (id {serial} PRIMARY KEY, thread_id VARCHAR(200) NOT NULL, "
                "role VARCHAR(20) NOT NULL, round INTEGER NOT NULL, idx INTEGER NOT NULL, "
                "stage VARCHAR(60) NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, "
                "usage_source VARCHAR(20) NOT NULL, latency_s FLOAT NOT NULL, finish_reason VARCHAR(40), "
                "model VARCHAR(200), error TEXT, CONSTRAINT calls_key UNIQUE (thread_id, role, round, idx))"
            )
        )
        conn.execute(text("CREATE INDEX ix_calls_thread_id ON calls (thread_id)"))
        conn.execute(text(f"INSERT INTO calls ({cols}) SELECT {cols} FROM calls_copy"))
        conn.execute(text("DROP TABLE calls_copy"))
        if store.startswith("postgresql"):  # the copied rows' ids are taken: the sequence goes on after them
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('calls', 'id'), (SELECT MAX(id) FROM calls))")
            )
        conn.execute(text("ALTER TABLE failed_calls DROP COLUMN turn"))
        conn.execute(text("DROP TABLE turns"))
        conn.execute(text("UPDATE pdr_schema SET version = 3"))
    _forget_checks()
    again = inspect_run(done.thread_id, db=store)
    assert again.calls == done.calls and {c.turn for c in again.calls} == {0}

    def fenced(call):
        if "Output of your code" in call.prompt:
            return "So \\boxed{391}."
        return "```python\nprint(17 * 23)\n```"

    config = PDRConfig(method="single", tools=["python"], tool_format="fenced")
    tool_run = run_pdr("What is 17 * 23?", model=ScriptedChatModel(script=fenced), db=store, config=config)
    assert tool_run.answer == "391" and [c.turn for c in inspect_run(tool_run.thread_id, db=store).calls] == [
        0,
        1,
    ]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM pdr_schema")).scalar() == SCHEMA_VERSION
    engine.dispose()


def test_a_database_of_version_4_gets_judgments(store):
    """Version 5 adds `judgments`: an earlier run reads back without any, a new tournament stores its."""

    def script(call):
        if "Better:" in call.prompt:  # a comparison
            return "Better: 2"
        return f"draft {call.index} so \\boxed{{{call.index}}}"

    config = PDRConfig(schedule="2,1", distiller="tournament", k=1)
    done = run_pdr("q?", model=ScriptedChatModel(script=script), db=store, config=config)
    assert len(done.rounds[0].judgments) == 3
    engine = _engine(store)
    with engine.begin() as conn:  # what version 4 wrote
        conn.execute(text("DROP TABLE judgments"))
        conn.execute(text("UPDATE pdr_schema SET version = 4"))
    _forget_checks()
    again = inspect_run(done.thread_id, db=store)
    assert again.calls == done.calls and again.rounds[0].judgments == []
    later = run_pdr("q2?", model=ScriptedChatModel(script=script), db=store, config=config)
    assert inspect_run(later.thread_id, db=store).rounds[0].judgments == later.rounds[0].judgments
    assert [j.verdict for j in later.rounds[0].judgments] == [2, 2, 2]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM pdr_schema")).scalar() == SCHEMA_VERSION
    engine.dispose()


def test_a_database_of_version_5_gets_kept_replies(store):
    """Version 6 adds `kept_replies`: a run that fails in the middle of a tournament level keeps the
    replies that returned, in the migrated database too."""

    def script(call):
        if "Better:" in call.prompt:  # a comparison
            if call.index == 1:
                raise ValueError("400: the request is malformed")
            return "Better: 2"
        return f"draft {call.index} so \\boxed{{{call.index}}}"

    config = PDRConfig(schedule="2,1", distiller="tournament", k=1)
    run_pdr("q?", model=ScriptedChatModel(script=lambda c: "\\boxed{1}"), db=store, config=config)
    engine = _engine(store)
    with engine.begin() as conn:  # what version 5 wrote
        conn.execute(text("DROP TABLE kept_replies"))
        conn.execute(text("UPDATE pdr_schema SET version = 5"))
    _forget_checks()
    with pytest.raises(ValueError, match="malformed"):
        run_pdr("q2?", model=ScriptedChatModel(script=script), db=store, config=config)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM pdr_schema")).scalar() == SCHEMA_VERSION
        assert conn.execute(text("SELECT count(*) FROM kept_replies")).scalar() == 2  # comparisons 0 and 2
    engine.dispose()


def test_a_database_of_version_6_gets_checks(store):
    """Version 7 adds `checks`: a run stored before reads back without checks; a run made after the
    migration stores each draft's check and reads it back."""
    program = "```python\ndef add(a, b):\n    return a + b\n```"
    before = run_pdr(
        "Write add.",
        model=ScriptedChatModel(script=lambda c: program),
        db=store,
        config=PDRConfig(method="single"),
    )
    engine = _engine(store)
    with engine.begin() as conn:  # what version 6 wrote
        conn.execute(text("DROP TABLE checks"))
        conn.execute(text("UPDATE pdr_schema SET version = 6"))
    _forget_checks()
    assert inspect_run(before.thread_id, db=store).rounds[0].drafts[0].check is None
    later = run_pdr(
        "Write add.",
        model=ScriptedChatModel(script=lambda c: program),
        db=store,
        config=PDRConfig(method="single"),
        tests="assert add(2, 2) == 4",
    )
    [draft] = inspect_run(later.thread_id, db=store).rounds[0].drafts
    assert draft.check is not None and draft.check.passed and draft.check == later.rounds[0].drafts[0].check
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM pdr_schema")).scalar() == SCHEMA_VERSION
    engine.dispose()


def test_version_8_adds_the_probe_outputs_of_checks(store):
    """Version 8 adds `checks.probes`: a check stored before reads back with none; one stored after
    keeps what the passing program returned on the probe inputs."""
    program = "```python\ndef add(a, b):\n    return a + b\n```"

    def run() -> Any:
        return run_pdr(
            "Write add.",
            model=ScriptedChatModel(script=lambda c: program),
            db=store,
            config=PDRConfig(method="single"),
            tests="assert add(2, 2) == 4",
        )

    before = run()
    engine = _engine(store)
    with engine.begin() as conn:  # what version 7 wrote
        conn.execute(text("ALTER TABLE checks DROP COLUMN probes"))
        conn.execute(text("UPDATE pdr_schema SET version = 7"))
    _forget_checks()
    [old] = inspect_run(before.thread_id, db=store).rounds[0].drafts
    assert old.check is not None and old.check.passed and old.check.probes == []
    [new] = inspect_run(run().thread_id, db=store).rounds[0].drafts
    assert new.check is not None and "5" in new.check.probes and len(new.check.probes) > 3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM pdr_schema")).scalar() == SCHEMA_VERSION == 8
    engine.dispose()


def test_a_database_file_deleted_while_the_process_runs_is_created_again(tmp_path):
    db = tmp_path / "runs.sqlite"
    model, single = ScriptedChatModel(), PDRConfig(method="single")
    run_pdr("q?", model=model, db=str(db), config=single)
    for path in tmp_path.iterdir():  # the user removes the database (and its WAL) between two runs
        path.unlink()
    again = run_pdr("q?", model=model, db=str(db), config=single)
    assert [r.thread_id for r in list_runs(str(db))] == [again.thread_id]
