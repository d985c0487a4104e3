"""PDR as an MCP server (`pdr mcp`), on the official MCP Python SDK (`pip install "langgraph-pdr[mcp]"`).

Tools: `solve` answers a question through PDR (or any method), sending an MCP progress notification per
round, per draft and per workspace as the run makes them, and returns the answer as text and, as
structured content, `answer`, `thread_id`, `stop_reason`, `b_seq`, `b_total`; `inspect_run` returns a
run's rounds, drafts, workspaces and budgets; `list_runs` the stored runs; `resume_run` finishes an
interrupted run. Every run is checkpointed in the server's database: a client that cancels a `solve`
(or a server that stops) leaves the run `interrupted`, and `resume_run` finishes it, re-running only what
did not finish. A bad argument is a tool error of one line.

Served over stdio (what desktop clients start) or streamable HTTP (`serve_mcp`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

import anyio
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field, ValidationError

from langgraph_pdr.checkpoints.ledger import FINISHED
from langgraph_pdr.integrations.asgi import listening, run_app
from langgraph_pdr.integrations.openai_endpoint import describe
from langgraph_pdr.local_model import resolve_run_config
from langgraph_pdr.models import OpenModel, is_local_model, model_spec, open_model
from langgraph_pdr.runner import aresume_pdr, arun_pdr, checked_config, inspect_run, list_runs
from langgraph_pdr.runner.execution import refusal_hint
from langgraph_pdr.state.config import Method, PDRConfig, error_line
from langgraph_pdr.state.result import PDRResult

__all__ = ["RUN_OPTIONS", "Solved", "create_mcp_server", "serve_mcp"]

Transport = Literal["stdio", "streamable-http"]
TRANSPORTS: tuple[Transport, ...] = ("stdio", "streamable-http")

#: The `solve` arguments that are `PDRConfig` fields (a new option is one more argument of `solve` and
#: one more name here).
RUN_OPTIONS = (
    "method",
    "schedule",
    "distiller",
    "k",
    "kappa",
    "max_tokens",
    "early_stop",
    "verifier",
    "stop_on_pass",
    "pass_quorum",
)

#: `early_stop="off"`: never stop early, whatever the model's defaults say.
EARLY_STOP_OFF = "off"


class Solved(BaseModel):
    """The structured content of `solve` and `resume_run`."""

    answer: str | None = Field(description="the final answer (the last \\boxed{} of the final text)")
    thread_id: str = Field(description="the run's id: inspect_run and resume_run take it")
    stop_reason: str = Field(description="completed, converged, unfinished, a budget cap, ...")
    b_seq: int = Field(description="tokens on the critical path (the latency proxy)")
    b_total: int = Field(description="tokens of every call")


def _solved(result: PDRResult) -> Annotated[CallToolResult, Solved]:
    """The answer as text (the final text, then one line of outcome) and as structured content."""
    solved = Solved(
        answer=result.answer,
        thread_id=result.thread_id,
        stop_reason=result.stop_reason,
        b_seq=result.b_seq,
        b_total=result.b_total,
    )
    if result.stop_reason == "no_drafts":
        failed = [d.error for r in result.rounds for d in r.drafts if d.error]
        detail = f" ({failed[-1]})" if failed else ""
        raise ToolError(
            f"every draft of the last round failed{detail}; resume_run with thread_id "
            f"{result.thread_id!r} sends it again"
        )
    answer = result.answer if result.answer is not None else "(none)"
    line = (
        f"Answer: {answer}   thread_id: {result.thread_id}   stop: {result.stop_reason}   "
        f"B_seq: {result.b_seq:,}   B_total: {result.b_total:,}"
    )
    text = f"{result.text.strip()}\n\n{line}" if result.text.strip() else line
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structuredContent=solved.model_dump(mode="json")
    )


def _tool_error(exc: BaseException, thread_id: str | None = None) -> ToolError:
    """One line for the client: a bad argument says which, a failed run how to continue it."""
    if isinstance(exc, ValueError):  # a bad argument, config, model or thread id (ValidationError too)
        return ToolError(error_line(exc))
    hint = f"; resume_run with thread_id {thread_id!r} continues it" if thread_id else ""
    refused = refusal_hint(exc)
    if refused:  # resuming would send the same request again
        hint = f"; {refused}"
    return ToolError(f"the run failed: {type(exc).__name__}: {error_line(exc)}{hint}")


class _ClearErrors(FastMCP):
    """FastMCP, with each tool error as one line: arguments that fail validation are named
    (`question: Field required`), not reported as pydantic's multi-line text."""

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        try:
            return await super().call_tool(name, arguments)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ToolError):
                raise cause from None
            if isinstance(cause, ValidationError):
                raise ToolError(error_line(cause)) from None
            raise


