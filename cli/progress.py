"""The live progress of `pdr run` and `pdr resume`, on stderr."""

from __future__ import annotations

from typing import Any

from rich.live import Live

from langgraph_pdr.cli.common import console


class Progress:
    """Live progress on stderr: round r of R, drafts done / launched, tokens so far, workspace size.

    A terminal gets one live line; a file or a pipe gets a line per finished round and workspace.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.round = self.rounds = self.launched = self.done = self.tokens = 0
        self.workspace = ""
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
        return (
            f"round {self.round}/{self.rounds} · drafts {self.done}/{self.launched} · "
            f"{self.tokens:,} tokens{ws}"
        )

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        self.tokens += int(event.get("tokens") or 0)
        if kind == "round_started":
            self.round, self.rounds = event["round"], event["rounds"]
            self.launched, self.done = event["drafts"], 0
        elif kind in ("draft_finished", "draft_failed"):
            self.done += 1
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
