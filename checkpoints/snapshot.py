"""A compact copy of a SQLite run store: its finished runs, to keep (commit, archive, send) and read back.

A long evaluation's store is hours of a model's work, and it lives on one machine. `snapshot` copies it
while runs may still be writing to it (SQLite's online backup), then, in the copy only, drops the
LangGraph checkpoints and every run that is not finished, so what remains is what `pdr runs`,
`pdr inspect` and a repeated `pdr eval` read back: each finished run's ledger (calls, turns, drafts,
workspaces), the evaluations' items and their request cache.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from langgraph_pdr.checkpoints.ledger import FINISHED
from langgraph_pdr.checkpoints.schema import metadata
from langgraph_pdr.checkpoints.store import MEMORY, is_postgres, resolve_db

#: The LangGraph checkpointer's tables (`langgraph-checkpoint-sqlite`'s and our blob table).
CHECKPOINT_TABLES = ("checkpoints", "writes", "checkpoint_blobs")


@dataclass(frozen=True)
class Snapshot:
    """What `snapshot` wrote: the file, its size, and the runs it kept and left out."""

    path: Path
    size: int
    runs: int
    left_out: int


def snapshot(db: str | Path | None, dest: str | Path) -> Snapshot:
    """Write the finished runs of the SQLite store `db` to `dest`, gzipped when `dest` ends in `.gz`.

    Args:
        db: the store (a SQLite file; None is the default store).
        dest: the file to write; an existing file is replaced only once the copy is complete.

    Returns:
        The `Snapshot`: where, how large, how many runs kept and how many unfinished ones left out.

    Raises:
        ValueError: `db` is not a SQLite file that exists, or `dest` cannot be written.

    Example:
        ```python
        import gzip, sqlite3, tempfile
        from pathlib import Path
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr
        from langgraph_pdr.checkpoints.snapshot import snapshot

        d = Path(tempfile.mkdtemp())
        model = GenericFakeChatModel(messages=iter([AIMessage("\\\\boxed{391}")]))
        run_pdr("What is 17 * 23?", model=model, config=PDRConfig(method="single"), db=d / "runs.sqlite")
        made = snapshot(d / "runs.sqlite", d / "copy.sqlite.gz")
        assert made.runs == 1 and made.left_out == 0
        (d / "copy.sqlite").write_bytes(gzip.decompress(made.path.read_bytes()))
        assert sqlite3.connect(d / "copy.sqlite").execute("SELECT answer FROM runs").fetchone() == ("391",)
        ```
    """
    target = check_snapshot(db, dest)
    source = Path(resolve_db(db)).expanduser()
    if not source.is_file():
        raise ValueError(f"db: there is no database at {source}")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".pdr-snapshot-") as work:
        copy = Path(work) / "store.sqlite"
        kept, left_out = _copy_finished(source, copy)
        written = Path(work) / "out"
        if target.name.endswith(".gz"):
            with copy.open("rb") as raw, gzip.open(written, "wb", compresslevel=9) as packed:
                shutil.copyfileobj(raw, packed)
        else:
            copy.rename(written)
        os.replace(written, target)
    return Snapshot(path=target, size=target.stat().st_size, runs=kept, left_out=left_out)


def check_snapshot(db: str | Path | None, dest: str | Path) -> Path:
    """The file `snapshot` would write, checked before hours of runs fill the store: `db` is a SQLite
    store (not PostgreSQL, whose own `pg_dump` does this) and `dest` a file in a directory that exists.

    Raises:
        ValueError: either is not so.
    """
    db = resolve_db(db)
    if is_postgres(db):
        raise ValueError("snapshot: only a SQLite store file can be copied; for PostgreSQL use pg_dump")
    if db == MEMORY:
        raise ValueError("snapshot: a store in memory has nothing to copy; give --db a SQLite file")
    target = Path(dest).expanduser()
    if target.is_dir():
        raise ValueError(f"snapshot: {dest} is a directory; name the file to write")
    if not target.parent.is_dir():
        raise ValueError(f"snapshot: the directory {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ValueError(f"snapshot: cannot write in {target.parent} (permission denied)")
    return target


def _copy_finished(source: Path, copy: Path) -> tuple[int, int]:
    """Back `source` up into `copy`, then keep only finished runs there: (kept, left out)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(copy)
    try:
        try:
            src.backup(dst)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"db: {source} is not a run store ({exc})") from exc
        tables = {row[0] for row in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "runs" not in tables:
            raise ValueError(f"db: {source} holds no runs table: not a run store")
        marks = ", ".join("?" for _ in FINISHED)
        dst.execute(
            f"CREATE TEMP TABLE gone AS SELECT thread_id FROM runs WHERE status NOT IN ({marks})", FINISHED
        )
        left_out = dst.execute("SELECT COUNT(*) FROM gone").fetchone()[0]
        for table in reversed(metadata.sorted_tables):  # children before the runs they belong to
            if table.name in tables and "thread_id" in table.c:
                dst.execute(f"DELETE FROM {table.name} WHERE thread_id IN (SELECT thread_id FROM gone)")
        if "images" in tables:  # bytes no kept run shows
            dst.execute("DELETE FROM images WHERE sha256 NOT IN (SELECT sha256 FROM run_images)")
        for name in CHECKPOINT_TABLES:
            if name in tables:
                dst.execute(f"DELETE FROM {name}")
        dst.commit()
        kept = dst.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        dst.execute("VACUUM")
    finally:
        src.close()
        dst.close()
    return kept, left_out
