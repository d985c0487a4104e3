"""Which model-call failures are worth retrying, and the default retry policy of model-calling nodes."""

from __future__ import annotations

from langgraph.types import RetryPolicy

TRANSIENT_STATUS = {408, 409, 425, 429}


def _status(exc: BaseException) -> int | None:
    for holder in (exc, getattr(exc, "response", None)):
        code = getattr(holder, "status_code", None) or getattr(holder, "code", None)
        if isinstance(code, int):
            return code
    return None


def is_transient(exc: BaseException) -> bool:
    """Rate limits, server errors, timeouts, dropped connections, empty completions and bodies that
    are not JSON: yes. Bad requests, auth, a spent budget: no."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    status = _status(exc)
    if status is not None and status >= 400:
        return status in TRANSIENT_STATUS or 500 <= status < 600
    name = type(exc).__name__
    transient_names = (
        "APIConnectionError",
        "APITimeoutError",
        "ConnectError",
        "ReadTimeout",
        "RemoteProtocolError",
        "ReadError",
        "WriteError",
        "PoolTimeout",
        "ConnectTimeout",
        "ServiceUnavailable",
        "DeadlineExceeded",
        "EmptyCompletion",
        "JSONDecodeError",
    )
    return any(c.__name__ in transient_names for c in type(exc).__mro__) or name in transient_names


DEFAULT_RETRY = RetryPolicy(
    max_attempts=4,
    initial_interval=1.0,
    backoff_factor=2.0,
    max_interval=30.0,
    jitter=True,
    retry_on=is_transient,
)
