"""Bad input, over the API and the `pdr` command: one clear error each, and existing runs untouched."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess

import pytest
from fakes import ScriptedChatModel
from test_cli import PDR, assert_one_line_error, pdr

from langgraph_pdr import (
    PDRConfig,
    RunNotFoundError,
    inspect_run,
    list_runs,
    resume_pdr,
    run_pdr,
)
from langgraph_pdr.checkpoints.ledger import DatabaseBusyError
from langgraph_pdr.models import ModelError, ServerUnreachable
from langgraph_pdr.state.config import error_line

LONG = "Compute the following sum. " + "1 + " * 60_000 + "1"
DEAD = "http://127.0.0.1:9/v1"  # nothing listens on the discard port


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A database file holding one finished run, which no bad call may change."""
    for key in ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    db = str(tmp_path / "runs.sqlite")
    run_pdr(
        "What is 6 * 7?",
        model=ScriptedChatModel(),
        db=db,
        thread_id="kept",
        config=PDRConfig(schedule="2,1", distiller="random_k", k=1),
    )
    return db


def snapshot(db):
    return [r.model_dump() for r in list_runs(db)], inspect_run("kept", db).model_dump()


INVALID_CONFIGS = [
    ({"method": "magic"}, "method: unknown method 'magic'"),
    ({"method": "sr", "schedule": "1,2"}, "exactly 1 draft"),
    ({"schedule": []}, "at least one round"),
    ({"schedule": "4,x,1"}, "not a list of draft counts"),
    ({"schedule": [4, 0, 1]}, "at least one draft"),
    ({"method": "sr", "schedule": "2,1"}, "one draft per round"),
    ({"method": "single", "schedule": "2"}, "exactly 1 draft"),
    ({"method": "best_of_n", "schedule": "4,1"}, "one round of N"),
    ({"distiller": "magic"}, "distiller: unknown distiller 'magic'"),
    ({"k": 0}, "k: must be at least 1"),
    ({"k": 9, "distiller": "random_k"}, "k: distiller 'random_k' selects k=9"),
    ({"kappa": 0}, "kappa: must be at least 1"),
    ({"kappa": 8}, "kappa: a workspace of 8 tokens"),
    ({"max_tokens": 0}, "^max_tokens: must be at least 1, got 0$"),  # as given, not max_tokens.draft
    ({"max_tokens": {"distill": 4096}}, "max_tokens.distill: 4096 exceeds kappa"),
    ({"max_tokens": {"colour": 1}}, "Extra inputs are not permitted"),
    ({"temperature": -1}, "^temperature: must be between 0 and 2, got -1$"),
    ({"temperature": {"draft": 3}}, "less than or equal to 2"),
    ({"seed": "abc"}, "valid integer"),
    ({"max_b_total": 0}, "max_b_total: must be a positive integer"),
    ({"max_b_seq": -5}, "max_b_seq: must be a positive integer"),
    ({"max_concurrency": 0}, "max_concurrency: must be a positive integer"),
    ({"colour": "blue"}, "Extra inputs are not permitted"),
]


def test_the_chat_model_names_the_field_at_fault():
    from langgraph_pdr import PDRChatModel

    for fields, message in [
        ({"config": {"max_tokens": -5}}, "config.max_tokens: must be at least 1, got -5"),
        ({"config": {"kappa": 0}}, "config.kappa: must be at least 1, got 0"),
        (
            {"max_tokens": 512},
            "max_tokens: PDRChatModel takes it in its config: PDRChatModel(config={'max_tokens': ...})",
        ),
        ({"temperature": 0}, "temperature: PDRChatModel takes it in its config"),
        ({"confg": {"kappa": 512}}, "confg: Extra inputs are not permitted"),  # no setting silently lost
    ]:
        with pytest.raises(ValueError) as raised:
            PDRChatModel(model=ScriptedChatModel(), **fields)
        assert error_line(raised.value).startswith(message), error_line(raised.value)


@pytest.mark.parametrize("fields, needle", INVALID_CONFIGS, ids=[str(f)[:40] for f, _ in INVALID_CONFIGS])
def test_every_invalid_config_field_over_the_api(fields, needle, store):
    before = snapshot(store)
    fake = ScriptedChatModel()
    with pytest.raises(ValueError) as raised:
        run_pdr("q?", model=fake, config=fields, db=store)
    assert re.search(needle.replace("(", r"\(").replace("[", r"\["), error_line(raised.value))
    assert fake.log == [] and snapshot(store) == before


