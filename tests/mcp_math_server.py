"""A small MCP server for tests (stdio): `add` two integers, `fail` always. Each call is appended to the
file named by `$MCP_CALL_LOG`, so a test can count the calls a run made."""

from __future__ import annotations

import os

from mcp.server.fastmcp import FastMCP

server = FastMCP("math", log_level="WARNING")


def _log(line: str) -> None:
    path = os.environ.get("MCP_CALL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    _log(f"add {a} {b}")
    return a + b


@server.tool()
def fail(reason: str = "no reason") -> str:
    """A tool that always fails."""
    _log(f"fail {reason}")
    raise RuntimeError(f"the tool failed on purpose: {reason}")


if __name__ == "__main__":
    server.run("stdio")
