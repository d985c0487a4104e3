"""Every prompt template of a run, in named sets: the one place to read or change what the model is asked.

A `PromptSet` holds one template per use:

| field | used by | placeholders |
|---|---|---|
| `solve` | a first-round draft | `{question}` |
| `refine` | a PDR draft of a later round, with its workspace | `{question}`, `{workspace}` |
| `improve` | an SR rewrite of the previous solution | `{question}`, `{workspace}` |
| `improve_with_review` | an SR rewrite with the critique | `{question}`, `{workspace}`, `{critique}` |
| `critique` | the review of SR with error analysis | `{question}`, `{solution}` |
| `verify` | self-verification (scores for top-k, best-of-N) | `{question}`, `{solution}` |
| `summary` | the `global_summary` distiller's call | `{n}`, `{question}`, `{tally}`, `{attempts}` |
| `tally` | the code-written first line of every workspace | `{tally}` |
| `attempt` | one draft shown in a workspace or a summary prompt | `{n}`, `{text}` |
| `attempt_unfinished` | the same, for a draft cut off before its final answer | `{n}`, `{text}` |

Tool-using runs (`PDRConfig(tools=...)`) also read these (a set that leaves one out uses `card`'s):

| field | used by | placeholders |
|---|---|---|
| `tools` | added to a draft's prompt when tools are offered natively | `{tools}` (names and uses) |
| `fenced` | added to a draft's prompt when ```python blocks run (`tool_format` fenced) | none |
| `fenced_output` | what a fenced block printed, as the next user message | `{output}` |
| `tools_done` | the message after a draft's last allowed tool call | none |
| `summary_tools` | `global_summary` on tool-using drafts | `{n}`, `{question}`, `{tally}`, `{attempts}` |

The tournament selector (`PDRConfig(selector="tournament")`, the `tournament` distiller) also reads
this one (a set that leaves it out uses `card`'s; it enters a run's digest only when the run uses it):

| field | used by | placeholders |
|---|---|---|
| `judge` | a tournament's pairwise comparison (ends `Better: N`) | `{question}`, `{first}`, `{second}` |

Runs that check their drafts (`PDRConfig(verifier=...)`, or visible tests) also read these (a set that
leaves one out uses `card`'s; they enter a run's digest only when the run checks its drafts):

| field | used by | placeholders |
|---|---|---|
| `solve_program` | a first draft of a run whose answer is a program (`python_tests`) | `{question}` |
| `repair` | a later draft (PDR, SR) of a checked run: repairs from feedback | `{question}`, `{workspace}` |
| `repair_program` | the same, for a run whose answer is a program | `{question}`, `{workspace}` |
| `attempt_checked` | a checked draft in a workspace, with its feedback | `{n}`, `{text}`, `{feedback}` |
| `check_tally` | a checked run's workspace's first line: the checks, counted by code | `{tally}` |

Two sets are built in. `card` follows the convention of the default model's card (Qwen2.5:
`{question}` then "Please reason step by step, and put your final answer within \\boxed{}."), and
its refine prompt asks the model to check the workspace's leading answer and finish from it rather than
start over; `classic` is the set the first evaluation (docs/eval) ran with. `PDRConfig(prompts=...)`
names the set of a run; its templates are stored with the run, so a resume asks the same questions.
Register your own set:

```python
from langgraph_pdr import PDRConfig
from langgraph_pdr.prompting.prompt_catalog import get_prompts, register_prompts

solve = "{question}\\n\\nAnswer in \\\\boxed{{}}."
terse = get_prompts("card").model_copy(update={"name": "terse", "solve": solve})
register_prompts(terse, replace=True)
assert PDRConfig(prompts="terse").prompts == "terse"
```
"""

from __future__ import annotations

from langgraph_pdr.state.config import DEFAULT_PROMPTS
from langgraph_pdr.state.prompt_set import (
    CHECK_PLACEHOLDERS,
    PLACEHOLDERS,
    SELECTOR_PLACEHOLDERS,
    TOOL_PLACEHOLDERS,
    PromptSet,
)
from langgraph_pdr.state.registry import PROMPT_SETS

