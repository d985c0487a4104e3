"""MCP servers' tools for drafts: the servers an MCP config names, as LangChain tools a tool-using draft
calls like the built-in `python` tool (same per-turn records, `max_tool_calls`, `tool_timeout`, results
cut to `TOOL_RESULT_TOKENS`), through `langchain-mcp-adapters` (`pip install "langgraph-pdr[mcp]"`).

An MCP config is either the `mcpServers` JSON desktop clients use (Claude Desktop, Cursor, VS Code):

    {"mcpServers": {"math": {"command": "python", "args": ["math_server.py"], "env": {}},
                    "search": {"url": "http://127.0.0.1:8000/mcp"}}}

(`command`: a stdio server the tool calls start; `url`: streamable HTTP, or SSE with `"type": "sse"`;
a server with `"disabled": true` is left out), or the connections of langchain-mcp-adapters'
`MultiServerMCPClient` (each with its `transport`), as a file or a dict. Each tool call opens its own
session with its server (for a stdio server, a process of its own), so calls from parallel drafts and
threads never share one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

__all__ = ["MCP_MISSING", "load_mcp_tools", "mcp_connections"]

MCP_MISSING = "MCP tools need langchain-mcp-adapters: pip install 'langgraph-pdr[mcp]'"

#: The keys each kind of server keeps (a client's own keys, such as `alwaysAllow`, are left out).
_KEYS = {
    "stdio": ("command", "args", "env", "cwd", "encoding"),
    "streamable_http": ("url", "headers", "timeout"),
    "sse": ("url", "headers", "timeout"),
    "websocket": ("url",),
}
#: `type` values of `mcpServers` entries, as langchain-mcp-adapters names the transports.
_TYPES = {
    "stdio": "stdio",
    "http": "streamable_http",
    "streamable-http": "streamable_http",
    "streamable_http": "streamable_http",
    "sse": "sse",
    "ws": "websocket",
    "websocket": "websocket",
}


def _read(config: str | Path | Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The config as a mapping, and what to call it in a message."""
    if isinstance(config, Mapping):
        return config, "the MCP config"
    path = Path(config).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"mcp_config: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"mcp_config: cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"mcp_config: {path} is not JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"mcp_config: {path} must hold a JSON object")
    return data, str(path)


def _connection(name: str, server: Any, where: str) -> dict[str, Any]:
    if not isinstance(server, Mapping):
        raise ValueError(f"mcp_config: server {name!r} in {where} must be an object")
    if "transport" in server:  # langchain-mcp-adapters' own form
        return dict(server)
    kind = server.get("type")
    if kind is None:
        kind = "stdio" if "command" in server else "http" if "url" in server else None
    transport = _TYPES.get(str(kind))
    if transport is None:
        raise ValueError(
            f"mcp_config: server {name!r} in {where} needs a command (stdio) or a url (HTTP), "
            f"or a type of {', '.join(sorted(_TYPES))}"
        )
    needed = "command" if transport == "stdio" else "url"
    if not isinstance(server.get(needed), str) or not server[needed]:
        raise ValueError(f"mcp_config: server {name!r} in {where} has no {needed}")
    kept = {k: server[k] for k in _KEYS[transport] if server.get(k) is not None}
    if transport == "stdio":
        kept.setdefault("args", [])
    return {"transport": transport, **kept}


def mcp_connections(config: str | Path | Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The servers of an MCP config as langchain-mcp-adapters connections, by server name.

    Args:
        config: a JSON file, or its content as a dict: `{"mcpServers": {...}}` as desktop clients write
            it, or `MultiServerMCPClient`'s connections (`{name: {"transport": ..., ...}}`).

    Raises:
        ValueError: a file that is missing or not JSON, no server, or a server with neither a command
            nor a url (one line, naming the server).

    Example:
        ```python
        from langgraph_pdr.tooling.mcp_client import mcp_connections

        config = {"mcpServers": {
            "math": {"command": "python", "args": ["math_server.py"], "alwaysAllow": ["add"]},
            "search": {"url": "http://127.0.0.1:8000/mcp"},
            "old": {"command": "old-server", "disabled": True},
        }}
        assert mcp_connections(config) == {
            "math": {"transport": "stdio", "command": "python", "args": ["math_server.py"]},
            "search": {"transport": "streamable_http", "url": "http://127.0.0.1:8000/mcp"},
        }
        ```
    """
    data, where = _read(config)
    servers = data.get("mcpServers", data.get("servers", data))
    if not isinstance(servers, Mapping):
        raise ValueError(f"mcp_config: mcpServers in {where} must be an object of servers by name")
    connections = {
        str(name): _connection(str(name), server, where)
        for name, server in servers.items()
        if not (isinstance(server, Mapping) and server.get("disabled"))
    }
    if not connections:
        raise ValueError(f"mcp_config: {where} names no MCP server")
    return connections


def _first_error(exc: BaseException) -> BaseException:
    """The error inside task groups' `ExceptionGroup`s (what failed, not where)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def load_mcp_tools(config: str | Path | Mapping[str, Any]) -> list[BaseTool]:
    """The tools of every server of an MCP config, as LangChain tools for `run_pdr(tools=...)`.

    Each server is asked for its tools now; each call of a tool then opens its own session. A tool
    that reports an error (`isError`) raises `ToolException`, which a draft records as the call's
    error result. Tools keep their servers' names: two tools of one name are an error when the run
    starts (rename one in its server).

    Args:
        config: an MCP config (see `mcp_connections`).

    Raises:
        ValueError: a bad config (see `mcp_connections`), the `mcp` extra not installed, or a server
            that cannot be started or reached, or does not answer as an MCP server.

    Example:
        ```python
        import asyncio, sys
        from langgraph_pdr.tooling.mcp_client import load_mcp_tools

        try:
            asyncio.run(load_mcp_tools({"mcpServers": {"none": {"command": "no-such-mcp-server"}}}))
        except ValueError as exc:
            error = str(exc)
        assert error.startswith("mcp_config: cannot load the tools of MCP server 'none'")
        ```
    """
    connections = mcp_connections(config)
    try:
        from langchain_mcp_adapters.client import MultiServerMCPClient
    except ImportError:
        raise ValueError(MCP_MISSING) from None
    client = MultiServerMCPClient(connections, handle_tool_errors=False)  # type: ignore[arg-type]
    tools: list[BaseTool] = []
    for name in connections:
        try:
            tools += await client.get_tools(server_name=name)
        except Exception as exc:
            error = _first_error(exc)
            detail = f"{type(error).__name__}: {error}".splitlines()[0]
            raise ValueError(f"mcp_config: cannot load the tools of MCP server {name!r}: {detail}") from None
    return tools
