"""Drafts stream as they are written, where someone watches: `run_pdr(on_event=...)` gets their tokens
as `draft_delta` events, `pdr run` shows each live draft's tokens and latest line, and `pdr serve`
streams them in `reasoning_content`, tagged by draft, before the draft is done."""

from __future__ import annotations

import threading

from fake_openai import FakeOpenAIServer
from serve_process import pdr_serve

from langgraph_pdr import PDRConfig, run_pdr

SMALL = PDRConfig(schedule="2,1", distiller="random_k", k=1, max_tokens=64)


def held_until(release: threading.Event, words: int = 3):
    """A `between` hook: a draft's stream pauses after `words` words until `release` is set."""
    counts: dict[int, int] = {}
    lock = threading.Lock()

    def between(req):
        with lock:
            counts[id(req)] = counts.get(id(req), 0) + 1
            n = counts[id(req)]
        if req.role == "draft" and n == words + 1:
            assert release.wait(60), "the stream was never seen"

    return between


def test_run_pdr_gets_each_drafts_tokens_before_the_draft_is_done(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    release, events = threading.Event(), []

    def on_event(event):
        events.append(event)
        if event["event"] == "draft_delta" and event["written"] >= 3:
            release.set()  # three words of a draft arrived while its call is held open

    with FakeOpenAIServer(between=held_until(release)) as server:
        result = run_pdr(
            "What is 6 * 7?",
            model="fake-model",
            base_url=server.base_url,
            config=SMALL,
            db=tmp_path / "runs.sqlite",
            on_event=on_event,
        )
    assert result.answer == "42"
    kinds = [e["event"] for e in events]
    first_delta, first_done = kinds.index("draft_delta"), kinds.index("draft_finished")
    assert first_delta < first_done
    r1 = [e for e in events if e["event"] == "draft_delta" and (e["round"], e["index"]) == (1, 0)]
    assert "".join(e["text"] for e in r1) == result.rounds[0].drafts[0].text
    assert [e["written"] for e in r1] == list(range(1, len(r1) + 1))
    assert result.b_total == sum(r.prompt_tokens + r.completion_tokens for r in server.requests)


def test_without_a_watcher_nothing_is_streamed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer() as server:
        run_pdr("q?", model="fake-model", base_url=server.base_url, config=SMALL, db=tmp_path / "r.sqlite")
        assert not any(r.body.get("stream") for r in server.requests)


def test_pdr_run_shows_each_live_draft_with_its_tokens_and_latest_line():
    from rich.console import Console

    from langgraph_pdr.cli.progress import Progress

    progress = Progress(enabled=True)
    progress.console = Console(width=100, force_terminal=True)
    progress({"event": "round_started", "round": 1, "rounds": 2, "drafts": 2})
    for n, piece in enumerate(["First line.\n", "Then 6 * 7 ", "= 42"], start=1):
        progress({"event": "draft_delta", "round": 1, "index": 1, "text": piece, "written": n})
    progress({"event": "draft_delta", "round": 1, "index": 0, "text": "Let", "written": 1})
    shown = progress._text().splitlines()
    assert shown[0].startswith("round 1/2 · drafts 0/2")
    assert shown[1:] == ["  draft r1.0 · 1 tokens · Let", "  draft r1.1 · 3 tokens · Then 6 * 7 = 42"]
    progress({"event": "draft_finished", "round": 1, "index": 1, "tokens": 10})
    assert progress._text().splitlines()[1:] == ["  draft r1.0 · 1 tokens · Let"]


def test_pdr_serve_streams_draft_tokens_tagged_by_draft_as_they_arrive(tmp_path):
    from openai import OpenAI

    release = threading.Event()
    env = {"PDR_DB": str(tmp_path / "serve.sqlite")}
    with (
        FakeOpenAIServer(between=held_until(release)) as upstream,
        pdr_serve(upstream.base_url, env=env) as url,
    ):
        stream = OpenAI(base_url=url, api_key="unused").chat.completions.create(
            model="single", messages=[{"role": "user", "content": "What is 6 * 7?"}], stream=True
        )
        thinking = []
        for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            text = (delta.model_extra or {}).get("reasoning_content") if delta else None
            if text:
                thinking.append(text)
                if "".join(thinking).count(" ") >= 3:
                    release.set()  # seen while the upstream still holds the draft's reply open
    streamed = "".join(thinking)
    assert release.is_set()
    assert (
        "Round 1/1: writing 1 draft(s).\n\n[draft r1.0] Draft of round 1, number 0: 6 * 7 = 42, so "
        "\\boxed{42}\nDraft 1 of round 1 done"
    ) in streamed
