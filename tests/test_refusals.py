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


@pytest.mark.parametrize("cap", ["--max-b-total", "--max-b-seq"])
def test_a_cap_round_1_cannot_fit_is_refused_before_anything_is_sent(tmp_path, cap):
    db = str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer() as server:
        args = ["run", "q?", "--model", "fake-model", "--base-url", server.base_url, "--db", db]
        proc = pdr(*args, cap, "100")
        asked = len(server.requests)
    name = cap.removeprefix("--").replace("-", "_")
    assert_last_line_error(proc, 2, f"{name}: 100 cannot hold round 1, which reserves up to", "at least")
    assert asked == 0 and "Answer" not in proc.stdout


@pytest.mark.parametrize(
    "options, named",
    [
        (["--max-tokens", "9999999999"], "max_tokens: 9,999,999,999 is larger than the 32,768-token context"),
        (["--kappa", "40000", "--schedule", "2,1"], "kappa: 40,000 is larger than the 32,768-token context"),
        (["--max-tokens", "20000", "--schedule", "2,1"], "max_tokens.refine: 40,000 is larger"),
        (["--max-tokens", "32000", "--method", "single"], "one call needs up to"),
    ],
)
def test_options_beyond_the_servers_context_are_refused_before_anything_is_sent(tmp_path, options, named):
    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer(context=32768) as server:
        args = ["run", "q?", "--model", "fake-model", "--base-url", server.base_url, "--db", str(db)]
        proc = pdr(*args, *options)
        asked = len(server.requests)
    assert_one_line_error(proc, 2, named, "meta.n_ctx_train in the server's /v1/models")
    assert asked == 0
    assert pdr("runs", "--db", str(db), "--json").stdout.count("thread_id") == 0  # no run stored


def test_a_server_that_reports_no_context_is_not_checked(tmp_path):
    with FakeOpenAIServer() as server:
        args = ["run", "q?", "--model", "fake-model", "--base-url", server.base_url, "--method", "single"]
        proc = pdr(*args, "--max-tokens", "9999999", "--db", str(tmp_path / "runs.sqlite"))
    assert proc.returncode == 0, proc.stderr  # unknown context: nothing to check against


def test_per_role_max_tokens_beyond_the_context_are_a_clear_exception(tmp_path):
    from langgraph_pdr import MaxTokens, PDRConfig, run_pdr
    from langgraph_pdr.models import ContextExceeded

    with FakeOpenAIServer(context=8192) as server:
        config = PDRConfig(
            schedule="2,1", distiller="shared_top_k", max_tokens=MaxTokens(draft=256, verify=9000)
        )
        with pytest.raises(ContextExceeded, match="max_tokens.verify: 9,000 is larger than the 8,192-token"):
            run_pdr(
                "q?",
                model="fake-model",
                base_url=server.base_url,
                config=config,
                db=str(tmp_path / "r.sqlite"),
            )
        assert server.requests == []


def test_the_local_model_and_a_model_profile_bound_the_options(tmp_path):
    from fakes import ScriptedChatModel
    from langchain_openai import ChatOpenAI

    from langgraph_pdr import PDRConfig, run_pdr
    from langgraph_pdr.models import ContextExceeded, ContextWindow, OpenModel
    from langgraph_pdr.state.spec import ModelSpec

    local = ScriptedChatModel()
    window = ContextWindow(32768, "the local model's trained context")
    served = OpenModel(
        local, ModelSpec(id="local:qwen2.5-coder-0.5b", local_model="qwen2.5-coder-0.5b"), context=window
    )
    with pytest.raises(
        ContextExceeded, match="max_tokens: 100,000 is larger than the 32,768-token context of local"
    ):
        run_pdr("q?", model=served, config=PDRConfig(method="single", max_tokens=100_000), db=":memory:")
    assert local.log == []
    with FakeOpenAIServer() as server:
        profiled = ChatOpenAI(model="gpt-4.1-mini", base_url=server.base_url, api_key="unused")
        with pytest.raises(ContextExceeded, match="more than openai:gpt-4.1-mini writes in one call"):
            run_pdr(
                "q?", model=profiled, config=PDRConfig(method="single", max_tokens=100_000), db=":memory:"
            )
        assert server.requests == []


def test_pdr_serve_refuses_options_beyond_the_context_with_http_400(tmp_path):
    from openai import BadRequestError, OpenAI
    from serve_process import pdr_serve

    env = {"PDR_DB": str(tmp_path / "serve.sqlite")}
    with FakeOpenAIServer(context=32768) as upstream, pdr_serve(upstream.base_url, env=env) as url:
        client = OpenAI(base_url=url, api_key="sk-test", max_retries=0)
        messages = [{"role": "user", "content": "What is 6 * 7?"}]
        with pytest.raises(BadRequestError, match="max_tokens: 9,999,999 is larger than the 32,768-token"):
            client.chat.completions.create(model="single", messages=messages, max_tokens=9_999_999)
        with pytest.raises(BadRequestError, match="kappa: 99,999 is larger"):
            client.chat.completions.create(
                model="pdr", messages=messages, extra_body={"pdr": {"kappa": 99_999, "schedule": "2,1"}}
            )
        with pytest.raises(BadRequestError, match="max_b_total: 10 cannot hold round 1"):
            client.chat.completions.create(
                model="pdr", messages=messages, extra_body={"pdr": {"max_b_total": 10}}
            )
        assert upstream.requests == []


async def test_mcp_solve_refuses_options_beyond_the_context_and_a_cap_round_1_cannot_fit(tmp_path):
    pytest.importorskip("mcp")
    from test_mcp_server import pdr_mcp, text_of

    with FakeOpenAIServer(context=32768) as upstream:
        async with pdr_mcp(upstream.base_url, tmp_path / "runs.sqlite", tmp_path / "mcp.log") as session:
            wide = await session.call_tool("solve", {"question": "What is 6 * 7?", "max_tokens": 9_999_999})
            kappa = await session.call_tool("solve", {"question": "What is 6 * 7?", "kappa": 50_000})
    for result, line in [(wide, "max_tokens: 9,999,999 is larger"), (kappa, "kappa: 50,000 is larger")]:
        assert result.isError and text_of(result).startswith(line), text_of(result)
        assert "resume_run" not in text_of(result)
    assert upstream.requests == []
