"""The declaration of a prompt set: one template per use, checked for its placeholders.

The templates themselves, and the registry of named sets, are in `langgraph_pdr.nodes.prompts`.
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


class PromptSet(BaseModel):
    """A named set of prompt templates (Python format strings; see `langgraph_pdr.nodes.prompts`).

    Example:
        ```python
        from langgraph_pdr.nodes.prompts import get_prompts

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

    @model_validator(mode="after")
    def _check_placeholders(self) -> PromptSet:
        for field, needed in PLACEHOLDERS.items():
            template = getattr(self, field)
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

    def digest(self) -> str:
        """A short digest of every template (not the name): runs asked other questions are other runs."""
        texts = [getattr(self, field) for field in PLACEHOLDERS]
        return hashlib.blake2b("\x00".join(texts).encode(), digest_size=4).hexdigest()

    def templates(self) -> dict[str, str]:
        """The templates by field, as stored with a run."""
        return {field: getattr(self, field) for field in PLACEHOLDERS}
