"""What first contact showed, refused before anything is sent: a `--db` that names no database or an
unsupported one, a budget cap round 1 cannot fit, `max_tokens` or `kappa` beyond the model's context,
and a provider's refusal that resuming cannot mend. Each is one error line, a non-zero exit (or a
clear exception), and no request to the provider."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAIServer
from test_cli import assert_one_line_error, pdr


def assert_last_line_error(proc, code: int, *needles: str) -> None:
    """A run's one error line, below its progress lines."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("pdr: error: ")]
    assert len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0]), proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.mark.parametrize("command", [["runs"], ["inspect", "t1"], ["view", "t1"], ["resume", "t1"]])
def test_a_read_only_command_on_a_missing_db_names_the_file(tmp_path, command):
    typo = tmp_path / "typo.sqlite"
    proc = pdr(*command, "--db", str(typo))
    assert_one_line_error(proc, 2, str(typo))
    assert not typo.exists()


def test_runs_on_a_missing_db_named_by_pdr_db_is_an_error(tmp_path):
    typo = tmp_path / "typo.sqlite"
    assert_one_line_error(pdr("runs", env={"PDR_DB": str(typo)}), 2, f"no database at {typo}")


@pytest.mark.parametrize("command", [["runs"], ["inspect", "t1"], ["resume", "t1"], ["run", "q?"]])
def test_an_unsupported_db_scheme_says_which_are_supported(command):
    with FakeOpenAIServer() as server:
        args = [*command, "--db", "mysql://me@db.example/runs"]
        if command[0] == "run":
            args += ["--model", "fake-model", "--base-url", server.base_url]
        proc = pdr(*args)
        asked = len(server.requests)
    assert_one_line_error(proc, 2, "db: mysql:// is not supported", "SQLite file path", "postgresql://")
    assert asked == 0


def test_an_unsupported_db_scheme_is_a_clear_exception_in_the_api():
    from fakes import ScriptedChatModel

    from langgraph_pdr import list_runs, run_pdr

    model = ScriptedChatModel()
    with pytest.raises(ValueError, match="db: mysql:// is not supported"):
        run_pdr("q?", model=model, db="mysql://me@db.example/runs")
    with pytest.raises(ValueError, match="db: redis:// is not supported"):
        list_runs("redis://localhost/0")
    assert model.log == []


@pytest.mark.parametrize("status", ["400", "401", "403", "404", "422"])
def test_a_refused_request_is_not_sent_to_pdr_resume(tmp_path, status):
    db = str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer(fault=lambda req: status) as server:
        proc = pdr("run", "q?", "--model", "fake-model", "--base-url", server.base_url, "--db", db)
        asked = len(server.requests)
    refused = f"refused the request (HTTP {status})"
    assert_last_line_error(proc, 1, f"injected {status}", refused, "fail again")
    assert "continue with" not in proc.stderr
    assert asked == 4  # each of round 1's drafts once: a refusal is not retried


def test_a_transient_fault_still_points_to_pdr_resume(tmp_path):
    db = str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer(fault=lambda req: "503") as server:
        args = ["run", "q?", "--model", "fake-model", "--base-url", server.base_url, "--db", db]
        proc = pdr(*args, "--method", "single", "--thread-id", "t1")
    assert_last_line_error(proc, 1, "continue with: pdr resume t1")
    assert "refused" not in proc.stderr


def test_a_refused_summary_is_not_sent_to_pdr_resume(tmp_path):
    db = str(tmp_path / "runs.sqlite")
    refuse = lambda req: "422" if req.role == "distill" else None  # noqa: E731
    with FakeOpenAIServer(fault=refuse) as server:
        args = ["run", "q?", "--model", "fake-model", "--base-url", server.base_url, "--db", db]
        proc = pdr(*args, "--schedule", "2,1", "--distiller", "global_summary")
        summaries = len([r for r in server.requests if r.role == "distill"])
    assert_last_line_error(proc, 1, "injected 422", "refused the request (HTTP 422)")
    assert "continue with" not in proc.stderr and summaries == 1
