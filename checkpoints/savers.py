"""Lean SQLite checkpointers: each channel value stored once per version, compressed.

`langgraph-checkpoint-sqlite` writes every channel's value into every checkpoint, so a run's drafts
are re-serialized at each of the round's supersteps. These subclasses keep the library's tables and
queries and move channel values to a `checkpoint_blobs` table keyed by (thread, namespace, channel,
version), as `langgraph-checkpoint-postgres` does: a value is written when its channel changes and
read back when a checkpoint is loaded. Values and pending writes are zlib-compressed through the
library's own `EncryptedSerializer` with a compression "cipher", so the strict msgpack allowlist keeps
working. Their writes take turns with every other writer of the file in this process
(`checkpoints.gate`).
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from langgraph_pdr.checkpoints.db_threads import in_db_lane, in_db_thread
from langgraph_pdr.checkpoints.gate import WriteGate, write_gate
from langgraph_pdr.checkpoints.lock import lease_lost
from langgraph_pdr.checkpoints.schema import runs
from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.records import CallRecord, Check, Draft, Verification, Workspace

BLOBS_DDL = """
CREATE TABLE IF NOT EXISTS checkpoint_blobs (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    type TEXT NOT NULL,
    blob BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
)"""
EMPTY = "empty"
INSERT_BLOB = "INSERT OR IGNORE INTO checkpoint_blobs VALUES (?, ?, ?, ?, ?, ?)"


class ZlibCompression:
    """A `CipherProtocol` that compresses instead of encrypting (values under 128 bytes stay raw)."""

    MIN_SIZE = 128

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        if len(plaintext) < self.MIN_SIZE:
            return "raw", plaintext
        return "zlib", zlib.compress(plaintext, 6)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        return zlib.decompress(ciphertext) if ciphername == "zlib" else ciphertext


#: The record types a PDR graph keeps in its state and `Send` payloads.
STATE_TYPES = [
    (Draft.__module__, t.__name__) for t in (CallRecord, Check, Draft, Verification, Workspace)
] + [(ImageRef.__module__, ImageRef.__name__)]


def compressed_serde() -> EncryptedSerializer:
    """LangGraph's serializer, allowing PDR's record types, with zlib compression around it."""
    return EncryptedSerializer(ZlibCompression(), JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES))


def _keys(config: RunnableConfig) -> tuple[str, str]:
    conf = config["configurable"]
    return str(conf["thread_id"]), conf.get("checkpoint_ns", "")


def _version_filter(versions: dict[str, Any]) -> tuple[str, list[Any]]:
    pairs = [(ch, str(v)) for ch, v in versions.items()]
    clause = " OR ".join("(channel = ? AND version = ?)" for _ in pairs) or "0"
    return clause, [x for pair in pairs for x in pair]


_LATEST = (
    "SELECT checkpoint_ns, MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ? GROUP BY checkpoint_ns"
)


#: The stored checkpoint (its type and bytes) of one id: pruning reads its channel versions only.
_CHECKPOINT = (
    "SELECT type, checkpoint FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
)


def _prune_statements(
    thread_id: str, ns: str, checkpoint_id: str, keep: dict[str, Any]
) -> builtins.list[tuple[str, tuple[Any, ...]]]:
    """Delete a namespace's checkpoints but `checkpoint_id`, their writes, and the blobs of channel
    versions other than `keep` (the kept checkpoint's)."""
    clause, params = _version_filter(keep)
    where = "thread_id = ? AND checkpoint_ns = ?"
    return [
        (f"DELETE FROM checkpoints WHERE {where} AND checkpoint_id != ?", (thread_id, ns, checkpoint_id)),
        (f"DELETE FROM writes WHERE {where} AND checkpoint_id != ?", (thread_id, ns, checkpoint_id)),
        (f"DELETE FROM checkpoint_blobs WHERE {where} AND NOT ({clause})", (thread_id, ns, *params)),
    ]


def _file_gate(databases: Iterable[Any]) -> WriteGate | None:
    """The write gate of the main database among `PRAGMA database_list` rows (none in memory)."""
    for _seq, name, file in databases:
        if name == "main" and file:
            return write_gate(file)
    return None


class _Blobs:
    """What the sync and async savers share: splitting and re-assembling checkpoints, and the file's
    write gate."""

    serde: Any
    gate: WriteGate | None = None

    def _writing(self) -> Any:
        """The file's write gate (`with` or `async with`), or nothing for an in-memory database."""
        return self.gate if self.gate is not None else nullcontext()

    def _rows(
        self,
        thread_id: str,
        ns: str,
        checkpoint: Checkpoint,
        new_versions: ChannelVersions,
        stored: set[tuple[str, str]],
    ) -> builtins.list[tuple[Any, ...]]:
        values, versions = checkpoint["channel_values"], checkpoint["channel_versions"]
        rows = []
        for channel, version in versions.items():
            key = (channel, str(version))
            if key in stored or (channel not in values and channel not in new_versions):
                continue
            if channel in values:
                type_, blob = self.serde.dumps_typed(values[channel])
            else:
                type_, blob = EMPTY, None
            rows.append((thread_id, ns, channel, str(version), type_, blob))
        return rows

    def _channel_versions(self, row: tuple[Any, ...] | None) -> dict[str, Any]:
        """The channel versions of a stored checkpoint (`_CHECKPOINT`'s row; none without one)."""
        return self.serde.loads_typed((row[0], row[1]))["channel_versions"] if row else {}

    def _assemble(self, tup: CheckpointTuple, rows: builtins.list[tuple[Any, ...]]) -> CheckpointTuple:
        checkpoint = tup.checkpoint
        values = {ch: self.serde.loads_typed((t, b)) for ch, t, b in rows if t != EMPTY}
        values.update(checkpoint.get("channel_values") or {})
        return tup._replace(checkpoint={**checkpoint, "channel_values": values})


class LeanSqliteSaver(_Blobs, SqliteSaver):
    """`SqliteSaver` that stores each channel value once per version, compressed.

    Given the run ledger of the same file (`ledger`), each checkpoint and each task's writes first
    check, in their own write transaction, that the ledger still holds the run's lease: a process
    whose run was taken over writes no more checkpoints (`LeaseLostError`).

    Example:
        ```python
        import sqlite3
        from langgraph_pdr.checkpoints.savers import LeanSqliteSaver, compressed_serde

        saver = LeanSqliteSaver(sqlite3.connect("runs.sqlite", check_same_thread=False),
                                serde=compressed_serde())
        ```
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        serde: Any = None,
        ledger: Any = None,
        lock: threading.RLock | None = None,
    ) -> None:
        """Args:
        conn: the SQLite connection.
        serde: the serializer (`compressed_serde()` stores each value zlib-compressed).
        ledger: the run ledger whose lease each write checks (None: no check).
        lock: the lock of `conn`'s users, when other savers share the connection (each of a process's
            runs on one file does: `checkpoints.store`). Reentrant: cursors join `_writes`.
        """
        super().__init__(conn, serde=serde)
        self.lock = lock or threading.RLock()  # type: ignore[assignment]
        self.gate = _file_gate(conn.execute("PRAGMA database_list").fetchall())
        self.ledger = ledger
        self._open = threading.local()  # whether this thread is inside `_writes`

    def setup(self) -> None:
        if self.is_setup:
            return
        super().setup()
        self.conn.execute(BLOBS_DDL)
        self.conn.commit()

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        """The library's cursor; one that writes (`transaction`) first takes the file's write gate.
        Inside `_writes` it is part of that transaction (which commits once, at its end)."""
        if getattr(self._open, "active", False):
            with super().cursor(transaction=False) as cur:
                yield cur
            return
        with self._writing() if transaction else nullcontext(), super().cursor(transaction) as cur:
            yield cur

    @contextmanager
    def _writes(self, thread_id: str) -> Iterator[None]:
        """One write transaction for the block: the write gate, the run's lease checked, one commit
        (nothing is written when the block raises)."""
        with self._writing(), self.lock:
            self.setup()
            self._open.active = True
            try:
                if not self.conn.in_transaction:
                    self.conn.execute("BEGIN IMMEDIATE")  # the check and the writes: one transaction
                self._fence(thread_id)
                yield
                self.conn.commit()
            except BaseException:
                self.conn.rollback()
                raise
            finally:
                self._open.active = False

    def _fence(self, thread_id: str) -> None:
        """Raise `LeaseLostError` when the ledger held the run's lease and another process took it."""
        owner = self.ledger.lease_owner(thread_id) if self.ledger is not None else None
        if owner is None:
            return
        query = f"SELECT lock_owner FROM {runs.name} WHERE thread_id = ?"
        row = self.conn.execute(query, (thread_id,)).fetchone()
        holder = row[0] if row else None
        if holder != owner:
            raise lease_lost(thread_id, holder)

    def _stored(
        self, cur: sqlite3.Cursor, thread_id: str, ns: str, versions: dict[str, Any]
    ) -> set[tuple[str, str]]:
        clause, params = _version_filter(versions)
        cur.execute(
            f"SELECT channel, version FROM checkpoint_blobs WHERE thread_id = ? AND "
            f"checkpoint_ns = ? AND ({clause})",
            (thread_id, ns, *params),
        )
        return set(cur.fetchall())

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread_id, ns = _keys(config)
        with self._writes(thread_id), self.cursor() as cur:
            stored = self._stored(cur, thread_id, ns, checkpoint["channel_versions"])
            cur.executemany(INSERT_BLOB, self._rows(thread_id, ns, checkpoint, new_versions, stored))
            return super().put(config, {**checkpoint, "channel_values": {}}, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        with self._writes(_keys(config)[0]):
            super().put_writes(config, writes, task_id, task_path)

    def _hydrate(self, tup: CheckpointTuple) -> CheckpointTuple:
        thread_id, ns = _keys(tup.config)
        clause, params = _version_filter(tup.checkpoint["channel_versions"])
        with self.cursor(transaction=False) as cur:
            cur.execute(
                f"SELECT channel, type, blob FROM checkpoint_blobs WHERE thread_id = ? AND "
                f"checkpoint_ns = ? AND ({clause})",
                (thread_id, ns, *params),
            )
            rows = cur.fetchall()
        return self._assemble(tup, rows)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        tup = super().get_tuple(config)
        return self._hydrate(tup) if tup else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        # the parent holds its lock while it yields: read everything first
        found = builtins.list(super().list(config, filter=filter, before=before, limit=limit))
        for tup in found:
            yield self._hydrate(tup)

    def delete_thread(self, thread_id: str) -> None:
        super().delete_thread(thread_id)
        with self.cursor() as cur:
            cur.execute("DELETE FROM checkpoint_blobs WHERE thread_id = ?", (str(thread_id),))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Drop all but each thread's latest checkpoint (its writes and the blobs it does not use).

        The same call as `PostgresSaver.prune`; the run ledger keeps the per-round history.
        """
        if strategy != "keep_latest":
            raise ValueError(f"strategy: only 'keep_latest' is supported, got {strategy!r}")
        for thread_id in map(str, thread_ids):
            with self.cursor() as cur:  # one transaction per thread: what to keep, and the deletes
                for ns, checkpoint_id in cur.execute(_LATEST, (thread_id,)).fetchall():
                    row = cur.execute(_CHECKPOINT, (thread_id, ns, checkpoint_id)).fetchone()
                    keep = self._channel_versions(row)
                    for sql, params in _prune_statements(thread_id, ns, checkpoint_id, keep):
                        cur.execute(sql, params)


class ThreadedSqliteSaver(LeanSqliteSaver):
    """`LeanSqliteSaver` for async runs: each call runs whole in a database thread
    (`checkpoints.db_threads`), off the event loop; writes queue in the file's lane, so the writes of a
    process's many runs go in one hop per batch (`in_db_lane`), each still its own transaction.

    What the runner uses for async runs on a SQLite file. `LeanAsyncSqliteSaver` (on aiosqlite, whose
    every statement is a hop to its thread and back to the event loop) measured slower with many runs
    in one process, where writers queue for the file's write gate: see docs/guides/performance.md.

    Example:
        ```python
        import asyncio
        import sqlite3
        from langgraph_pdr.checkpoints.savers import ThreadedSqliteSaver, compressed_serde

        saver = ThreadedSqliteSaver(sqlite3.connect("runs.sqlite", check_same_thread=False),
                                    serde=compressed_serde())
        config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        assert asyncio.run(saver.aget_tuple(config)) is None
        ```
    """

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await in_db_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        def found() -> builtins.list[CheckpointTuple]:
            return builtins.list(self.list(config, filter=filter, before=before, limit=limit))

        for tup in await in_db_thread(found):
            yield tup

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await in_db_lane(self._lane, self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await in_db_lane(self._lane, self.put_writes, config, writes, task_id, task_path)

    @property
    def _lane(self) -> Any:
        """What this saver's writes queue under (`in_db_lane`): the file's, shared with every writer of
        it in this process (its writes take turns at the file's gate anyway)."""
        return self.gate if self.gate is not None else self

    async def adelete_thread(self, thread_id: str) -> None:
        await in_db_lane(self._lane, self.delete_thread, thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await in_db_lane(self._lane, self.prune, thread_ids, strategy=strategy)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return await in_db_thread(self.get_delta_channel_history, config=config, channels=channels)


class LeanAsyncSqliteSaver(_Blobs, AsyncSqliteSaver):
    """Async twin of `LeanSqliteSaver` (on `aiosqlite`)."""

    async def setup(self) -> None:
        if self.is_setup:
            return
        await super().setup()
        async with self.lock:
            self.gate = _file_gate(await self.conn.execute_fetchall("PRAGMA database_list"))
            await self.conn.execute(BLOBS_DDL)
            await self.conn.commit()

    async def _query(self, sql: str, params: tuple[Any, ...]) -> builtins.list[tuple[Any, ...]]:
        async with self.lock, self.conn.execute(sql, params) as cur:
            return [tuple(row) for row in await cur.fetchall()]

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        await self.setup()
        thread_id, ns = _keys(config)
        clause, params = _version_filter(checkpoint["channel_versions"])
        async with self._writing():
            stored = set(
                await self._query(
                    f"SELECT channel, version FROM checkpoint_blobs WHERE thread_id = ? AND "
                    f"checkpoint_ns = ? AND ({clause})",
                    (thread_id, ns, *params),
                )
            )
            rows = self._rows(thread_id, ns, checkpoint, new_versions, stored)
            async with self.lock:
                await self.conn.executemany(INSERT_BLOB, rows)
                await self.conn.commit()
            return await super().aput(config, {**checkpoint, "channel_values": {}}, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self.setup()
        async with self._writing():
            await super().aput_writes(config, writes, task_id, task_path)

    async def _ahydrate(self, tup: CheckpointTuple) -> CheckpointTuple:
        thread_id, ns = _keys(tup.config)
        clause, params = _version_filter(tup.checkpoint["channel_versions"])
        rows = await self._query(
            f"SELECT channel, type, blob FROM checkpoint_blobs WHERE thread_id = ? AND "
            f"checkpoint_ns = ? AND ({clause})",
            (thread_id, ns, *params),
        )
        return self._assemble(tup, rows)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        tup = await super().aget_tuple(config)
        return await self._ahydrate(tup) if tup else None

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        found = [t async for t in super().alist(config, filter=filter, before=before, limit=limit)]
        for tup in found:
            yield await self._ahydrate(tup)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async twin of `LeanSqliteSaver.prune`."""
        if strategy != "keep_latest":
            raise ValueError(f"strategy: only 'keep_latest' is supported, got {strategy!r}")
        for thread_id in map(str, thread_ids):
            for ns, checkpoint_id in await self._query(_LATEST, (thread_id,)):
                rows = await self._query(_CHECKPOINT, (thread_id, ns, checkpoint_id))
                keep = self._channel_versions(rows[0] if rows else None)
                async with self._writing(), self.lock:
                    for sql, params in _prune_statements(thread_id, ns, checkpoint_id, keep):
                        await self.conn.execute(sql, params)
                    await self.conn.commit()

    async def adelete_thread(self, thread_id: str) -> None:
        await self.setup()
        async with self._writing():
            await super().adelete_thread(thread_id)
            async with self.lock:
                await self.conn.execute("DELETE FROM checkpoint_blobs WHERE thread_id = ?", (str(thread_id),))
                await self.conn.commit()


class Fenced:
    """A checkpointer that checks, before each write, that its run's ledger still holds the run's lease
    (`Ledger.check_lease`): a process whose run was taken over writes no more checkpoints. The
    PostgreSQL savers are fenced so; the SQLite ones check in their own write transaction (`ledger=`).
    """

    ledger: Any = None

    def _thread(self, config: RunnableConfig) -> str:
        return str(config["configurable"]["thread_id"])

    def put(self, config: RunnableConfig, *args: Any, **kwargs: Any) -> RunnableConfig:
        if self.ledger is not None:
            self.ledger.check_lease(self._thread(config))
        saved: RunnableConfig = super().put(config, *args, **kwargs)  # type: ignore[misc]
        return saved

    def put_writes(self, config: RunnableConfig, *args: Any, **kwargs: Any) -> None:
        if self.ledger is not None:
            self.ledger.check_lease(self._thread(config))
        super().put_writes(config, *args, **kwargs)  # type: ignore[misc]

    async def aput(self, config: RunnableConfig, *args: Any, **kwargs: Any) -> RunnableConfig:
        if self.ledger is not None:
            await self.ledger.acheck_lease(self._thread(config))
        saved: RunnableConfig = await super().aput(config, *args, **kwargs)  # type: ignore[misc]
        return saved

    async def aput_writes(self, config: RunnableConfig, *args: Any, **kwargs: Any) -> None:
        if self.ledger is not None:
            await self.ledger.acheck_lease(self._thread(config))
        await super().aput_writes(config, *args, **kwargs)  # type: ignore[misc]


_FENCED: dict[type, type] = {}


def fenced(saver_class: type, ledger: Any, *args: Any, **kwargs: Any) -> Any:
    """An instance of `saver_class` that checks `ledger`'s lease before each write (see `Fenced`)."""
    cls = _FENCED.get(saver_class)
    if cls is None:
        cls = _FENCED[saver_class] = type(f"Fenced{saver_class.__name__}", (Fenced, saver_class), {})
    saver = cls(*args, **kwargs)
    saver.ledger = ledger
    return saver
