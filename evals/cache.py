"""Shared drafts: identical requests made by different methods of one evaluation are answered once.

Every method of an evaluation asks its first round the same question with the same per-call seed,
temperature and `max_tokens`, so a single pass, SR's first draft and PDR's first round are the same
requests. Answering them once costs a fraction of the tokens and makes the comparison paired (the
methods differ only in what they do after their shared drafts). Each run still books the call's
tokens in its B_seq and B_total, as if it had made it; only its latency is that of a cache read.

Only models that take a per-call seed share (OpenAI-compatible servers, Gemini): PDR's parallel drafts
differ only by their seed, so without one they would collapse into one sample.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration
from sqlalchemy import Column, MetaData, String, Table, Text, delete, select
from sqlalchemy.engine import Engine

from langgraph_pdr.checkpoints.ledger import create_tables

metadata = MetaData()

eval_cache = Table(
    "eval_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("generations", Text, nullable=False),
)


class SharedDrafts(BaseCache):
    """A LangChain cache in the evaluation's database, keyed by the model, the prompt and the call's
    options (seed, temperature, max_tokens), not by the server's address, which changes between
    sessions of the local model."""

    def __init__(self, engine: Engine, model: str) -> None:
        self.engine, self.model = engine, model
        self._lock = threading.Lock()
        create_tables(metadata, engine)

    def _key(self, prompt: str, llm_string: str) -> str:
        options = llm_string.rpartition("---")[2]
        return hashlib.sha256("\x00".join((self.model, prompt, options)).encode()).hexdigest()

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(eval_cache.c.generations)
                               .where(eval_cache.c.key == self._key(prompt, llm_string))).first()
        if row is None:
            return None
        return [ChatGeneration(message=messages_from_dict([g["message"]])[0], generation_info=g["info"])
                for g in json.loads(row[0])]

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        key = self._key(prompt, llm_string)
        if not all(isinstance(g, ChatGeneration) for g in return_val):
            return
        data = json.dumps([{"message": message_to_dict(g.message), "info": g.generation_info}
                           for g in return_val])
        with self._lock, self.engine.begin() as conn:
            if conn.execute(select(eval_cache.c.key).where(eval_cache.c.key == key)).first() is None:
                conn.execute(eval_cache.insert().values(key=key, generations=data))

    def clear(self, **kwargs: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(eval_cache))
