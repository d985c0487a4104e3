"""Images of a question: every call that reads the question carries them, each is stored once, a resume
sends the same bytes, and bad images are one clear error (API and CLI)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fake_openai import FakeOpenAIServer
from serve_process import pdr_serve
from test_cli import assert_one_line_error, pdr

from langgraph_pdr import PDRChatModel, PDRConfig, create_pdr_tool, resume_pdr, run_pdr
from langgraph_pdr.calls.model_call import ImagesNotSupported
from langgraph_pdr.images import ImageError

CONFIG = PDRConfig(schedule="4,2,1", distiller="global_summary", max_tokens=64)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def png(size: int, seed: int = 0) -> bytes:
    """An incompressible image of `size` bytes: PNG's magic bytes, then random ones."""
    import random

    return b"\x89PNG\r\n\x1a\n" + random.Random(seed).randbytes(size - 8)


def database_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def test_every_call_carries_the_image_and_the_database_holds_it_once(tmp_path):
    image = tmp_path / "chart.png"
    image.write_bytes(png(200 * 1024))
    expected = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
    with FakeOpenAIServer() as server:
        plain = run_pdr(
            "What is 6 * 7?",
            model="fake-model",
            base_url=server.base_url,
            config=CONFIG,
            db=tmp_path / "plain.sqlite",
        )
        result = run_pdr(
            "What is 6 * 7?",
            model="fake-model",
            base_url=server.base_url,
            config=CONFIG,
            db=tmp_path / "runs.sqlite",
            images=[image],
        )
        with_image = server.requests[len(plain.calls) :]
    assert result.answer == "42" and result.status == "completed"
    assert len(with_image) == len(result.calls) == 4 + 1 + 2 + 1 + 1  # drafts, summaries, final
    assert {r.role for r in with_image} == {"draft", "distill"}
    assert all(r.images == [expected] for r in with_image)  # every call, the image, whole
    grown = database_bytes(tmp_path / "runs.sqlite") - database_bytes(tmp_path / "plain.sqlite")
    assert 200 * 1024 <= grown < 1.3 * 200 * 1024, grown  # the bytes once, not once per call
    (ref,) = result.images
    assert (ref.mime, ref.size, ref.url) == ("image/png", 200 * 1024, None)
    shown = pdr("inspect", result.thread_id, "--db", str(tmp_path / "runs.sqlite")).stdout
    assert ref.sha256 in shown and "image/png" in shown and "204,800" in shown


def test_verification_and_critique_see_the_image_too(tmp_path):
    with FakeOpenAIServer() as server:
        for config in (
            PDRConfig(schedule="2,1", distiller="shared_top_k", k=1, max_tokens=64),
            PDRConfig(method="sr_error", schedule="1,1", max_tokens=64),
        ):
            run_pdr(
                "What is 6 * 7?",
                model="fake-model",
                base_url=server.base_url,
                config=config,
                db=tmp_path / "runs.sqlite",
                images=[png(1000)],
            )
        roles = {r.role for r in server.requests}
        assert roles == {"draft", "verify", "critique"}
        assert all(len(r.images) == 1 for r in server.requests)


def test_a_resume_sends_the_same_bytes(tmp_path):
    image = png(5000, seed=1)
    data_url = "data:image/png;base64," + base64.b64encode(image).decode()
    broken = {"on": True}
    with FakeOpenAIServer(
        fault=lambda r: "500" if broken["on"] and r.draft and r.draft[0] == 2 else None
    ) as server:
        config = PDRConfig(schedule="2,1", distiller="random_k", k=1, max_tokens=64)
        import langgraph_pdr.graphs.pdr as pdr_graph
        from langgraph_pdr.calls import retry

        fast = retry.DEFAULT_RETRY._replace(max_attempts=1)
        original, pdr_graph.DEFAULT_RETRY = pdr_graph.DEFAULT_RETRY, fast
        try:
            failed = run_pdr(
                "What is 6 * 7?",
                model="fake-model",
                base_url=server.base_url,
                config=config,
                db=tmp_path / "runs.sqlite",
                images=[image],
            )
        finally:
            pdr_graph.DEFAULT_RETRY = original
        assert failed.status == "failed"
        broken["on"] = False
        before = len(server.requests)
        result = resume_pdr(failed.thread_id, db=tmp_path / "runs.sqlite")
        resumed = server.requests[before:]
    assert result.status == "completed" and resumed and all(r.images == [data_url] for r in resumed)


def test_a_text_only_model_is_one_clear_error_before_the_round_is_paid(tmp_path):
    (tmp_path / "x.png").write_bytes(png(100))
    with FakeOpenAIServer(fault=lambda r: "no_images" if r.images else None) as server:
        with pytest.raises(ImagesNotSupported, match="model 'fake-model' does not take image input"):
            run_pdr(
                "What is 6 * 7?",
                model="fake-model",
                base_url=server.base_url,
                config=CONFIG,
                db=tmp_path / "runs.sqlite",
                images=[tmp_path / "x.png"],
            )
        asked = len(server.requests)
        proc = pdr(
            "run",
            "What is 6 * 7?",
            "--model",
            "fake-model",
            "--base-url",
            server.base_url,
            "--image",
            str(tmp_path / "x.png"),
            "--db",
            str(tmp_path / "runs.sqlite"),
        )
    assert asked <= 4  # the first round's requests, none retried, nothing after them
    assert_one_line_error(proc, 2, "does not take image input")