__all__ = [
    "CARD",
    "CHECK_PLACEHOLDERS",
    "CLASSIC",
    "DEFAULT_PROMPTS",
    "PLACEHOLDERS",
    "PromptSet",
    "SELECTOR_PLACEHOLDERS",
    "TOOL_PLACEHOLDERS",
    "check_template",
    "get_prompts",
    "judge_template",
    "register_prompts",
    "tool_template",
]


def register_prompts(prompts: PromptSet, *, replace: bool = False) -> PromptSet:
    """Register a prompt set under its `name`, for `PDRConfig(prompts=name)`.

    The set's templates are checked when the `PromptSet` is built (each must use exactly its
    placeholders; see the table in `langgraph_pdr.prompting.prompt_catalog`). A run stores the templates it
    used, so a resume asks the same questions even in a process that never registered the set.

    Args:
        prompts: the set to register.
        replace: replace a set already registered under that name (else that is a ValueError).

    Returns:
        `prompts`.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, PromptSet, get_prompts, register_prompts

        templates = get_prompts("card").templates()
        templates["solve"] = "{question}\\n\\nGive only the result, as \\\\boxed{{N}}."
        register_prompts(PromptSet(name="brief", **templates), replace=True)
        assert PDRConfig(prompts="brief").prompts == "brief"
        prompt = get_prompts("brief").solve.format(question="What is 17 * 23?")
        assert prompt == "What is 17 * 23?\\n\\nGive only the result, as \\\\boxed{N}."
        ```
    """
    if not isinstance(prompts, PromptSet):
        raise TypeError(f"register_prompts: expected a PromptSet, got {type(prompts).__name__}")
    PROMPT_SETS.register(prompts.name, prompts, replace=replace)
    return prompts


def get_prompts(name: str) -> PromptSet:
    """The prompt set registered as `name` (ValueError lists the allowed names).

    `card` (the default) and `classic` are built in; `register_prompts` adds others.

    Example:
        ```python
        from langgraph_pdr import get_prompts

        card = get_prompts("card")
        prompt = card.solve.format(question="What is 17 * 23?")
        assert prompt.startswith("What is 17 * 23?") and prompt.endswith("within \\\\boxed{}.")
        try:
            get_prompts("nope")
        except ValueError as exc:
            error = str(exc)
        assert "unknown prompt set 'nope'" in error and "card" in error
        ```
    """
    prompts: PromptSet = PROMPT_SETS.get(name)
    return prompts


def tool_template(prompts: PromptSet, field: str) -> str:
    """A tool template of `prompts`, or the `card` set's when the set leaves it out.

    Example:
        ```python
        from langgraph_pdr.prompting.prompt_catalog import get_prompts, tool_template

        classic = get_prompts("classic")
        assert tool_template(classic, "fenced") == get_prompts("card").fenced
        ```
    """
    if field not in TOOL_PLACEHOLDERS:
        raise ValueError(
            f"prompts: {field!r} is not a tool template; allowed: {', '.join(TOOL_PLACEHOLDERS)}"
        )
    return _or_card(prompts, field)


def judge_template(prompts: PromptSet) -> str:
    """The judge template of `prompts` (one pairwise comparison of the tournament selector), or the
    `card` set's when the set leaves it out.

    Example:
        ```python
        from langgraph_pdr.prompting.prompt_catalog import get_prompts, judge_template

        classic = get_prompts("classic")
        assert classic.judge is None and judge_template(classic) == get_prompts("card").judge
        prompt = judge_template(classic).format(question="What is 2 + 2?", first="4", second="5")
        assert "Better: 1" in prompt and prompt.endswith("Solution 2:\\n5")
        ```
    """
    return _or_card(prompts, "judge")


def check_template(prompts: PromptSet, field: str) -> str:
    """A template of checked runs (`CHECK_PLACEHOLDERS`) of `prompts`, or the `card` set's when the
    set leaves it out.

    Example:
        ```python
        from langgraph_pdr.prompting.prompt_catalog import check_template, get_prompts

        prompt = check_template(get_prompts("classic"), "solve_program").format(question="Write add(a, b).")
        assert "```" not in prompt and "Python" in prompt and prompt.endswith("Write add(a, b).")
        ```
    """
    if field not in CHECK_PLACEHOLDERS:
        raise ValueError(
            f"prompts: {field!r} is not a check template; allowed: {', '.join(CHECK_PLACEHOLDERS)}"
        )
    return _or_card(prompts, field)


