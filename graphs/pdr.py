"""`create_pdr_graph`: every method as one LangGraph state machine with one accounting.

```
START → begin_round ─(Send × M_r)→ draft → collect ─(Send × M_r)→ check → checked ─┐
            ▲   └─────→ finalize ←────────┴─────────────────────────────┤         │
            │                                                           ▼         │
            │   (last round, passed, converged,      distill ← verify ←(Send × M_r)
            │    or a stage refused by a cap)           │
            └───────────────────────────────────────────┘
```

`begin_round` reserves the round's worst case against the caps and fans drafts out with `Send`;
`collect` joins them; with a verifier, `check` checks each draft (no model call) and `checked` joins the
checks; `verify` fans out the same way when the distiller ranks by score; `distill` builds the next
round's workspaces; the loop ends when the schedule does. SR rewrites its previous solution
(`distill` keeps it, cut to κ), SR with error analysis adds `critique`; the baselines are one round that
`finalize` votes on (self-consistency) or picks by verification score (best-of-N), and self-consistency
in windows (schedule 4,4) goes back to `begin_round` for each next window, votes over all of them.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from functools import partial
from typing import Any

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy

from langgraph_pdr.calls.retry import ATTEMPTS_METADATA, DEFAULT_RETRY
from langgraph_pdr.graphs.draw import FAN_OUT_TEXT_MARK, annotate, ascii_art, draw_image, draw_png, mermaid
from langgraph_pdr.nodes.check import acheck, check
from langgraph_pdr.nodes.collect import after_checked, after_collect, checked, collect
from langgraph_pdr.nodes.critique import acritique, critique
from langgraph_pdr.nodes.distill.node import adistill, distill
from langgraph_pdr.nodes.draft import adraft, begin_round, draft, draft_failed, send_drafts
from langgraph_pdr.nodes.finalize import afinalize, finalize
from langgraph_pdr.nodes.verify import averify, verify, verify_failed
from langgraph_pdr.state.config import FAMILIES, PDRConfig
from langgraph_pdr.state.context import PDRContext
from langgraph_pdr.state.graph_state import CheckTask, DraftTask, PDRInput, PDROutput, PDRState, VerifyTask

#: Supersteps a round can take (begin, draft, error handlers, collect, check, checked, verify, distill,
#: critique).
STEPS_PER_ROUND = 10


def create_pdr_graph(
    config: PDRConfig | None = None,
    *,
    retry_policy: RetryPolicy | None = None,
    context_schema: type = PDRContext,
    tools: Sequence[BaseTool] | None = None,
) -> StateGraph[PDRState, Any, PDRInput, PDROutput]:
    """Build the (uncompiled) graph of `config.method`.

    Methods share graphs by family: `pdr`; `sr` and `sr_error`; `single`, `self_consistency` and
    `best_of_n`. The nodes read the model, the token counter and the recorder from the runtime context
    (`PDRContext`); `context.config`, when set, overrides `config` for a method of the same family.
    Compile it with the checkpointer you want, and invoke it with `graph_config(config)` so wide rounds
    really run in parallel.

    Args:
        config: the run configuration (default `PDRConfig()`: PDR, schedule 4,2,1, global summary).
        retry_policy: retries of model-calling nodes (default: transient errors, 4 attempts with
            exponential backoff). A draft whose retries are spent becomes a failure record.
        context_schema: the runtime context's type: `PDRContext` (live objects), or `ServerContext`
            (JSON: a model id, a base URL, a config) for servers such as `langgraph dev`.
        tools: LangChain tools every draft may call, besides the built-in ones `config.tools` names;
            `PDRContext(tools=...)` replaces them for one invocation. With tools, a draft is a loop
            of model turns and tool calls (see `langgraph_pdr.runtime.tool_loop`).

    Returns:
        The `StateGraph`, with input `{question, gold?}` and output
        `{answer, text, b_seq, b_total, stop_reason}`.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, PDRContext, create_pdr_graph, graph_config

        config = PDRConfig(method="single")
        graph = create_pdr_graph(config).compile()
        model = GenericFakeChatModel(messages=iter([AIMessage("1 + 1 = \\\\boxed{2}")]))
        out = graph.invoke(
            {"question": "What is 1 + 1?"}, graph_config(config), context=PDRContext(model=model)
        )
        assert out["answer"] == "2"
        ```
    """
    config = config or PDRConfig()
    method = config.method
    policy = retry_policy or DEFAULT_RETRY
    # the node's calls read its attempts from its metadata, to say "retrying after 429 (2 of 4)"
    retry: dict[str, Any] = {"retry_policy": policy, "metadata": {ATTEMPTS_METADATA: policy.max_attempts}}

    extra = list(tools or [])

    def bind(fn: Any) -> Any:
        return partial(fn, default_config=config)

    def with_tools(fn: Any) -> Any:
        return partial(fn, default_config=config, default_tools=extra)

    def dual(name: str, fn: Any, afn: Any, binder: Any = bind) -> RunnableLambda[Any, Any]:
        return RunnableLambda(_signed(binder(fn)), afunc=_signed(binder(afn)), name=name)

    builder = StateGraph(
        PDRState, context_schema=context_schema, input_schema=PDRInput, output_schema=PDROutput
    )
    builder.add_node("begin_round", with_tools(begin_round))
    builder.add_node(
        "draft",
        dual("draft", draft, adraft, with_tools),
        input_schema=DraftTask,
        **retry,
        error_handler=bind(draft_failed),
    )
    builder.add_node("collect", bind(collect))
    # the run's verifier checks each draft (no model call); `checked` joins the checks
    builder.add_node("check", dual("check", check, acheck), input_schema=CheckTask)
    builder.add_node("checked", bind(checked))
    builder.add_edge("check", "checked")
    # finalize calls the model when a tournament picks the answer (`selector="tournament"`)
    builder.add_node("finalize", dual("finalize", finalize, afinalize), **retry)
    builder.add_edge(START, "begin_round")
    builder.add_conditional_edges("begin_round", bind(send_drafts), ["draft", "finalize"])
    builder.add_edge("draft", "collect")
    # a round whose every draft failed still reaches its join, through the error handler
    builder.add_edge(_handler("draft"), "collect")
    builder.add_edge("finalize", END)

    family = FAMILIES[method]
    if family in ("pdr", "sample"):
        builder.add_node(
            "verify",
            dual("verify", verify, averify),
            input_schema=VerifyTask,
            **retry,
            error_handler=bind(verify_failed),
        )
        after_verify = "distill" if family == "pdr" else "finalize"
        builder.add_edge("verify", after_verify)
        builder.add_edge(_handler("verify"), after_verify)
    if family in ("pdr", "sr"):
        builder.add_node("distill", dual("distill", distill, adistill), **retry)
        builder.add_conditional_edges("distill", _unless_stopped("begin_round"), ["begin_round", "finalize"])
    if family == "sr":
        builder.add_node("critique", dual("critique", critique, acritique), **retry)
        builder.add_conditional_edges("critique", _unless_stopped("distill"), ["distill", "finalize"])
    paths = {"pdr": ["verify", "distill"], "sr": ["critique", "distill"], "sample": ["verify", "begin_round"]}
    builder.add_conditional_edges("collect", bind(after_collect), ["check", *paths[family], "finalize"])
    builder.add_conditional_edges("checked", bind(after_checked), [*paths[family], "finalize"])
    return builder


def _signed(fn: partial[Any]) -> partial[Any]:
    """`fn` with its signature worked out once: `RunnableLambda` inspects its function's signature on
    every call (for `config` and `run_manager`), and a partial's takes the longest."""
    fn.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return fn


def _unless_stopped(node: str) -> Any:
    """A router to `node`, or to `finalize` once a stage was refused (a cap): the run then ends with
    the drafts it paid for, before a next round would clear them."""

    def route(state: dict[str, Any]) -> str:
        return "finalize" if state.get("stop_reason") else node

    route.__name__ = f"to_{node}_unless_stopped"
    return route


def _handler(node: str) -> str:
    """The node LangGraph adds for `add_node(node, ..., error_handler=...)`."""
    return f"__error_handler__{node}"


def graph_config(
    config: PDRConfig | None = None,
    *,
    thread_id: str | None = None,
    **extra: Any,
) -> RunnableConfig:
    """The invoke config a PDR graph needs: `max_concurrency` (the widest round, unless set) and a
    `recursion_limit` derived from the schedule (LangGraph's default is 10007), plus `thread_id`.

    With the sync `stream()`, add one to `max_concurrency`: LangGraph parks its stream waiter on a
    worker of the same pool, so the widest round would otherwise run one draft short.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, graph_config

        cfg = graph_config(PDRConfig(schedule="16,8,1"), thread_id="run-1")
        assert cfg["max_concurrency"] == 16
        ```
    """
    config = config or PDRConfig()
    out: dict[str, Any] = {
        "max_concurrency": config.concurrency(),
        "recursion_limit": STEPS_PER_ROUND * config.rounds + 10,
        **extra,
    }
    if thread_id is not None:
        out.setdefault("configurable", {})["thread_id"] = thread_id
    return out  # type: ignore[return-value]


def draw_graph(
    config: PDRConfig | None = None, *, format: str = "mermaid", output: str | None = None
) -> str | None:
    """Draw a method's graph offline, with no system package needed.

    The error-handler nodes LangGraph adds beside `draft` and `verify` are left out: they have no
    edges and only clutter the drawing.

    Args:
        config: the run configuration whose method's graph is drawn (default: PDR).
        format: `mermaid` or `ascii` text (returned); `png` or `svg`, an image written to `output`
            (an `svg` without `output` is returned as text). Images are laid out with grandalf and
            drawn with matplotlib, conditional edges dashed; a `png` comes from Graphviz instead when
            pygraphviz is installed.
        output: the file an image is written to (required for `png`).

    Returns:
        The text of a `mermaid`, `ascii` or `svg` drawing; None when a file was written.

    Raises:
        ValueError: an unknown format, or a `png` without `output`.

    Example:
        ```python
        import tempfile
        from pathlib import Path

        from langgraph_pdr import PDRConfig, draw_graph

        assert "critique" in draw_graph(PDRConfig(method="sr_error"))
        png = Path(tempfile.mkdtemp()) / "pdr.png"
        assert draw_graph(PDRConfig(), format="png", output=str(png)) is None
        assert png.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        ```
    """
    graph = create_pdr_graph(config or PDRConfig()).compile().get_graph()
    for name in [n for n in graph.nodes if n.startswith("__error_handler__")]:
        graph.remove_node(graph.nodes[name])
    if format == "mermaid":
        return mermaid(annotate(graph))
    if format == "ascii":
        return ascii_art(annotate(graph, mark=FAN_OUT_TEXT_MARK))
    annotate(graph)
    if format == "png":
        if not output:
            raise ValueError("output: a png drawing needs a file path")
        draw_png(graph, output)
        return None
    if format == "svg":
        svg = draw_image(graph, output, format="svg")
        return None if svg is None else svg.decode("utf-8")
    raise ValueError(f"format: unknown format {format!r}; allowed: mermaid, ascii, png, svg")