BAD = [
    ("missing.png", None, "no such file"),
    ("notes.txt", b"just some text, not an image", "is not an image"),
    ("huge.png", "huge", "the limit is 20 MiB"),
    ("ftp://example.com/a.png", None, "URL scheme 'ftp' is not supported"),
]


@pytest.mark.parametrize("name, content, needle", BAD, ids=[b[0] for b in BAD])
def test_a_bad_image_is_one_clear_error_over_the_api_and_the_cli(name, content, needle, tmp_path):
    target = name if "://" in name else str(tmp_path / name)
    if content == "huge":
        Path(target).write_bytes(png(21 * 1024 * 1024))
    elif content is not None:
        Path(target).write_bytes(content)
    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer() as server:
        with pytest.raises(ImageError, match=needle):
            run_pdr("q?", model="fake-model", base_url=server.base_url, db=db, images=[target])
        proc = pdr(
            "run",
            "q?",
            "--model",
            "fake-model",
            "--base-url",
            server.base_url,
            "--image",
            target,
            "--db",
            str(db),
        )
        asked = len(server.requests)
    assert_one_line_error(proc, 2, needle)
    assert asked == 0 and not db.exists()


def test_images_reach_pdr_through_the_chat_model_the_tool_and_pdr_serve(tmp_path):

    from langchain_core.messages import HumanMessage
    from openai import OpenAI

    image = png(3000, seed=2)
    data_url = "data:image/png;base64," + base64.b64encode(image).decode()
    small = {"schedule": "2,1", "distiller": "random_k", "k": 1, "max_tokens": 64}
    with FakeOpenAIServer() as upstream:
        chat = PDRChatModel(
            model="fake-model", base_url=upstream.base_url, config=small, db=str(tmp_path / "chat.sqlite")
        )
        message = HumanMessage(
            content=[
                {"type": "text", "text": "What is 6 * 7?"},
                {"type": "image_url", "image_url": {"url": data_url}},
            ]
        )
        assert chat.invoke([message]).response_metadata["answer"] == "42"
        tool = create_pdr_tool(
            model="fake-model", base_url=upstream.base_url, config=small, db=str(tmp_path / "tool.sqlite")
        )
        path = tmp_path / "p.png"
        path.write_bytes(image)
        assert tool.invoke({"question": "What is 6 * 7?", "images": [str(path)]}).endswith("\\boxed{42}")
        with pdr_serve(upstream.base_url, env={"PDR_DB": str(tmp_path / "serve.sqlite")}) as url:
            reply = OpenAI(base_url=url, api_key="unused").chat.completions.create(
                model="pdr-2-1-random_k",
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is 6 * 7?"},
                            {"type": "image_url", "image_url": {"url": data_url}},
                        ],
                    }
                ],
                extra_body={"pdr": {"k": 1}},
            )
        assert reply.model_extra["pdr"]["answer"] == "42"
        assert len(upstream.requests) == 3 * 3 and all(r.images == [data_url] for r in upstream.requests)


def test_an_eval_dataset_may_give_images(tmp_path):
    from langgraph_pdr.evals import load_dataset, parse_methods, run_eval

    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "q1.png").write_bytes(png(2000, seed=3))
    rows = [{"id": "q1", "problem": "What is 6 * 7?", "answer": "42", "images": ["img/q1.png"]}]
    dataset = tmp_path / "visual.jsonl"
    dataset.write_text("\n".join(json.dumps(r) for r in rows))
    problems = load_dataset(dataset)
    assert problems[0].images == (str(tmp_path / "img" / "q1.png"),)
    with FakeOpenAIServer() as server:
        items = run_eval(
            problems,
            parse_methods("single"),
            model="fake-model",
            base_url=server.base_url,
            db=tmp_path / "eval.sqlite",
            concurrency=1,
        )
        assert [i.correct for i in items] == [True]
        assert len(server.requests[0].images) == 1
    (tmp_path / "bad.jsonl").write_text(json.dumps({**rows[0], "images": ["img/missing.png"]}))
    with pytest.raises(ValueError, match="no such image file"):
        load_dataset(tmp_path / "bad.jsonl")


def test_a_graph_invoked_directly_takes_images_that_carry_their_bytes():
    from fakes import ScriptedChatModel

    from langgraph_pdr import PDRContext, create_pdr_graph, graph_config
    from langgraph_pdr.calls.image_input import question_message
    from langgraph_pdr.calls.token_count import DEFAULT_COUNTER, prompt_bound
    from langgraph_pdr.images import image_refs
    from langgraph_pdr.state.image_ref import IMAGE_TOKENS

    config = PDRConfig(method="single")
    graph = create_pdr_graph(config).compile()
    fake = ScriptedChatModel(script=lambda call: "\\boxed{42}")
    out = graph.invoke(
        {"question": "What is 6 * 7?", "images": image_refs([png(500)])},
        graph_config(config),
        context=PDRContext(model=fake),
    )
    assert out["answer"] == "42" and "'type': 'image'" in fake.log[0].prompt

    # a reservation counts the declared bound of each image
    with_image = question_message("q?", image_refs([png(500)]))
    assert (
        prompt_bound([with_image], DEFAULT_COUNTER)
        - prompt_bound([question_message("q?", None)], DEFAULT_COUNTER)
        == IMAGE_TOKENS
    )