API_ERRORS = [
    (
        "empty question",
        lambda db: run_pdr("", model=ScriptedChatModel(), db=db),
        ValueError,
        "question: must be a non-empty string",
    ),
    (
        "blank question",
        lambda db: run_pdr(" \n\t ", model=ScriptedChatModel(), db=db),
        ValueError,
        "question: must be a non-empty string",
    ),
    (
        "question longer than the context",
        lambda db: run_pdr(LONG, model="local:qwen2.5-coder-0.5b", db=db),
        ValueError,
        "more than the 32,768 of qwen2.5-coder-0.5b's context",
    ),
    (
        "unknown provider",
        lambda db: run_pdr("q?", model="nosuchprovider:thing", db=db),
        ModelError,
        "model: cannot build",
    ),
    (
        "missing API key",
        lambda db: run_pdr("q?", model="openai:gpt-4.1-mini", db=db),
        ModelError,
        "OPENAI_API_KEY",
    ),
    (
        "unreachable base URL",
        lambda db: run_pdr("q?", model="m", base_url=DEAD, db=db),
        ServerUnreachable,
        "cannot reach the model server",
    ),
    ("unknown thread", lambda db: resume_pdr("nope", db=db), RunNotFoundError, "no run 'nope'"),
    (
        "thread id of another run",
        lambda db: run_pdr("other?", model=ScriptedChatModel(), db=db, thread_id="kept"),
        ValueError,
        "already exists",
    ),
    (
        "oracle without gold",
        lambda db: run_pdr("q?", model=ScriptedChatModel(), db=db, config={"distiller": "oracle_correct"}),
        ValueError,
        "gold",
    ),
    (
        "model of the wrong type",
        lambda db: run_pdr("q?", model=42, db=db),
        ModelError,
        "expected a model string",
    ),
]


@pytest.mark.parametrize("name, call, error, needle", API_ERRORS, ids=[e[0] for e in API_ERRORS])
def test_bad_input_over_the_api(name, call, error, needle, store):
    before = snapshot(store)
    with pytest.raises(error, match=needle):
        call(store)
    assert snapshot(store) == before


def test_resuming_a_finished_run_returns_it_untouched(store):
    before = snapshot(store)
    assert resume_pdr("kept", db=store, model=ScriptedChatModel()).answer == inspect_run("kept", store).answer
    assert snapshot(store) == before


