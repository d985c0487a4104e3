"""Shared drafts: identical requests made by different methods of one evaluation are answered once.

Every method of an evaluation asks its first round the same question with the same per-call seed,
temperature and `max_tokens`, so a single pass, SR's first draft and PDR's first round are the same
requests. Answering them once costs a fraction of the tokens and makes the comparison paired (the
methods differ only in what they do after their shared drafts). Each run still books the call's
tokens in its B_seq and B_total, as if it had made it; only its latency is that of a cache read.

Only models that take a per-call seed share (OpenAI-compatible servers, Gemini): PDR's parallel drafts
differ only by their seed, so without one they would collapse into one sample.

A seeded completion that stopped on its own (`finish_reason` "stop") after L tokens is also the answer
to the same request with any other `max_tokens` of at least L: sampling the same seed writes the same
tokens, and the cap never came into play. So the B_seq-matched single passes of `--matched`, which
differ from the single pass only in `max_tokens`, pay only for the drafts the single pass had cut off.

Two runs that send the same request before either answer is stored would both reach the model (there
is no waiting on another run's call), and a server batching parallel requests, as llama-server does,
need not repeat itself for a seed: so the harness runs a problem's methods one after another, and
should it happen anyway, the first answer stored is the one every later lookup gets, and only it
stands for its family.
"""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, delete, select
from sqlalchemy.engine import Engine

from langgraph_pdr.checkpoints.schema import create_tables

metadata = MetaData()

eval_cache = Table(
    "eval_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("generations", Text, nullable=False),
)

#: For each request but its `max_tokens` (its family), a cached completion that stopped on its own.
eval_cache_stops = Table(
    "eval_cache_stops",
    metadata,
    Column("family", String(64), primary_key=True),
    Column("key", String(64), nullable=False),
    Column("output_tokens", Integer, nullable=False),
)

#: The names providers give a call's output cap.
CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


class SharedDrafts(BaseCache):
    """A LangChain cache in the evaluation's database, keyed by the model, the prompt and the call's
    options (seed, temperature, max_tokens), not by the server's address, which changes between
    sessions of the local model."""

    def __init__(self, engine: Engine, model: str) -> None:
        self.engine, self.model = engine, model
        self._lock = threading.Lock()
        create_tables(metadata, engine)

    def _key(self, prompt: str, llm_string: str) -> str:
        return self._hash(prompt, llm_string.rpartition("---")[2])

    def _hash(self, prompt: str, options: str) -> str:
        return hashlib.sha256("\x00".join((self.model, prompt, options)).encode()).hexdigest()

    def _family(self, prompt: str, llm_string: str) -> tuple[str, int] | None:
        """The request's key without its output cap, and the cap; None unless it is seeded and capped."""
        try:
            options = dict(ast.literal_eval(llm_string.rpartition("---")[2]))
        except (ValueError, SyntaxError, TypeError):
            return None
        caps = [options.pop(name) for name in CAPS if name in options]
        if options.get("seed") is None or len(caps) != 1 or not isinstance(caps[0], int):
            return None
        return self._hash(prompt, repr(sorted(options.items()))), caps[0]

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(eval_cache.c.generations).where(eval_cache.c.key == self._key(prompt, llm_string))
            ).first()
            family = self._family(prompt, llm_string) if row is None else None
            if family is not None:
                row = conn.execute(
                    select(eval_cache.c.generations)
                    .join(eval_cache_stops, eval_cache_stops.c.key == eval_cache.c.key)
                    .where(
                        eval_cache_stops.c.family == family[0], eval_cache_stops.c.output_tokens <= family[1]
                    )
                ).first()
        if row is None:
            return None
        return [
            ChatGeneration(message=messages_from_dict([g["message"]])[0], generation_info=g["info"])
            for g in json.loads(row[0])
        ]

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        key = self._key(prompt, llm_string)
        chats = [g for g in return_val if isinstance(g, ChatGeneration)]
        if len(chats) != len(return_val):
            return
        data = json.dumps([{"message": message_to_dict(g.message), "info": g.generation_info} for g in chats])
        family, stopped = self._family(prompt, llm_string), _stopped_after(return_val)
        with self._lock, self.engine.begin() as conn:
            if conn.execute(select(eval_cache.c.key).where(eval_cache.c.key == key)).first() is not None:
                # the same request, sent again before the first answer was stored: the first is
                # what lookups return, so only it may stand for its family (a seeded server need not
                # repeat itself under concurrent load)
                return
            conn.execute(eval_cache.insert().values(key=key, generations=data))
            if family is None or stopped is None:
                return
            known = select(eval_cache_stops.c.key).where(eval_cache_stops.c.family == family[0])
            if conn.execute(known).first() is None:
                conn.execute(
                    eval_cache_stops.insert().values(family=family[0], key=key, output_tokens=stopped)
                )

    def clear(self, **kwargs: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(eval_cache_stops))
            conn.execute(delete(eval_cache))


def _stopped_after(generations: RETURN_VAL_TYPE) -> int | None:
    """The output tokens of a single completion that stopped on its own; None for any other."""
    if len(generations) != 1 or not isinstance(generations[0], ChatGeneration):
        return None
    generation = generations[0]
    reason = str((generation.generation_info or {}).get("finish_reason") or "").lower()
    usage = getattr(generation.message, "usage_metadata", None) or {}
    tokens = usage.get("output_tokens")
    return tokens if reason == "stop" and isinstance(tokens, int) and tokens > 0 else None
