"""A name → implementation table for pluggable parts (the distillers, the prompt sets, the tools, the
verifiers).

Declared here, beside the config that names its entries, so that `PDRConfig` can check a name when it is
built; `nodes/distill` fills it with the built-in distillers and users add their own through
`langgraph_pdr.register_distiller`. Each table names the module that fills it with its built-in
entries, imported on the table's first use (not when the package is imported: `pdr --help` starts fast).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A small named registry whose lookups fail with a message that lists the allowed names."""

    def __init__(self, kind: str, *, builtins: str | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._builtins = builtins  # the module that registers the built-in entries
        self._ready = builtins is None
        self._loading = False
        self._lock = threading.RLock()

    def _load(self) -> None:
        """Import the module of the built-in entries, once (it registers them); other threads wait
        for it, and its own registrations, made while it is imported, go through."""
        if self._ready:
            return
        with self._lock:
            if self._ready or self._loading:
                return
            self._loading = True
            try:
                importlib.import_module(str(self._builtins))
            finally:
                self._loading, self._ready = False, True

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        self._load()
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"{self.kind} name must be a non-empty identifier, got {name!r}")
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True)")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise ValueError(
                f"{self.kind}: unknown {self.kind} {name!r}; allowed: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


class Missing:
    """What a registry holds for a name a stored run uses that this process has not registered (a
    user's verifier in another process): the run's config reads, and running it says what is missing.
    """

    def __init__(self, name: str) -> None:
        self.name = name


DISTILLERS: Registry[type] = Registry("distiller", builtins="langgraph_pdr.nodes.distill")
"""Distiller classes by name; see `langgraph_pdr.nodes.distill`."""

PROMPT_SETS: Registry[Any] = Registry("prompt set", builtins="langgraph_pdr.prompting.prompt_catalog")
"""Prompt sets by name; see `langgraph_pdr.prompting.prompt_catalog`."""

TOOLS: Registry[Any] = Registry("tool", builtins="langgraph_pdr.tooling.toolbox")
"""Built-in tools by name (factories of LangChain tools); see `langgraph_pdr.tooling.toolbox`."""

VERIFIERS: Registry[Any] = Registry("verifier", builtins="langgraph_pdr.checking")
"""Verifiers by name; see `langgraph_pdr.checking`."""
