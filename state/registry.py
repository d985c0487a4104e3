"""A name → implementation table for pluggable parts (the distillers, the prompt sets, the tools).

Declared here, beside the config that names its entries, so that `PDRConfig` can check a name when it is
built; `nodes/distill` fills it with the built-in distillers and users add their own through
`langgraph_pdr.register_distiller`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A small named registry whose lookups fail with a message that lists the allowed names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"{self.kind} name must be a non-empty identifier, got {name!r}")
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True)")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ValueError(
                f"{self.kind}: unknown {self.kind} {name!r}; allowed: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


DISTILLERS: Registry[type] = Registry("distiller")
"""Distiller classes by name; see `langgraph_pdr.nodes.distill`."""

PROMPT_SETS: Registry[Any] = Registry("prompt set")
"""Prompt sets by name; see `langgraph_pdr.nodes.prompts`."""

TOOLS: Registry[Any] = Registry("tool")
"""Built-in tools by name (factories of LangChain tools); see `langgraph_pdr.nodes.tools`."""