def _or_card(prompts: PromptSet, field: str) -> str:
    """An optional template of `prompts`, or the `card` set's when the set leaves it out."""
    value = getattr(prompts, field)
    if value is None:
        value = getattr(CARD, field)
    return str(value)


# -- the built-in sets ------------------------------------------------------------------------------

#: The closing instruction of the default model's card (Qwen2.5), which every `card` prompt ends with.
CARD_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{{}}."

CARD = PromptSet(
    name="card",
    solve="{question}\n\n" + CARD_INSTRUCTION,
    refine=(
        "{question}\n\n"
        "Earlier attempts at this problem are summarized below. They may contain mistakes; the tally of "
        "their final answers comes first, most common first.\n\n"
        "{workspace}\n\n"
        "Take the leading answer and check its derivation step by step against the problem. If every "
        "step holds, finish the solution from it without starting over; if a step is wrong, correct it "
        "and finish from the corrected step. " + CARD_INSTRUCTION
    ),
    improve=(
        "{question}\n\n"
        "Here is a previous solution. It may contain mistakes.\n\n"
        "{workspace}\n\n"
        "Check it step by step against the problem. If every step holds, restate its result; if a step "
        "is wrong, correct it and finish from there. " + CARD_INSTRUCTION
    ),
    improve_with_review=(
        "{question}\n\n"
        "Here is a previous solution and a review of it.\n\n"
        "Previous solution:\n{workspace}\n\n"
        "Review:\n{critique}\n\n"
        "Check the points the review raises against the solution. Correct what is wrong and finish the "
        "solution; if nothing is wrong, restate its result. " + CARD_INSTRUCTION
    ),
    critique=(
        "Review the solution below for errors. Check each step and the final answer. List the concrete "
        "mistakes and how to fix them; if you find none, say so. Do not write a new solution. Be brief.\n\n"
        "Problem:\n{question}\n\nSolution:\n{solution}"
    ),
    verify=(
        "Check the proposed solution to the problem below. Verify each step and the final answer. Then "
        "rate how likely it is that the final answer is correct, from 0 (surely wrong) to 10 (surely "
        'correct), and end your reply with a line of the form "Score: N".\n\n'
        "Problem:\n{question}\n\nProposed solution:\n{solution}"
    ),
    summary=(
        "Below are {n} attempted solutions to the same problem, and the tally of their final answers, "
        "counted by code. Write a short summary for someone who will finish the problem from it. State "
        "the leading answer and the steps that support it; where the attempts part, say at which step "
        "and which side the problem supports; list intermediate results that look correct and mistakes "
        "to avoid. Take every count from the tally and never claim an agreement it does not show. Do not "
        "write a new full solution, and do not repeat yourself.\n\n"
        "Problem:\n{question}\n\nTally: {tally}.\n\n{attempts}"
    ),
    tally="Final answers of the earlier attempts, counted by code: {tally}.",
    attempt="Attempt {n}:\n{text}",
    attempt_unfinished="Attempt {n} (unfinished: cut off before its final answer):\n{text}",
    tools=(
        "You can call these tools: {tools}. Use them to compute and to check your steps instead of "
        "doing long arithmetic by hand."
    ),
    fenced=(
        "Solve it with Python: first write a program that computes the answer and prints it, in one "
        "```python block, and end your reply right after the block. You will be shown what it prints; "
        "then check it against the problem and put your final answer within \\boxed{{}}."
    ),
    fenced_output="Output of your code:\n```\n{output}\n```",
    tools_done=("You have used all your tool calls. Finish from the results you have. " + CARD_INSTRUCTION),
    summary_tools=(
        "Below are {n} attempted solutions to the same problem, each with the code it ran and what the "
        "code printed, and the tally of their final answers, counted by code. Write a short structured "
        "summary for someone who will finish the problem from it, under these headings: Approach (the "
        "methods tried); Verified results (values that code output shows, with the code that gave "
        "them); Failure modes (errors, wrong code, unfounded steps); Open goals (what is left to check). "
        "Take every count from the tally and never claim an agreement it does not show. Do not write a "
        "new full solution, and do not repeat yourself.\n\n"
        "Problem:\n{question}\n\nTally: {tally}.\n\n{attempts}"
    ),
    solve_program=(
        "Please provide a self-contained Python script that solves the following problem in a markdown "
        "code block:\n\n{question}"
    ),
    repair=(
        "{question}\n\n"
        "Earlier attempts at this problem are below, each with what checking it found (the checks were "
        "run by code, not written by the attempt's author).\n\n"
        "{workspace}\n\n"
        "Find the cause of each failure the checks show and fix it; keep what the checks confirm. "
        + CARD_INSTRUCTION
    ),
    repair_program=(
        "Please provide a self-contained Python script that solves the following problem in a markdown "
        "code block:\n\n{question}\n\n"
        "Earlier attempts at this problem are below, each with the results of running it against the "
        "problem's tests (run by code, not written by the attempt's author).\n\n"
        "{workspace}\n\n"
        "Write a corrected program. For each failure shown, find its cause in the code (the expected "
        "value against the one the program returned, or the error and its line) and fix it; keep what "
        "already works, and do not repeat a failing program unchanged. Give the complete program in one "
        "```python code block."
    ),
    attempt_checked="Attempt {n}:\n{text}\n\nTest results of attempt {n}:\n{feedback}",
    check_tally="Test results of the earlier attempts, counted by code: {tally}.",
    judge=(
        "Below are a problem and two proposed solutions to it. Check each step of both and decide which "
        "one reaches the correct final answer; if both or neither do, choose the one whose reasoning "
        'holds up better. Be brief, and end your reply with a line of the form "Better: 1" or '
        '"Better: 2".\n\n'
        "Problem:\n{question}\n\nSolution 1:\n{first}\n\nSolution 2:\n{second}"
    ),
)