async def _report(ctx: Context[Any, Any, Any], progress: int, message: str) -> None:
    """A progress notification, when the client asked for them (and the call came from a client)."""
    try:
        await ctx.report_progress(progress, message=message)
    except ValueError:  # called directly, outside an MCP request: nobody to tell
        pass


class _Runs:
    """The runs this server is making, so a `resume_run` waits for a cancelled one to record itself."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[PDRResult]] = {}

    async def settled(self, thread_id: str) -> None:
        task = self.tasks.get(thread_id)
        if task is not None:
            await asyncio.wait([task])

    async def run(
        self,
        thread_id: str,
        start: Callable[[Callable[[dict[str, Any]], None]], Coroutine[Any, Any, PDRResult]],
        ctx: Context[Any, Any, Any],
    ) -> PDRResult:
        """`start(on_event)` as a task of its own, each of its events a progress notification. When this
        call is cancelled (the client cancelled it, or the server stops), the run is cancelled and waited
        for: it records itself `interrupted`, and `resume_run` finishes it."""
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        task = asyncio.create_task(start(events.put_nowait))
        task.add_done_callback(lambda _: events.put_nowait(None))
        self.tasks[thread_id] = task
        sent = 0
        try:
            await _report(ctx, sent, f"Run {thread_id} started.")
            while (event := await events.get()) is not None:
                if event.get("event") == "draft_delta":  # tokens as they are written: too many to send
                    continue
                sent += 1
                await _report(ctx, sent, describe(event).strip())
        except BaseException:
            task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])
            raise
        finally:
            if self.tasks.get(thread_id) is task:
                del self.tasks[thread_id]
        return task.result()


def _options(values: dict[str, Any], *, local: bool) -> PDRConfig:
    """The run's `PDRConfig` from `solve`'s options (None: not given); on the embedded local model, its
    defaults fill what the options leave out, as for `pdr run`."""
    given = {k: v for k, v in values.items() if v is not None}
    if isinstance(given.get("early_stop"), str):
        if given["early_stop"].strip().lower() != EARLY_STOP_OFF:
            raise ValueError(f"early_stop: a fraction such as 1.0, or 'off'; got {given['early_stop']!r}")
        given["early_stop"] = None  # named, so no default fills it
    return resolve_run_config(given, local=local)


def _resume_model(model: Any, base_url: str | None, stored: PDRResult) -> Any:
    """The model `resume_run` finishes a run with: the server's, when the run was made with it (or when
    it is a model object); else None, the model the run names (rebuilt, keys from the environment)."""
    if isinstance(model, OpenModel):
        ours = model.spec.id
    elif isinstance(model, str):
        ours = model_spec(model, base_url=base_url).id
    else:
        return model
    return model if stored.model == ours else None


def create_mcp_server(
    *,
    model: Any,
    base_url: str | None = None,
    db: str | None = None,
    timeout: float | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> FastMCP:
    """The MCP server of `pdr mcp`, with the tools `solve`, `inspect_run`, `list_runs` and `resume_run`.

    Args:
        model: the model every run uses: a chat model, a model string (`"local"`, `"openai:gpt-4.1-mini"`,
            a name served at `base_url`), or a model `open_model` opened (what `serve_mcp` passes: the
            local model is then served once for the server's lifetime).
        base_url: an OpenAI-compatible server for a model string.
        db: where runs are checkpointed (default: `$PDR_DB`, else the user data directory).
        timeout: seconds a model call may take (model strings).
        host, port: where streamable HTTP listens (its DNS-rebinding protection allows these).

    Example:
        ```python
        import asyncio
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr.integrations.mcp_endpoint import create_mcp_server

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")]))
        server = create_mcp_server(model=model, db="mcp.sqlite")
        names = [tool.name for tool in asyncio.run(server.list_tools())]
        assert names == ["solve", "inspect_run", "list_runs", "resume_run"]
        result = asyncio.run(server.call_tool("solve", {"question": "What is 17 * 23?", "method": "single"}))
        assert result.structuredContent["answer"] == "391" and not result.isError
        ```
    """
    local = is_local_model(model, base_url)  # a model string, or a model opened from one
    runs = _Runs()
    server = _ClearErrors(
        name="langgraph-pdr",
        instructions="Answer hard questions with Parallel-Distill-Refine: several drafts per round, "
        "distilled into a bounded workspace the next round refines. `solve` answers (a run may take "
        "minutes; progress is reported per round and per draft); `inspect_run` shows what a run did.",
        host=host,
        port=port,
        log_level="WARNING",
    )

    async def solve(
        question: Annotated[str, Field(description="the question to answer")],
        ctx: Context[Any, Any, Any],
        method: Annotated[
            Method | None,
            Field(description="pdr (default), sr, sr_error, single, self_consistency or best_of_n"),
        ] = None,
        schedule: Annotated[
            str | list[int] | None,
            Field(description="drafts per round, e.g. '4,2,1' (PDR) or '1,1,1' (SR)"),
        ] = None,
        distiller: Annotated[
            str | None,
            Field(
                description="how a round's drafts become the next round's workspace: global_summary, "
                "shared_top_k, per_sample_top_k, majority_k, random_k, tournament; verified_top_k or "
                "per_draft_repair with tests"
            ),
        ] = None,
        k: Annotated[int | None, Field(description="drafts an extractive distiller keeps")] = None,
        kappa: Annotated[int | None, Field(description="workspace bound, in tokens")] = None,
        max_tokens: Annotated[int | None, Field(description="max tokens of each draft")] = None,
        early_stop: Annotated[
            float | str | None,
            Field(
                description="end after a round in which at least this fraction of the drafts agree "
                "(e.g. 1.0), or 'off'"
            ),
        ] = None,
        tests: Annotated[
            str | None,
            Field(
                description="for a programming task: Python asserts every draft's program is run against "
                "(e.g. 'assert add(2, 2) == 4'); the answer is then the best-checked program"
            ),
        ] = None,
        verifier: Annotated[
            str | None,
            Field(description="the verifier that checks every draft (default with tests: python_tests)"),
        ] = None,
        stop_on_pass: Annotated[
            bool | None, Field(description="end after the first round in which a draft passes its checks")
        ] = None,
        pass_quorum: Annotated[
            int | None,
            Field(description="with stop_on_pass: end only once this many passing drafts agree (default 1)"),
        ] = None,
        thread_id: Annotated[
            str | None, Field(description="the run's id (default: a new one, in the first progress message)")
        ] = None,
    ) -> Annotated[CallToolResult, Solved]:
        """Answer a question with Parallel-Distill-Refine (or another method), checkpointing every step."""
        given = (
            method,
            schedule,
            distiller,
            k,
            kappa,
            max_tokens,
            early_stop,
            verifier,
            stop_on_pass,
            pass_quorum,
        )
        values = dict(zip(RUN_OPTIONS, given, strict=True))
        try:
            config = checked_config(_options(values, local=local), tests=tests)
        except ValueError as exc:
            raise _tool_error(exc) from None
        tid = thread_id or uuid.uuid4().hex
        try:
            result = await runs.run(
                tid,
                lambda on_event: arun_pdr(
                    question,
                    model=model,
                    base_url=base_url,
                    config=config,
                    db=db,
                    thread_id=tid,
                    timeout=timeout,
                    on_event=on_event,
                    tests=tests,
                ),
                ctx,
            )
        except Exception as exc:
            raise _tool_error(exc, tid) from None
        return _solved(result)

    async def inspect_run_tool(
        thread_id: Annotated[str, Field(description="the run's id (solve returns it; list_runs lists them)")],
    ) -> dict[str, Any]:
        """What a run did: its question, config, status, answer, budgets (B_seq, B_total), and each round's
        drafts, verifications and workspaces, with every model call."""
        try:
            result = await asyncio.to_thread(inspect_run, thread_id, db)
        except Exception as exc:
            raise _tool_error(exc) from None
        data: dict[str, Any] = result.model_dump(mode="json")
        return data

    async def list_runs_tool(
        limit: Annotated[int | None, Field(description="the newest N runs only", ge=1)] = 20,
    ) -> dict[str, Any]:
        """The stored runs, newest first: id, question, method, status, answer, B_seq, B_total."""
        try:
            found = await asyncio.to_thread(list_runs, db, limit=limit)
        except Exception as exc:
            raise _tool_error(exc) from None
        return {"runs": [r.model_dump(mode="json") for r in found]}

    async def resume_run(
        thread_id: Annotated[str, Field(description="the run's id (list_runs lists them)")],
        ctx: Context[Any, Any, Any],
    ) -> Annotated[CallToolResult, Solved]:
        """Finish an interrupted or failed run, re-running only what did not finish (a finished run's
        result is returned as it is)."""
        await runs.settled(thread_id)  # a run cancelled a moment ago records itself first
        try:
            stored = await asyncio.to_thread(inspect_run, thread_id, db)
        except Exception as exc:
            raise _tool_error(exc) from None
        if stored.status in FINISHED:
            return _solved(stored)
        again = _resume_model(model, base_url, stored)
        try:
            result = await runs.run(
                thread_id,
                lambda on_event: aresume_pdr(
                    thread_id,
                    db=db,
                    model=again,
                    base_url=base_url if again is not None else None,
                    timeout=timeout,
                    on_event=on_event,
                ),
                ctx,
            )
        except Exception as exc:
            raise _tool_error(exc, thread_id) from None
        return _solved(result)

    server.add_tool(solve, name="solve")
    server.add_tool(inspect_run_tool, name="inspect_run")
    server.add_tool(list_runs_tool, name="list_runs")
    server.add_tool(resume_run, name="resume_run")
    return server


def serve_mcp(
    *,
    model: Any,
    base_url: str | None = None,
    db: str | None = None,
    timeout: float | None = None,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `create_mcp_server(...)` until the client leaves (stdio) or the process is stopped (HTTP).

    The model is opened once for the server's lifetime (the embedded local model is served meanwhile).
    Over streamable HTTP the endpoint is `http://HOST:PORT/mcp` (port 0 picks a free one);
    `on_ready(url)` is called once it listens.
    """
    if transport not in TRANSPORTS:
        raise ValueError(f"transport: expected {' or '.join(TRANSPORTS)}, got {transport!r}")
    with open_model(model, base_url=base_url, timeout=timeout) as opened:
        if transport == "stdio":
            server = create_mcp_server(model=opened, db=db)
            anyio.run(server.run_stdio_async)
            return
        with listening(host, port) as sock:
            bound = sock.getsockname()[1]
            server = create_mcp_server(model=opened, db=db, host=host, port=bound)
            url = f"http://{host}:{bound}{server.settings.streamable_http_path}"
            run_app(server.streamable_http_app(), sock, None if on_ready is None else lambda: on_ready(url))
