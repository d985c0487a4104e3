"""What a new user meets first: the printed answer and text, `pdr runs`, a final draft cut off, a
mistyped `--db`, help texts, stream ids, the evaluation's plot, Ctrl-C's last line."""

from __future__ import annotations

import json
import os
import re

import pytest
from fake_openai import FakeOpenAIServer
from serve_process import pdr_serve
from test_cli import PDR, assert_one_line_error, pdr

LONG_LINE = "Therefore " + " ".join(f"x{i} + y{i} = z{i}," for i in range(30)) + " so the sum is 42."


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    return {**os.environ, "COLUMNS": "80"}


def test_the_final_text_is_printed_whole_at_80_columns(narrow, tmp_path):
    assert len(LONG_LINE) >= 300
    text = f"First line.\n{LONG_LINE}\n{LONG_LINE.upper()} \\boxed{{42}}"
    with FakeOpenAIServer(reply=lambda req: text) as server:
        run = pdr(
            "run",
            "What is 6 * 7?",
            "--model",
            "fake-model",
            "--base-url",
            server.base_url,
            "--method",
            "single",
            "--db",
            str(tmp_path / "runs.sqlite"),
            env=narrow,
        )
    assert run.returncode == 0, run.stderr
    assert text in run.stdout  # every line whole: not wrapped, not cut at the terminal's width
    assert "Answer: 42" in run.stdout


def test_runs_never_cuts_a_thread_id(tmp_path):
    from fakes import ScriptedChatModel

    from langgraph_pdr import PDRConfig, run_pdr

    db = str(tmp_path / "runs.sqlite")
    long_id = "eval:gsm8k:gsm8k-test-0001:0123456789abcdef"
    question = "A farmer has " + " ".join(f"{n} hens" for n in range(60)) + ". How many?"
    reply = lambda call: "The answer is " + "long " * 80  # noqa: E731 - a long answer with no box
    run_pdr(
        question,
        model=ScriptedChatModel(script=reply),
        db=db,
        thread_id=long_id,
        config=PDRConfig(method="single"),
    )
    short = run_pdr("q?", model=ScriptedChatModel(), db=db, config=PDRConfig(method="single"))
    for columns in ("80", "120", "200"):
        out = pdr("runs", "--db", db, env={"COLUMNS": columns}).stdout
        assert long_id in out and short.thread_id in out, (columns, out)
        assert max(len(line) for line in out.splitlines()) <= int(columns)
        assert "long long long long long long long long long long long long long long" not in out
        assert "…" in out  # the long answer and question are shortened, visibly
        hens = [line for line in out.splitlines() if "hens" in line]
        assert len(hens) == 1  # the question is not wrapped a word per line


