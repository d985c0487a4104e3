"""`pdr view` and `render_run_html`: one self-contained page per run, for every method and every state a
run can be in, checked as HTML and in a real headless Chromium; the evaluation report's `index.html`."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import textwrap
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fakes import ScriptedChatModel, default_reply
from langchain_core.outputs import ChatResult
from test_cli import assert_one_line_error, pdr

import langgraph_pdr.evals.html
import langgraph_pdr.view.page
from langgraph_pdr import PDRConfig, inspect_run, list_runs, render_run_html, run_pdr
from langgraph_pdr.cli import main
from langgraph_pdr.evals import parse_methods, run_eval
from langgraph_pdr.evals.datasets import Problem
from langgraph_pdr.view import stage_maxima

METHODS = {
    "pdr": {"schedule": "4,2,1"},
    "pdr-per-sample": {"method": "pdr", "schedule": "4,2,1", "distiller": "per_sample_top_k"},
    "sr": {"schedule": "1,1,1"},
    "sr_error": {"schedule": "1,1"},
    "single": {},
    "self_consistency": {"schedule": "3"},
    "best_of_n": {"schedule": "3"},
}


def config_of(name: str) -> PDRConfig:
    options = dict(METHODS[name])
    return PDRConfig(**{"method": name, **options})


class Page(HTMLParser):
    """What a page holds: elements by id (tag and classes), tags left open, script and text content."""

    VOID = {"meta", "link", "br", "img", "input", "hr"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: dict[str, tuple[str, list[str]]] = {}
        self.stack: list[str] = []
        self.scripts = 0
        self.links_json = ""
        self._in_links = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids[a["id"]] = (tag, (a.get("class") or "").split())
        if tag == "script":
            self.scripts += 1
            self._in_links = a.get("id") == "pdr-links"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()
        self._in_links = False

    def handle_data(self, data):
        if self._in_links:
            self.links_json += data

    @property
    def links(self) -> set[tuple[str, str, str]]:
        return {tuple(x) for x in json.loads(self.links_json)}

    def classes(self, element_id: str) -> list[str]:
        return self.ids[element_id][1]


def drafts_of(page: Page) -> list[str]:
    return sorted(i for i, (_, cls) in page.ids.items() if "draft" in cls)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """A database holding a finished run of every method (gold 21: draft r2.1 of the default script)."""
    db = str(tmp_path_factory.mktemp("view") / "runs.sqlite")
    ids = {}
    for name in METHODS:
        result = run_pdr(
            "What is 7 * 3?",
            model=ScriptedChatModel(),
            config=config_of(name),
            db=db,
            gold="21",
            thread_id=name,
        )
        assert result.status == "completed"
        ids[name] = result.thread_id
    return db, ids


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_renders_every_draft_and_its_budget(runs, name):
    db, ids = runs
    result = inspect_run(ids[name], db)
    page = Page(render_run_html(ids[name], db))
    assert page.stack == [] and page.scripts == 2  # well formed; the page's own scripts only
    assert drafts_of(page) == sorted(f"d{r.round}-{d.index}" for r in result.rounds for d in r.drafts)
    assert all("placeholder" not in page.classes(d) for d in drafts_of(page))
    assert {f"w{w.round}-{w.index}" for w in result.workspaces} <= set(page.ids)
    assert "final" in page.ids and "bseq-strip" in page.ids
    assert sum(t for _, t, _ in stage_maxima(result.calls)) == result.b_seq


def test_the_page_shows_the_question_method_and_schedule_and_escapes_every_text(tmp_path):
    evil = "<script>alert('q')</script> & </pre>"

    def script(call):
        return f"</details><img src=x onerror=alert(1)> {default_reply(call)}"

    db = str(tmp_path / "runs.sqlite")
    run = run_pdr(evil, model=ScriptedChatModel(script=script), config=PDRConfig(schedule="2,1"), db=db)
    text = render_run_html(run.thread_id, db)
    page = Page(text)
    assert page.scripts == 2 and page.stack == []
    assert "<script>alert" not in text and "<img" not in text and "</details><img" not in text
    assert "&lt;script&gt;alert(&#x27;q&#x27;)&lt;/script&gt; &amp; &lt;/pre&gt;" in text
    assert "<dt>method</dt><dd>pdr</dd>" in text and "<dt>schedule</dt><dd>2,1</dd>" in text


def test_drafts_and_the_answer_are_graded_against_the_stored_gold(runs):
    db, ids = runs
    page = Page(render_run_html(ids["pdr"], db))
    graded = {d: ("correct" if "correct" in page.classes(d) else "incorrect") for d in drafts_of(page)}
    assert graded == {d: "correct" if d == "d2-1" else "incorrect" for d in drafts_of(page)}
    assert all("incorrect" in page.classes(d) for d in drafts_of(page) if d != "d2-1")
    text = render_run_html(ids["pdr"], db)
    assert text.count('class="badge correct"') == 1  # r2.1; the final answer, 30, is not


def test_lines_run_from_source_drafts_to_workspaces_to_the_drafts_that_read_them(runs):
    db, ids = runs
    shared = Page(render_run_html(ids["pdr"], db)).links
    assert shared == {
        *{(f"d1-{i}", "w1-0", "source") for i in range(4)},
        ("w1-0", "d2-0", "read"),
        ("w1-0", "d2-1", "read"),
        ("d2-0", "w2-0", "source"),
        ("d2-1", "w2-0", "source"),
        ("w2-0", "d3-0", "read"),
        ("d3-0", "final", "final"),
    }
    result = inspect_run(ids["pdr-per-sample"], db)
    links = Page(render_run_html(ids["pdr-per-sample"], db)).links
    for w in result.rounds[0].workspaces:  # each next-round draft read its own selection
        assert {(f"d1-{s}", f"w1-{w.index}", "source") for s in w.sources} <= links
    assert {(f"w1-{d.workspace_index}", f"d2-{d.index}", "read") for d in result.rounds[1].drafts} <= links
    critique = Page(render_run_html(ids["sr_error"], db)).links
    assert {("d1-0", "c1", "critique"), ("c1", "d2-0", "critique"), ("w1-0", "d2-0", "read")} <= critique


def test_the_budget_strip_adds_up_to_b_seq_and_b_total(runs):
    db, ids = runs
    result = inspect_run(ids["pdr-per-sample"], db)
    text = render_run_html(ids["pdr-per-sample"], db)
    stages = re.findall(r"<span>([^<]+)</span><b>([\d,]+)</b>", text)
    assert [s for s, _ in stages] == ["r1.draft", "r1.verify", "r2.draft", "r2.verify", "r3.draft"]
    assert sum(int(t.replace(",", "")) for _, t in stages) == result.b_seq
    total = re.search(r"<tr class='sum'><th>all</th>.*?<td>([\d,]+)</td></tr>", text)
    assert total is not None and int(total.group(1).replace(",", "")) == result.b_total


class CutModel(ScriptedChatModel):
    """Replies `finish_reason: length` to the calls `cut(call)` picks."""

    cut: object = None

    def _finish(self, call) -> ChatResult:
        result = super()._finish(call)
        if self.cut is not None and self.cut(call):
            result.generations[0].message.response_metadata["finish_reason"] = "length"
        return result


def test_a_tournaments_comparisons_are_shown_with_their_replies(tmp_path):
    def script(call) -> str:
        if "two proposed solutions" in call.prompt:
            return "Solution 1 <b>holds</b>.\nBetter: 1"
        return f"draft so \\boxed{{{10 * call.round + call.index}}}"

    config = PDRConfig(schedule="2,2", distiller="tournament", k=1, selector="tournament")
    result = run_pdr(
        "Which?", model=ScriptedChatModel(script=script), config=config, db=str(tmp_path / "t.db")
    )
    assert [len(r.judgments) for r in result.rounds] == [3, 3]
    html = render_run_html(result.thread_id, db=str(tmp_path / "t.db"))
    Page(html)  # well formed
    assert "tournament: 3 comparisons" in html and "final selection: 3 comparisons" in html
    assert html.count('class="card judge"') == 2 and "<b>holds</b>" not in html
    assert "Solution 1 &lt;b&gt;holds&lt;/b&gt;." in html
    first = result.rounds[0].judgments[0]
    assert f"level 1: r1.{first.first} v r1.{first.second} &rarr; r1.{first.first}" in html


def test_failed_and_unfinished_drafts_are_marked(tmp_path):
    def script(call):
        if call.role == "draft" and (call.round, call.index) == (1, 1):
            raise ValueError("the provider rejected <this> request")
        if call.role == "draft" and (call.round, call.index) == (1, 2):
            return "a long derivation that never ends"
        return default_reply(call)

    model = CutModel(script=script, cut=lambda call: call.role == "draft" and call.index == 2)
    db = str(tmp_path / "runs.sqlite")
    run = run_pdr("q?", model=model, config=PDRConfig(schedule="3,1"), db=db)
    text = render_run_html(run.thread_id, db)
    page = Page(text)
    assert "failed" in page.classes("d1-1") and "unfinished" in page.classes("d1-2")
    assert "ValueError: the provider rejected &lt;this&gt; request" in text
    assert "finish length" in text


def test_a_failed_run_shows_its_error_and_the_rounds_it_did_not_reach(tmp_path):
    def broken(call):
        if call.role == "draft" and call.round == 2:
            raise ValueError("the provider rejected the request")
        return default_reply(call)

    db = str(tmp_path / "runs.sqlite")
    failed = run_pdr("q?", model=ScriptedChatModel(script=broken), config=PDRConfig(schedule="4,2,1"), db=db)
    assert failed.status == "failed"
    text = render_run_html(failed.thread_id, db)
    page = Page(text)
    assert all("failed" in page.classes(f"d2-{i}") for i in range(2))
    assert "placeholder" in page.classes("d3-0") and "not reached" in text
    assert "This run failed" in text and f"pdr resume {failed.thread_id}" in text


def test_an_interrupted_run_shows_what_it_did(tmp_path):
    def stop(event):
        if event.get("event") == "round_started" and event.get("round") == 2:
            raise KeyboardInterrupt

    db = str(tmp_path / "runs.sqlite")
    with pytest.raises(KeyboardInterrupt):
        run_pdr(
            "q?",
            model=ScriptedChatModel(),
            config=PDRConfig(schedule="4,2,1"),
            db=db,
            thread_id="t1",
            on_event=stop,
        )
    assert inspect_run("t1", db).status == "interrupted"
    page = Page(render_run_html("t1", db))
    assert [d for d in drafts_of(page) if "placeholder" not in page.classes(d)] == [
        f"d1-{i}" for i in range(4)
    ]
    assert {"d2-0", "d2-1", "d3-0"} <= set(drafts_of(page))
    text = render_run_html("t1", db)
    assert "This run was interrupted" in text and "pdr resume t1" in text and "not reached" in text


def test_a_run_still_going_renders_what_it_has_done_so_far(tmp_path):
    db = str(tmp_path / "runs.sqlite")
    seen: list[str] = []

    def look(event):
        if event.get("event") == "round_started" and event.get("round") == 2:
            seen.append(render_run_html("live", db))

    run_pdr(
        "q?",
        model=ScriptedChatModel(),
        config=PDRConfig(schedule="4,2,1"),
        db=db,
        thread_id="live",
        on_event=look,
    )
    assert len(seen) == 1
    page = Page(seen[0])
    assert "still going" in seen[0] and 'data-status="running"' in seen[0]
    assert [d for d in drafts_of(page) if "placeholder" not in page.classes(d)] == [
        f"d1-{i}" for i in range(4)
    ]
    assert all("placeholder" in page.classes(d) for d in ("d2-0", "d2-1", "d3-0"))
    assert "w1-0" in page.ids  # the workspace round 2 is about to read
    so_far = re.search(r"B_seq ([\d,]+) · B_total ([\d,]+)</div>", seen[0])
    assert so_far is not None and int(so_far.group(1)) > 0 and int(so_far.group(2)) > int(so_far.group(1))


def test_pdr_view_writes_the_page_and_prints_its_path(runs, tmp_path, monkeypatch, capsys):
    db, ids = runs
    monkeypatch.chdir(tmp_path)
    assert main(["view", ids["pdr"], "--db", db]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == Path(f"pdr-view-{ids['pdr']}.html") and (tmp_path / path).read_text().startswith(
        "<!DOCTYPE"
    )
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    out = tmp_path / "sub" / "page.html"
    out.parent.mkdir()
    assert main(["view", ids["sr"], "--db", db, "--output", str(out), "--open"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert opened == [out.resolve().as_uri()] and 'id="d3-0"' in out.read_text()


def test_pdr_view_bad_input_is_one_line_and_exit_2(runs, tmp_path):
    db, _ = runs
    assert_one_line_error(pdr("view", "no-such-thread", "--db", db), 2, "no run 'no-such-thread'")
    missing = str(tmp_path / "missing.sqlite")
    assert_one_line_error(pdr("view", "t", "--db", missing), 2, "no database")
    assert not Path(missing).exists()
    assert_one_line_error(
        pdr("view", "t", "--db", db, "--output", str(tmp_path / "no" / "x.html")), 2, "--output"
    )


def test_the_eval_report_links_every_run_to_its_page(tmp_path, fake, capsys):
    db = str(tmp_path / "e.sqlite")
    problems = [Problem(f"p{i}", f"What is 6 * 7? (problem {i})", "42", "toy") for i in range(2)]
    run_eval(problems, parse_methods("single,pdr:2-1:global_summary"), model=fake, db=db, name="toy")
    out = tmp_path / "report"
    assert main(["eval", "--report", str(out), "--db", db, "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    index = Path(files["html"])
    assert index == out / "index.html"
    text = index.read_text()
    Page(text)  # well formed
    assert (
        '<img class="plot" src="accuracy_vs_budget.png"' in text and (out / "accuracy_vs_budget.png").exists()
    )
    links = re.findall(r'<a href="(runs/[^"]+\.html)">', text)
    assert len(links) == 4 and len(set(links)) == 4  # one per problem and method
    for link in links:
        page = Page((out / link).read_text())
        assert "d1-0" in page.ids and "final" in page.ids
        back = re.findall(r'<nav class="back"><a href="([^"]+)">', (out / link).read_text())
        assert (
            back == ["../index.html"] and (out / link).parent.joinpath(back[0]).resolve() == index.resolve()
        )
    assert "<nav" not in render_run_html(list_runs(db)[0].thread_id, db)  # pdr view's page has no such link


def test_a_program_answer_is_a_block_of_code(tmp_path):
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    fence = "`" * 3
    reply = AIMessage(f"Here:\n{fence}python\ndef add(a, b):\n    return a + b\n{fence}")
    db = str(tmp_path / "code.sqlite")
    run = run_pdr(
        "Write add(a, b).",
        model=GenericFakeChatModel(messages=iter([reply])),
        config=PDRConfig(method="single"),
        db=db,
        tests="assert add(1, 2) == 3",
    )
    page = render_run_html(run.thread_id, db)
    blocks = re.findall(r'<pre class="answer program"><code[^>]*>(.*?)</code></pre>', page, re.S)
    assert blocks == ["def add(a, b):\n    return a + b"]
    maths = run_pdr(
        "What is 2 + 2?",
        model=GenericFakeChatModel(messages=iter([AIMessage("\\boxed{4}")])),
        config=PDRConfig(method="single"),
        db=db,
    )
    assert 'class="answer program"' not in render_run_html(maths.thread_id, db)  # a number stays a number


# -- the page in a real browser --------------------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("these tests need a headless browser: apt-get install -y chromium")


FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]


class Browser:
    """Headless Chromium driven over the DevTools protocol (a websocket), started and stopped by PID."""

    def __init__(self, profile: Path) -> None:
        self.log = (profile.parent / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 120
        while not (port_file.exists() and port_file.read_text().strip()):  # written once it listens
            assert self.proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        from websockets.sync.client import connect

        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(
            connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        )
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            self.events.append(message)
            if message.get("method") == method:
                return message

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def errors(self) -> list[dict]:
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(params)
            elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                "error",
                "assert",
                "warning",
            ):
                out.append(params)
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                out.append(params)
        return out

    def close(self) -> None:
        try:
            self.stack.close()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=60)
            self.log.close()


def test_a_4_2_1_page_in_headless_chromium(runs, tmp_path):
    db, ids = runs
    result = inspect_run(ids["pdr"], db)
    page_path = tmp_path / "run.html"
    page_path.write_text(render_run_html(ids["pdr"], db), encoding="utf-8")
    url = page_path.resolve().as_uri()

    # the screenshot, by Chromium's own command line
    shot = tmp_path / "shot.png"
    profile = tmp_path / "shot-profile"
    proc = subprocess.Popen(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        log, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # it hung: stop it and its children, by its process group
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", log[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1400, 1000)
        assert len(image.convert("RGB").getcolors(1 << 20) or []) > 50  # not a blank page

    # the checks, over the DevTools protocol
    (tmp_path / "profile").mkdir()
    browser = Browser(tmp_path / "profile")
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable")
        browser.events.clear()
        browser.send("Page.navigate", url=url)
        browser.wait_for("Page.loadEventFired")
        requested = [
            e["params"]["request"]["url"]
            for e in browser.events
            if e.get("method") == "Network.requestWillBeSent"
        ]
        assert url in requested and all(u == url or u.startswith("data:") for u in requested), requested
        cards = browser.js(
            """[...document.querySelectorAll('.card.draft')].map(c => {
                 const r = c.getBoundingClientRect();
                 return {id: c.id, w: r.width, h: r.height, left: r.left, right: r.right,
                         placeholder: c.classList.contains('placeholder'),
                         answer: (c.querySelector('.answer') || {}).textContent};
               })"""
        )
        expected = [(r.round, d.index, d.answer) for r in result.rounds for d in r.drafts]
        assert len(expected) == 7
        assert sorted(c["id"] for c in cards) == sorted(f"d{r}-{i}" for r, i, _ in expected)
        inner_width = browser.js("window.innerWidth")
        for c in cards:  # every draft shows, side by side within the window
            assert c["w"] > 100 and c["h"] > 30 and 0 <= c["left"] and c["right"] <= inner_width, c
            assert not c["placeholder"]
        assert {c["id"]: c["answer"] for c in cards} == {f"d{r}-{i}": a for r, i, a in expected}
        links = Page(page_path.read_text()).links
        assert browser.js("document.body.dataset.linksDrawn") == str(len(links))
        assert browser.js("document.querySelectorAll('#links path').length") == len(links)

        # expanding a card shows its full text
        draft = result.rounds[0].drafts[2]
        before = browser.js(
            """(() => { const s = document.querySelector('#d1-2 summary');
                 s.scrollIntoView({block: 'center'});
                 const r = s.getBoundingClientRect(); const pre = document.querySelector('#d1-2 pre');
                 return {x: r.left + 10, y: r.top + r.height / 2, open: s.parentElement.open,
                         shown: pre.checkVisibility(),
                         card: document.getElementById('d1-2').getBoundingClientRect().height}; })()"""
        )
        assert before["open"] is False and before["shown"] is False
        browser.click(before["x"], before["y"])
        after = browser.js(
            """new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
                 const d = document.querySelector('#d1-2 details'), pre = d.querySelector('pre');
                 done({open: d.open, shown: pre.checkVisibility(), text: pre.innerText,
                       card: document.getElementById('d1-2').getBoundingClientRect().height,
                       drawn: document.body.dataset.linksDrawn}); })))"""
        )
        assert after["open"] is True and after["shown"] is True and after["card"] > before["card"] + 10
        assert after["text"] == draft.text and after["drawn"] == str(len(links))
        expanded = browser.send("Page.captureScreenshot", format="png")["data"]
        import base64

        (tmp_path / "expanded.png").write_bytes(base64.b64decode(expanded))
        assert browser.errors() == []
    finally:
        browser.close()


# -- the modules' docstring examples ----------------------------------------------------------------


@pytest.mark.parametrize(
    "module", [langgraph_pdr.view.page, langgraph_pdr.evals.html], ids=lambda m: m.__name__
)
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = []
    for _, obj in inspect.getmembers(module, lambda o: getattr(o, "__module__", None) == module.__name__):
        blocks += re.findall(r"```python\n(.*?)```", inspect.getdoc(obj) or "", re.S)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(textwrap.dedent(block), "<docstring>", "exec"), {})
