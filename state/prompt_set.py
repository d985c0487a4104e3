"""The declaration of a prompt set: one template per use, checked for its placeholders.

The templates themselves, and the registry of named sets, are in `langgraph_pdr.prompting.prompt_catalog`.
"""

from __future__ import annotations

import hashlib
import string

from pydantic import BaseModel, ConfigDict, model_validator

#: Placeholders each template must use (a template may not use any other).
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "solve": ("question",),
    "refine": ("question", "workspace"),
    "improve": ("question", "workspace"),
    "improve_with_review": ("question", "workspace", "critique"),
    "critique": ("question", "solution"),
    "verify": ("question", "solution"),
    "summary": ("n", "question", "tally", "attempts"),
    "tally": ("tally",),
    "attempt": ("n", "text"),
    "attempt_unfinished": ("n", "text"),
}

#: Templates of tool-using runs only (`PDRConfig(tools=...)`); a set that leaves one out (None) uses
#: the `card` set's. They enter a run's digest only when the run uses tools.
TOOL_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "tools": ("tools",),
    "fenced": (),
    "fenced_output": ("output",),
    "tools_done": (),
    "summary_tools": ("n", "question", "tally", "attempts"),
}

#: Templates of the tournament selector only (`PDRConfig(selector="tournament")`, the `tournament`
#: distiller); a set that leaves one out (None) uses the `card` set's. They enter a run's digest only
#: when the run uses them.
SELECTOR_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "judge": ("question", "first", "second"),
}

#: Templates of runs with a verifier only (`PDRConfig(verifier=...)`, or visible tests); a set that leaves
#: one out (None) uses the `card` set's. They enter a run's digest only when the run checks its drafts.
CHECK_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "solve_program": ("question",),
    "repair": ("question", "workspace"),
    "repair_program": ("question", "workspace"),
    "attempt_checked": ("n", "text", "feedback"),
    "check_tally": ("tally",),
}

#: Every optional template: the tool-using, the selector and the check ones.
OPTIONAL_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    **TOOL_PLACEHOLDERS,
    **SELECTOR_PLACEHOLDERS,
    **CHECK_PLACEHOLDERS,
}


class PromptSet(BaseModel):
    """A named set of prompt templates (Python format strings; see `langgraph_pdr.prompting.prompt_catalog`).

    Example:
        ```python
        from langgraph_pdr.prompting.prompt_catalog import get_prompts

        card = get_prompts("card")
        assert card.solve.format(question="What is 2 + 2?").startswith("What is 2 + 2?")
        assert len(card.digest()) == 8
        ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    solve: str
    refine: str
    improve: str
    improve_with_review: str
    critique: str
    verify: str
    summary: str
    tally: str
    attempt: str
    attempt_unfinished: str
    tools: str | None = None
    fenced: str | None = None
    fenced_output: str | None = None
    tools_done: str | None = None
    summary_tools: str | None = None
    judge: str | None = None
    solve_program: str | None = None
    repair: str | None = None
    repair_program: str | None = None
    attempt_checked: str | None = None
    check_tally: str | None = None

    @model_validator(mode="after")
    def _check_placeholders(self) -> PromptSet:
        for field, needed in {**PLACEHOLDERS, **OPTIONAL_PLACEHOLDERS}.items():
            template = getattr(self, field)
            if template is None:
                continue
            try:
                used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
            except ValueError as exc:
                raise ValueError(
                    f"prompts.{field}: not a format string ({exc}); write {{{{ }}}} for braces"
                ) from None
            if "" in used or any(not n.isidentifier() for n in used):
                raise ValueError(f"prompts.{field}: placeholders must be named, e.g. {{question}}")
            unknown, missing = used - set(needed), set(needed) - used
            if unknown or missing:
                raise ValueError(
                    f"prompts.{field}: uses {{{', '.join(sorted(used))}}}; it must use exactly "
                    f"{{{', '.join(needed)}}}"
                )
        return self

    def digest(self, *, tools: bool = False, judge: bool = False, checks: bool = False) -> str:
        """A short digest of every template (not the name): runs asked other questions are other runs.
        With `tools`, the tool templates count too (a run without tools never reads them); with
        `judge`, the selector's (a run without a tournament never reads them); with `checks`, those of
        runs with a verifier."""
        texts = [getattr(self, field) for field in PLACEHOLDERS]
        if tools:
            texts += [getattr(self, field) or "" for field in TOOL_PLACEHOLDERS]
        if judge:
            texts += [getattr(self, field) or "" for field in SELECTOR_PLACEHOLDERS]
        if checks:
            texts += [getattr(self, field) or "" for field in CHECK_PLACEHOLDERS]
        return hashlib.blake2b("\x00".join(texts).encode(), digest_size=4).hexdigest()

    def templates(self) -> dict[str, str]:
        """The templates by field, as stored with a run."""
        fields = [*PLACEHOLDERS, *(f for f in OPTIONAL_PLACEHOLDERS if getattr(self, f) is not None)]
        return {field: getattr(self, field) for field in fields}
