"""Prompt sharing on the local server: requests with one prompt, sent together, read it once (counted
by llama.cpp's own `/metrics`), each keeping its own seed and usage; a server that cannot share answers
every request as before."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from fake_openai import FakeOpenAIServer
from langchain_openai import ChatOpenAI

from langgraph_pdr.local_model.prompt_sharing import PromptSharing, prompt_key

QUESTION = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
    "per fresh duck egg. How much in dollars does she make every day at the farmers' market? "
)


def prompt_counters(base_url: str) -> dict[str, float]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=60) as reply:
        lines = reply.read().decode().splitlines()
    return {
        k.removeprefix("llamacpp:"): float(v)
        for k, v in (x.split() for x in lines if x.startswith("llamacpp:"))
    }


@pytest.fixture(scope="module")
def small_server():
    """The real 0.5B model on a private server of this module, set up for sharing (the default)."""
    from langgraph_pdr.local_model import ensure_model
    from langgraph_pdr.local_model.shared_server import LocalServer

    with LocalServer(ensure_model("qwen2.5-coder-0.5b"), alias="m", n_parallel=4, n_ctx=8192) as server:
        assert server.slot_dir is not None and server.slot_dir.is_dir()
        yield server


def chat_model(server, sharing: PromptSharing | None) -> ChatOpenAI:
    clients = sharing.clients() if sharing else {}
    return ChatOpenAI(
        model="m", base_url=server.base_url, api_key="x", use_responses_api=False, max_retries=0, **clients
    )


@pytest.mark.real_model
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_four_requests_with_one_prompt_read_it_once(small_server, mode):
    sharing = PromptSharing(small_server.base_url, slot_dir=small_server.slot_dir)
    model = chat_model(small_server, sharing)
    prompt = f"({mode}) {QUESTION * 3}Answer in one short sentence."
    seeds = [11, 22, 33, 44]
    before = prompt_counters(small_server.base_url)
    if mode == "sync":
        with ThreadPoolExecutor(4) as pool:  # as a round's drafts: a thread each
            replies = list(
                pool.map(lambda s: model.invoke(prompt, seed=s, max_tokens=8, temperature=0.8), seeds)
            )
    else:

        async def round_() -> list:
            calls = [model.ainvoke(prompt, seed=s, max_tokens=8, temperature=0.8) for s in seeds]
            return await asyncio.gather(*calls)

        replies = asyncio.run(round_())
    after = prompt_counters(small_server.base_url)
    [distinct] = {r.usage_metadata["input_tokens"] for r in replies}  # each bills its whole prompt
    assert distinct > 200
    processed = after["prompt_tokens_total"] - before["prompt_tokens_total"]
    assert processed <= 1.25 * distinct, (processed, distinct, dict(sharing.stats))
    assert sharing.stats["shared"] == 1 and sharing.stats["copies"] == 3
    cached = [r.usage_metadata.get("input_token_details", {}).get("cache_read", 0) for r in replies]
    assert all(c >= distinct - 1 for c in cached)  # each read one token of its prompt, found the rest
    assert list(small_server.slot_dir.iterdir()) == []  # the copy's file is gone


@pytest.mark.real_model
def test_without_sharing_each_slot_reads_the_prompt(small_server):
    """The figure prompt sharing changes: four requests sent together, each slot reads all of it."""
    model = chat_model(small_server, None)
    prompt = f"(plain) {QUESTION * 3}Answer in one short sentence."
    before = prompt_counters(small_server.base_url)
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda s: model.invoke(prompt, seed=s, max_tokens=8), [1, 2, 3, 4]))
    processed = prompt_counters(small_server.base_url)["prompt_tokens_total"] - before["prompt_tokens_total"]
    [distinct] = {r.usage_metadata["input_tokens"] for r in replies}
    assert processed > 3 * distinct


def test_a_server_that_cannot_share_answers_every_request_as_before(tmp_path):
    """No `/slots` (an OpenAI-compatible server that is not llama.cpp): the first group's attempt fails,
    sharing turns itself off, and every request is answered."""
    with FakeOpenAIServer() as server:
        sharing = PromptSharing(server.base_url, slot_dir=tmp_path)
        model = ChatOpenAI(
            model="m", base_url=server.base_url, api_key="x", use_responses_api=False, **sharing.clients()
        )
        barrier = threading.Barrier(3)

        def ask(seed: int) -> str:
            barrier.wait()
            return str(model.invoke("What is 6 * 7?", seed=seed).content)

        with ThreadPoolExecutor(3) as pool:
            replies = list(pool.map(ask, [1, 2, 3]))
        assert len(replies) == 3 and all(replies)
        assert sharing.stats["failed"] == 1 and not sharing.enabled
        asked = [r.body for r in server.requests if "messages" in r.body]
        assert sorted(b["seed"] for b in asked) == [1, 2, 3]  # each request went as it was
        assert all(b.get("max_tokens") != 1 for b in asked)


def test_requests_with_other_prompts_do_not_wait_for_each_other():
    base = {"model": "m", "seed": 1, "max_tokens": 10}
    keys = {prompt_key({**base, "messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(3)}
    assert len(keys) == 3
    assert prompt_key({**base, "messages": [], "tools": [{"type": "function"}]}) != prompt_key(
        {**base, "messages": []}
    )  # tools are part of the prompt
    assert prompt_key({"prompt": "raw completion"}) is None
    assert json.loads(prompt_key({**base, "messages": []}) or "{}") == {"model": "m", "messages": []}
