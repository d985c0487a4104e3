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


def refusal_status(exc: BaseException) -> int | None:
    """The HTTP status of a request the provider refused for what it is (400, 401, 403, 404, 422, ...,
    not a rate limit or a timeout): sent again unchanged, it fails again. None for any other error.

    Example:
        ```python
        from langgraph_pdr.calls.retry import refusal_status

        class Refused(Exception):
            status_code = 400

        class Limited(Exception):
            status_code = 429

        assert refusal_status(Refused()) == 400
        assert refusal_status(Limited()) is None and refusal_status(TimeoutError()) is None
        ```
    """
    status = _status(exc)
    if status is None or not 400 <= status < 500 or is_transient(exc):
        return None
    return status


def failure_reason(exc: BaseException) -> str:
    """What a failed attempt is called in progress lines: its HTTP status, else its error's type.

    Example:
        ```python
        from langgraph_pdr.calls.retry import failure_reason

        class RateLimitError(Exception):
            status_code = 429

        assert (failure_reason(RateLimitError()), failure_reason(TimeoutError())) == ("429", "TimeoutError")
        ```
    """
    status = _status(exc)
    return str(status) if status is not None and status >= 400 else type(exc).__name__


def retry_text(event: dict) -> str:
    """What a `call_retrying` event says in progress lines.

    Example:
        ```python
        from langgraph_pdr.calls.retry import retry_text

        event = {"event": "call_retrying", "reason": "429", "attempt": 2, "attempts": 4}
        assert retry_text(event) == "retrying after 429 (2 of 4)"
        ```
    """
    return f"retrying after {event.get('reason')} ({event.get('attempt')} of {event.get('attempts')})"


#: The node metadata naming how many attempts the node's retry policy makes (`retrying` reads it).
ATTEMPTS_METADATA = "pdr_max_attempts"

DEFAULT_RETRY = RetryPolicy(
    max_attempts=4,
    initial_interval=1.0,
    backoff_factor=2.0,
    max_interval=30.0,
    jitter=True,
    retry_on=is_transient,
)