def test_a_database_locked_by_another_writer(store, monkeypatch):
    monkeypatch.setenv("PDR_DB_TIMEOUT", "0.5")
    before = snapshot(store)
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process mid-write
    fake = ScriptedChatModel()
    try:
        with pytest.raises(DatabaseBusyError, match="locked by another writer"):
            run_pdr("q?", model=fake, db=store)
        proc = pdr(
            "run",
            "q?",
            "--model",
            "m",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--db",
            store,
            env={"PDR_DB_TIMEOUT": "0.5"},
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert fake.log == []  # refused before any model call
    assert_one_line_error(proc, 1, "cannot reach")  # the server is checked before the database
    assert snapshot(store) == before


def test_a_read_only_database_directory_fails_before_any_model_call(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    fake = ScriptedChatModel()
    try:
        if os.geteuid() == 0:
            pytest.skip("root ignores directory permissions")
        with pytest.raises(ValueError, match="not writable"):
            run_pdr("q?", model=fake, db=ro / "runs.sqlite")
    finally:
        ro.chmod(0o700)
    assert fake.log == []


def test_reading_a_database_that_does_not_exist_creates_none(tmp_path):
    typo = tmp_path / "rusn.sqlite"
    assert list_runs(typo) == []
    with pytest.raises(RunNotFoundError, match="there is no database at .*rusn.sqlite"):
        inspect_run("kept", typo)
    with pytest.raises(RunNotFoundError, match="there is no database"):
        resume_pdr("kept", db=typo, model=ScriptedChatModel())
    for args, code, needle in [
        (["inspect", "kept"], 2, "there is no database"),
        (["resume", "kept"], 2, "there is no database"),
        (["eval", "--report", str(tmp_path / "rep")], 2, "there is no database"),
        (["eval", "--dataset", "nope"], 2, "unknown dataset 'nope'"),
    ]:
        assert_one_line_error(pdr(*args, "--db", str(typo)), code, needle)
    with pytest.raises(ValueError, match="db: empty"):
        list_runs(" ")
    assert_one_line_error(pdr("runs", "--db", ""), 2, "db: empty")
    assert_one_line_error(pdr("runs", "--db", str(tmp_path)), 2, "is a directory")
    listed = pdr("runs", "--json", "--db", str(typo))  # a mistyped path is named, as inspect names it
    assert_one_line_error(listed, 2, f"there is no database at {typo}")
    assert list(tmp_path.iterdir()) == []  # no database file, no report directory


CLI_ERRORS = [
    (["run", ""], 2, "question: must be a non-empty string"),
    (["run", " \t "], 2, "question: must be a non-empty string"),
    (
        ["run", "q", "--temperature", "5"],
        2,
        "argument --temperature: expected a number between 0 and 2, got 5",
    ),
    (["run", "q", "--max-tokens", "0"], 2, "positive integer"),
    (["run", "q", "--seed", "x"], 2, "invalid int value"),
    (["run", "q", "--max-b-seq", "0"], 2, "positive integer"),
    (["run", "q", "--timeout", "-1"], 2, "positive number of seconds"),
    (["run", "q", "--method", "sr", "--schedule", "2,1"], 2, "one draft per round"),
    (["resume", "kept"], 2, "already finished (completed); nothing to resume"),
    (["resume", "nope"], 2, "no run 'nope'"),
    (["eval", "--dataset", "gsm8k", "--methods", "pdr:4-2-1:magic"], 2, "unknown distiller 'magic'"),
]


def test_a_question_longer_than_the_context_from_stdin(store, tmp_path):
    """Checked before the model is assembled: on a new machine (an empty cache) the error is the one
    line, with no assembly progress before it, and nothing is assembled."""
    before = snapshot(store)
    cache = tmp_path / "empty-cache"
    proc = subprocess.run(
        [*PDR, "run", "-", "--local-model", "qwen2.5-coder-0.5b", "--db", store],
        input=LONG,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PDR_CACHE_DIR": str(cache)},
    )
    assert_one_line_error(proc, 2, "qwen2.5-coder-0.5b's context")
    assert snapshot(store) == before
    assert not list(cache.glob("models/*"))


@pytest.mark.parametrize("args, code, needle", CLI_ERRORS, ids=[" ".join(a)[:40] for a, _, _ in CLI_ERRORS])
def test_bad_input_over_the_cli(args, code, needle, store):
    before = snapshot(store)
    proc = pdr(*args, "--db", store, env={"OPENAI_API_KEY": "", "GOOGLE_API_KEY": "", "GEMINI_API_KEY": ""})
    assert_one_line_error(proc, code, needle)
    assert snapshot(store) == before


@pytest.fixture
def mount(tmp_path):
    """Mount a small tmpfs (root only; skipped elsewhere); yields a function taking mount options."""
    points = []

    def do(name: str, options: str):
        point = tmp_path / name
        point.mkdir()
        if (
            os.geteuid() != 0
            or subprocess.run(
                ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True
            ).returncode
            != 0
        ):
            pytest.skip("needs root to mount a tmpfs")
        points.append(point)
        return point

    yield do
    for point in points:
        subprocess.run(["umount", str(point)], capture_output=True)


def test_a_full_disk_fails_before_any_model_call(mount):
    disk = mount("full", "size=256k")
    (disk / "filler").write_bytes(b"\0" * (256 * 1024 - 4096))
    fake = ScriptedChatModel()
    with pytest.raises(ValueError, match="is full"):
        run_pdr("q?", model=fake, db=disk / "runs.sqlite")
    assert fake.log == []
    proc = pdr("run", "q?", "--model", "m", "--base-url", DEAD, "--db", str(disk / "r.sqlite"))
    assert_one_line_error(proc, 1, "cannot reach")  # an unreachable server is named first
    proc = pdr(
        "runs", "--json", "--db", str(disk / "r.sqlite")
    )  # reading writes nothing: the file is missing
    assert_one_line_error(proc, 2, "there is no database at")


def test_a_read_only_file_system_fails_before_any_model_call(mount):
    disk = mount("ro", "ro,size=64k")
    fake = ScriptedChatModel()
    with pytest.raises(ValueError, match="read-only file system"):
        run_pdr("q?", model=fake, db=disk / "runs.sqlite")
    assert fake.log == []
    proc = pdr(
        "runs", "--json", "--db", str(disk / "runs.sqlite")
    )  # reading writes nothing: the file is missing
    assert_one_line_error(proc, 2, "there is no database at")
