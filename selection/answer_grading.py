"""Grading an answer against a gold answer with math-verify, safely from any thread."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from langgraph_pdr.selection.answer_votes import last_boxed

GRADE_TIMEOUT_S = 5.0
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pdr-grade")
# math-verify warns that its signal-based timeouts are off in threads; ours bounds the time
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def _grade(text: str, gold: str, use_signals: bool) -> bool:
    from math_verify import parse, verify

    timeout = {} if use_signals else {"parsing_timeout": None}
    boxed = last_boxed(text)
    target = parse("\\boxed{" + boxed + "}" if boxed is not None else text, **timeout)
    expected = parse("$" + gold + "$", **timeout)
    if not expected:
        expected = parse(gold, **timeout)
    return bool(verify(expected, target, **({} if use_signals else {"timeout_seconds": None})))


_WARM = threading.Lock()
_warmed = False


def _warm_up() -> None:
    """Grade once, untimed: math-verify's first grade in a process loads its parsers (about 2 s on a
    quiet 2-core machine, several times that under load), which must not count against a grade's
    time limit: a right answer would be graded wrong."""
    global _warmed
    if _warmed:
        return
    with _WARM:
        if not _warmed:
            _grade("\\boxed{1}", "1", use_signals=False)
            _warmed = True


def is_correct(text: str, gold: str, *, timeout: float = GRADE_TIMEOUT_S) -> bool:
    """Whether the last `\\boxed{}` of `text` (else its last expression) equals `gold`.

    math-verify's own time limits use `signal.alarm`, which works only in the main thread; elsewhere
    (graph nodes run in worker threads) the check runs on a small pool and gives up after `timeout`
    seconds, counting the answer wrong.
    """
    if not text or gold is None:
        return False
    _warm_up()
    try:
        if threading.current_thread() is threading.main_thread():
            return _grade(text, gold, use_signals=True)
        return _POOL.submit(_grade, text, gold, False).result(timeout=timeout)
    except FutureTimeout:
        return False
    except Exception:  # math-verify raises on inputs it cannot read: not a match
        return False
