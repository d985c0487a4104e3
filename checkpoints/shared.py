"""`Shared`: one object per key in this process (an engine, a connection), made by its first user and
handed back by its last, reference-counted.

Example:
    ```python
    from langgraph_pdr.checkpoints.shared import Shared

    shared = Shared()
    first = shared.acquire("runs.sqlite", dict)
    assert shared.acquire("runs.sqlite", dict) is first  # a second user gets the same one
    assert shared.release("runs.sqlite") is None  # still in use
    assert shared.release("runs.sqlite") is first  # the last user closes it
    ```
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Shared"]


class Shared:
    """Objects shared by key while anything uses them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[Any, list[Any]] = {}

    def acquire(self, key: Any, make: Callable[[], Any]) -> Any:
        """The object of `key`, made by `make()` when nothing holds one; one more user of it."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                item = self._items[key] = [make(), 0]
            item[1] += 1
            return item[0]

    def release(self, key: Any) -> Any | None:
        """One user less: the object to close when this was its last user, else None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            item[1] -= 1
            if item[1] > 0:
                return None
            del self._items[key]
            return item[0]
