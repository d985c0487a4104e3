"""The live progress of `pdr run` and `pdr resume`, on stderr."""

from __future__ import annotations

from typing import Any

from rich.live import Live

from langgraph_pdr.cli.common import console, shorten


class Progress:
    """Live progress on stderr: round r of R (`window` for self-consistency in windows), drafts done /
    launched, tokens so far, workspace size, and under it each draft being written: its tokens so far
    and its latest line.

    A terminal gets the live lines; a file or a pipe gets a line per finished round and workspace.
    """

    def __init__(self, enabled: bool, *, unit: str = "round") -> None:
        self.enabled = enabled
        self.unit = unit
        self.round = self.rounds = self.launched = self.done = self.tokens = self.tool_calls = 0
        self.workspace = ""
        self.writing: dict[tuple[int, int], list[Any]] = {}  # (round, index) -> [tokens, text's tail]
        self.live: Any = None
        self.console = console(stderr=True)

    def __enter__(self) -> Progress:
        if self.enabled and self.console.is_terminal:
            self.live = Live(self._text(), console=self.console, refresh_per_second=8, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the live display off the terminal, and print no more (a last line goes below it)."""
        self.enabled = False
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _text(self) -> str:
        if not self.round:
            return "starting…"
        ws = f" · workspace {self.workspace}" if self.workspace else ""
        tools = f" · {self.tool_calls} tool call(s)" if self.tool_calls else ""
        lines = [
            f"{self.unit} {self.round}/{self.rounds} · drafts {self.done}/{self.launched} · "
            f"{self.tokens:,} tokens{tools}{ws}"
        ]
        width = max(self.console.width - 32, 20)
        for (r, i), (written, tail) in sorted(self.writing.items()):
            latest = tail.rstrip("\n").rsplit("\n", 1)[-1]
            lines.append(f"  draft r{r}.{i} · {written:,} tokens · {shorten(latest, width)}")
        return "\n".join(lines)

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        self.tokens += int(event.get("tokens") or 0)
        if kind == "round_started":
            self.round, self.rounds = event["round"], event["rounds"]
            self.launched, self.done = event["drafts"], 0
        elif kind == "draft_delta":
            entry = self.writing.setdefault((event["round"], event["index"]), [0, ""])
            entry[0] = int(event.get("written") or 0)
            entry[1] = (entry[1] + str(event.get("text") or ""))[-400:]
        elif kind in ("draft_finished", "draft_failed"):
            self.done += 1
            self.writing.pop((event.get("round", 0), event.get("index", 0)), None)
        elif kind == "tool_called":
            self.tool_calls += 1
        elif kind == "workspace_built":
            sizes = [w["tokens"] for w in event.get("workspaces", [])]
            self.workspace = f"{max(sizes)} tokens" if sizes else ""
        if not self.enabled:
            return
        if self.live is not None:
            self.live.update(self._text())
        elif kind in ("round_finished", "workspace_built", "run_stopping"):
            self.console.print(
                self._text() + ("" if kind != "run_stopping" else f" · stopping: {event.get('reason')}")
            )
