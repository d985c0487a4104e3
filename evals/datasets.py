"""Evaluation problems: the shipped datasets, any JSONL file with `id`, `problem`, `answer` (or code tasks in
EvalPlus's format), and selection."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from langgraph_pdr.evals.code import (
    FIELDS,
    CodeTask,
    code_task,
    is_evalplus,
    question,
    read_rows,
    visible_tests,
)

#: Datasets shipped with the package (provenance in `langgraph_pdr/evals/data/PROVENANCE.md`).
DATASETS: dict[str, str] = {
    "aime2024": "aime2024.jsonl",
    "aime2025": "aime2025.jsonl",
    "gsm8k": "gsm8k_test.jsonl",
    "math500": "math500.jsonl",
    "humanevalplus": "humanevalplus.jsonl.gz",
    "mbppplus": "mbppplus.jsonl.gz",
}


class DatasetError(ValueError):
    """A dataset that cannot be read: unknown name, missing file, malformed row."""


@dataclass(frozen=True)
class Problem:
    """One problem: its id, text and gold answer, and its images (absolute file paths or URLs).

    A code task (EvalPlus's format) has no gold answer: its visible `tests` go to the run's verifier,
    and its hidden tests (`code`) only to the grader."""

    id: str
    problem: str
    answer: str
    dataset: str
    images: tuple[str, ...] = ()
    tests: str | None = None
    code: CodeTask | None = dataclasses.field(default=None, compare=False, repr=False)


def _images(row: dict[str, Any], base: Path | None, where: str) -> tuple[str, ...]:
    """A row's `images`: a list of file paths (relative to the dataset file) or http(s) URLs."""
    value = row.get("images")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DatasetError(f"dataset: {where}: field 'images' must be a list of file paths or URLs")
    out = []
    for item in value:
        if item.startswith(("http://", "https://", "data:")) or base is None:
            out.append(item)
            continue
        path = Path(item).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise DatasetError(f"dataset: {where}: no such image file: {path}")
        out.append(str(path))
    return tuple(out)


def _rows(text: str, where: str, dataset: str, base: Path | None = None) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"dataset: {where}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"dataset: {where}:{number}: expected a JSON object")
        for field in ("id", "problem", "answer"):
            value = row.get(field)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and field != "problem":
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                raise DatasetError(f"dataset: {where}:{number}: field {field!r} must be a non-empty string")
            row[field] = value
        if row["id"] in seen:
            raise DatasetError(f"dataset: {where}:{number}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        images = _images(row, base, f"{where}:{number}")
        problems.append(Problem(row["id"], row["problem"], row["answer"], dataset, images))
    if not problems:
        raise DatasetError(f"dataset: {where} has no problems")
    return problems


def _code_rows(rows: list[dict[str, Any]], where: str, dataset: str) -> list[Problem]:
    """Code tasks in EvalPlus's format: the prompt as the question, its examples as visible tests."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not is_evalplus(row):
            raise DatasetError(
                f"dataset: {where}:{number}: not an EvalPlus task (fields {', '.join(FIELDS)})"
            )
        task = code_task(row)
        if task.task_id in seen:
            raise DatasetError(f"dataset: {where}:{number}: duplicate task_id {task.task_id!r}")
        seen.add(task.task_id)
        tests = visible_tests(task)
        problems.append(Problem(task.task_id, question(task), "", dataset, tests=tests or None, code=task))
    if not problems:
        raise DatasetError(f"dataset: {where} has no problems")
    return problems


def _parse(data: bytes, where: str, dataset: str, base: Path | None = None) -> list[Problem]:
    """A file's problems: EvalPlus code tasks when its first row has their fields, else `_rows`."""
    try:
        rows = read_rows(data)
    except (OSError, EOFError) as exc:  # a corrupt gzip stream
        raise DatasetError(f"dataset: cannot read {where}: {exc}") from None
    except (ValueError, UnicodeDecodeError):
        rows = []  # `_rows` names the line that is not JSON
    if rows and isinstance(rows[0], dict) and is_evalplus(rows[0]):
        return _code_rows(rows, where, dataset)
    try:
        text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DatasetError(f"dataset: cannot read {where}: {exc}") from None
    return _rows(text, where, dataset, base)


def load_dataset(name_or_path: str | Path) -> list[Problem]:
    """The problems of a shipped dataset (`aime2024`, `aime2025`, `gsm8k`, `math500`, and the code
    datasets `humanevalplus` and `mbppplus`) or a JSONL file (`.jsonl`, or gzipped `.jsonl.gz`).

    Each line of a file is an object with string fields `id`, `problem` and `answer`, and optionally
    `images`, a list of image files (relative to the file) or URLs; other fields are ignored; ids must be
    unique. A file of code tasks in EvalPlus's format (fields `task_id`, `prompt`, `entry_point`,
    `canonical_solution`, `base_input`, `plus_input`, optionally `atol`) is recognised by its fields:
    each task's prompt is the question, its examples are the visible tests, and its inputs grade the
    run's program (`langgraph_pdr.evals.code`).

    Raises:
        DatasetError: an unknown name, a missing file, or a malformed row (with its line number).

    Example:
        ```python
        from langgraph_pdr.evals import load_dataset

        problems = load_dataset("gsm8k")
        assert problems[0].id == "gsm8k-test-0000" and problems[0].answer == "18"
        ```
    """
    text = str(name_or_path)
    if text in DATASETS:
        data = resources.files("langgraph_pdr.evals").joinpath("data", DATASETS[text]).read_bytes()
        return _parse(data, text, text)
    path = Path(text).expanduser()
    if not path.name.endswith((".jsonl", ".jsonl.gz")) and not path.exists():
        raise DatasetError(
            f"dataset: unknown dataset {text!r}; use one of {', '.join(DATASETS)} or a .jsonl file"
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"dataset: no such file: {path}") from None
    except OSError as exc:
        raise DatasetError(f"dataset: cannot read {path}: {exc}") from None
    stem = path.name.removesuffix(".gz").removesuffix(".jsonl")
    return _parse(data, str(path), stem, path.resolve().parent)


def select(
    problems: list[Problem],
    *,
    offset: int = 0,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
) -> list[Problem]:
    """Skip `offset` problems, draw `sample` of the rest at random (seeded; file order kept), keep
    the first `limit`."""
    chosen = problems[offset:]
    if sample is not None and sample < len(chosen):
        keep = set(random.Random(seed).sample(range(len(chosen)), sample))
        chosen = [p for i, p in enumerate(chosen) if i in keep]
    if limit is not None:
        chosen = chosen[:limit]
    if not chosen:
        raise DatasetError("dataset: the selection (--offset/--limit/--sample) holds no problem")
    return chosen