CLASSIC = PromptSet(
    name="classic",
    solve=(
        "Solve the following problem. Reason step by step, and end your solution with the final answer "
        "written as \\boxed{{ANSWER}}.\n\nProblem:\n{question}"
    ),
    refine=(
        "Solve the following problem. Below are notes distilled from earlier attempts at it; they may "
        "contain mistakes. Check them, keep what is correct, fix what is wrong, and write a complete, "
        "self-contained solution.\n\nProblem:\n{question}\n\nNotes from earlier attempts:\n{workspace}\n\n"
        "Now write your complete solution from the start and end it with the final answer written as "
        "\\boxed{{ANSWER}}."
    ),
    improve=(
        "Solve the following problem. Below is a previous solution; it may contain mistakes. Check every "
        "step, correct any error, and write an improved, complete solution.\n\nProblem:\n{question}\n\n"
        "Previous solution:\n{workspace}\n\nNow write your complete solution from the start and end it "
        "with the final answer written as \\boxed{{ANSWER}}."
    ),
    improve_with_review=(
        "Solve the following problem. Below are a previous solution and a review of it. Use the review to "
        "correct the solution and write an improved, complete solution.\n\nProblem:\n{question}\n\n"
        "Previous solution:\n{workspace}\n\nReview:\n{critique}\n\nNow write the complete solution from "
        "the start, even if the review found no mistake, and end it with the final answer written as "
        "\\boxed{{ANSWER}}."
    ),
    critique=CARD.critique,
    verify=CARD.verify,
    summary=(
        "Below are {n} attempted solutions to the same problem, and the final answers read from them by "
        "code. Write a short summary for someone who will solve the problem again from scratch. State: "
        "where the attempts agree and where they contradict each other, and at which step they part; "
        "intermediate results that look correct; mistakes to avoid; what is still open. Where the "
        "attempts disagree, check the disputed steps yourself and say which answer they support: the "
        "most common answer can be wrong. Take the count of each answer from the tally below and never "
        "claim an agreement it does not show. Do not write a new full solution.\n\n"
        "Problem:\n{question}\n\nFinal answers, as read from the attempts: {tally}.\n\n{attempts}"
    ),
    tally="Final answers of the earlier attempts: {tally}.",
    attempt="Attempt {n}:\n{text}",
    attempt_unfinished=CARD.attempt_unfinished,
)

for _builtin in (CARD, CLASSIC):
    if _builtin.name not in PROMPT_SETS:
        register_prompts(_builtin)
