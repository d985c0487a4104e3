"""The live progress of `pdr run` and `pdr resume`, on stderr."""

from __future__ import annotations

from typing import Any

from rich.live import Live

from langgraph_pdr.calls.retry import retry_text
from langgraph_pdr.cli.common import console, shorten

#: The role of a draft's calls (first and refine drafts alike), shown on the draft's own line.
DRAFT_ROLES = ("draft",)


class Progress:
    """Live progress on stderr: round r of R (`window` for self-consistency in windows), drafts done /
    launched, tokens so far, workspace size, and under it each draft being written: its tokens so far
    and its latest line.

    A call being retried after a provider error shows as `retrying after 429 (2 of 4)`: on its
    draft's line, else on the first line, until it returns.

    A terminal gets the live lines; a file or a pipe gets a line per finished round and workspace, and
    one per retry.
    """

    def __init__(self, enabled: bool, *, unit: str = "round") -> None:
        self.enabled = enabled
        self.unit = unit
        self.round = self.rounds = self.launched = self.done = self.tokens = self.tool_calls = 0
        self.workspace = ""
        self.writing: dict[tuple[int, int], list[Any]] = {}  # (round, index) -> [tokens, text's tail]
        self.retrying: dict[tuple[str, int, int], str] = {}  # (role, round, index) -> its retry
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
        drafts = set(self.writing) | {(r, i) for role, r, i in self.retrying if role in DRAFT_ROLES}
        for r, i in sorted(drafts):
            written, tail = self.writing.get((r, i), (0, ""))
            latest = tail.rstrip("\n").rsplit("\n", 1)[-1]
            shown = self.retrying.get(("draft", r, i)) or shorten(latest, width)
            lines.append(f"  draft r{r}.{i} · {written:,} tokens · {shown}")
        for (role, r, i), text in sorted(self.retrying.items()):
            if role not in DRAFT_ROLES:
                lines[0] += f" · {role} r{r}.{i} {text}"
        return "\n".join(lines)

    def _returned(self, event: dict) -> None:
        """Forget the retries an event shows are over: a draft's, once it finished or failed; every
        other call's, at any later event of its round but a retry."""
        at = (event.get("round", 0), event.get("index", 0))
        for key in list(self.retrying):
            role, r, i = key
            if role in DRAFT_ROLES:
                if (r, i) == at and event.get("event") in ("draft_finished", "draft_failed"):
                    del self.retrying[key]
            elif event.get("round", 0) >= r:
                del self.retrying[key]

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
        elif kind == "call_retrying":
            at = (str(event.get("role")), event.get("round", 0), event.get("index", 0))
            self.retrying[at] = retry_text(event)
        elif kind == "tool_called":
            self.tool_calls += 1
        elif kind == "workspace_built":
            sizes = [w["tokens"] for w in event.get("workspaces", [])]
            self.workspace = f"{max(sizes)} tokens" if sizes else ""
        if kind not in ("call_retrying", "draft_delta"):  # a retried call is back (or done for)
            self._returned(event)
        elif kind == "draft_delta":
            self.retrying.pop(("draft", event.get("round", 0), event.get("index", 0)), None)
        if not self.enabled:
            return
        if self.live is not None:
            self.live.update(self._text())
        elif kind == "call_retrying":
            call = f"{event.get('role')} r{event.get('round')}.{event.get('index')}"
            self.console.print(f"{self.unit} {self.round}/{self.rounds} · {call} {retry_text(event)}")
        elif kind in ("round_finished", "workspace_built", "run_stopping"):
            self.console.print(
                self._text() + ("" if kind != "run_stopping" else f" · stopping: {event.get('reason')}")
            )