def test_a_final_draft_cut_at_max_tokens_is_reported_as_unfinished(tmp_path):
    essay = "Let us think about multiplication in general. " * 40

    def reply(req):
        return essay if req.draft and req.draft[0] == 2 else "19 * 21 = 399, so \\boxed{399}"

    db = str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer(reply=reply) as server:
        args = ["run", "What is 19 * 21?", "--model", "fake-model", "--base-url", server.base_url]
        args += ["--schedule", "2,1", "--max-tokens", "64", "--db", db]
        run = pdr(*args)
        as_json = pdr(*args, "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(as_json.stdout)
    assert (out["stop_reason"], out["status"], out["answer"]) == ("unfinished", "completed", "399")
    assert out["text"] == "19 * 21 = 399, so \\boxed{399}"  # a finished draft's text, not the cut essay
    final = out["rounds"][1]["drafts"][0]
    assert final["unfinished"] and final["answer"] is None and final["call"]["finish_reason"] == "length"
    assert "Answer: 399" in run.stdout and "stop: unfinished" in run.stdout
    notes = [line for line in run.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "cut off at max_tokens" in notes[0]
    assert "Let us think about multiplication" not in run.stdout
    header = pdr("inspect", out["thread_id"], "--db", db).stdout.splitlines()[:3]
    assert header[1].startswith("status completed  stop unfinished  answer 399")


def test_a_multi_line_answer_stays_out_of_the_inspect_header(tmp_path):
    from fakes import ScriptedChatModel

    from langgraph_pdr import PDRConfig, run_pdr

    db = str(tmp_path / "runs.sqlite")
    code = "def f(x):\n    return x * 2\n\nprint(f(21))"
    done = run_pdr(
        "Write f.", model=ScriptedChatModel(script=lambda c: code), db=db, config=PDRConfig(method="single")
    )
    lines = pdr("inspect", done.thread_id, "--db", db).stdout.splitlines()
    assert (
        lines[1].startswith("status completed") and "answer def f(x): return x * 2 print(f(21))" in lines[1]
    )
    assert lines[2].startswith("question: Write f.")
    run = pdr("runs", "--db", db).stdout
    assert "return x * 2" in run and "\n    return" not in run


def test_a_mistyped_db_directory_is_one_error_before_anything_runs(tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "x.sqlite"
    with FakeOpenAIServer() as server:
        proc = pdr("run", "q?", "--model", "fake-model", "--base-url", server.base_url, "--db", str(target))
        asked = len(server.requests)
    assert_one_line_error(proc, 2, "db: the directory", "does not exist")
    assert asked == 0 and not (tmp_path / "nonexistent").exists()
    default = tmp_path / "data"
    proc = pdr("runs", env={"PDR_DB": "", "XDG_DATA_HOME": str(default)})
    assert proc.returncode == 0  # the default location is still created when it is used
    run = pdr(
        "run",
        "q?",
        "--model",
        "fake-model",
        "--base-url",
        "http://127.0.0.1:9/v1",
        env={"PDR_DB": "", "XDG_DATA_HOME": str(default)},
    )
    assert "db:" not in run.stderr


@pytest.mark.parametrize(
    "command, flag",
    [
        ("run", "--seed"),
        ("run", "--thread-id"),
        ("graph", "--method"),
        ("runs", "--limit"),
        ("serve-model", "--host"),
        ("serve-model", "--port"),
    ],
)
def test_every_option_has_help(command, flag):
    text = pdr(command, "--help").stdout
    line = next(line for line in text.splitlines() if line.strip().startswith(flag))
    following = text.split(line, 1)[1].splitlines()[0] if line.strip() == flag.split()[0] else ""
    assert len(line.split(maxsplit=2)) >= 2 or following.strip(), text


def test_streamed_chunk_ids_are_the_runs_thread_id(tmp_path):
    from openai import OpenAI

    env = {"PDR_DB": str(tmp_path / "serve.sqlite")}
    with FakeOpenAIServer() as upstream, pdr_serve(upstream.base_url, env=env) as url:
        client = OpenAI(base_url=url, api_key="unused")
        chunks = list(
            client.chat.completions.create(
                model="single", messages=[{"role": "user", "content": "What is 6 * 7?"}], stream=True
            )
        )
    ids = {c.id for c in chunks}
    thread = next(c.model_extra["pdr"]["thread_id"] for c in chunks if (c.model_extra or {}).get("pdr"))
    assert ids == {f"chatcmpl-{thread}"}


def test_the_eval_plot_says_what_it_draws(tmp_path):
    from matplotlib import colors

    from langgraph_pdr.evals.plot import method_styles, plot
    from langgraph_pdr.evals.report import MethodStats, report_title

    assert report_title("gsm8k", ["gsm8k"]) == "gsm8k"
    assert report_title("main", ["gsm8k", "math500"], paired=True) == "main (gsm8k, math500, paired)"
    styles = method_styles([f"m{n}" for n in range(20)])
    assert len({colors.to_hex(s["color"]) for s in styles.values()}) == 20  # no colour repeats
    assert styles["m0"]["zorder"] > styles["m1"]["zorder"]  # the first listed is drawn on top

    captured = {}
    import matplotlib.figure

    original = matplotlib.figure.Figure.legend

    def legend(self, handles, labels, **kwargs):
        captured["labels"] = list(labels)
        return original(self, handles, labels, **kwargs)

    one = MethodStats(
        dataset="gsm8k",
        method="single",
        n=3,
        correct=2,
        accuracy=2 / 3,
        ci_low=0.2,
        ci_high=0.9,
        mean_b_seq=400,
        median_b_seq=400,
        mean_b_total=400,
        mean_wall_s=None,
        failures=0,
        pending=0,
    )
    matplotlib.figure.Figure.legend = legend
    try:
        plot([one], tmp_path / "one.png", title="gsm8k")
    finally:
        matplotlib.figure.Figure.legend = original
    assert captured["labels"] == ["single"]  # a frontier of one point is not drawn, nor listed


def test_ctrl_c_prints_the_resume_line_below_the_last_progress_line(tmp_path):
    """In a terminal (a pseudo-terminal here) the live progress line is taken down first, so the resume
    command is the last thing written."""
    import pty
    import signal
    import time

    db = str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer(delay=lambda r: 60.0) as server:
        pid, fd = pty.fork()
        if pid == 0:  # the child: pdr in a terminal
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execv(
                PDR[0],
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
                    "tty",
                    "--db",
                    db,
                ],
            )
        server.wait_for(lambda: len(server.requests) == 2)
        os.kill(pid, signal.SIGINT)
        output = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        _, status = os.waitpid(pid, 0)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace"))
    assert os.waitstatus_to_exitcode(status) == 130
    hint = text.rindex("pdr resume tty")
    assert "round 1/2" in text[:hint] and "round 1/2" not in text[hint:]
