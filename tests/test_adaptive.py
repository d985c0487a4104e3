"""Making the model better: prompt sets, honest workspaces (unfinished drafts, the code-written tally,
a checked summary), runs that end in a vote, and adaptive stopping (`early_stop`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fake_openai import FakeOpenAIServer
from fakes import FakeCall, ScriptedChatModel, parts_of

from langgraph_pdr import PDRConfig, PromptSet, get_prompts, register_prompts, resume_pdr, run_pdr


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def answers(by_draft: dict[tuple[int, int], str], default: str = "42"):
    """A script: draft (round, index) answers `by_draft[...]`, every other draft `default`."""

    def script(call: FakeCall) -> str:
        if call.role == "verify":
            return "Score: 5"
        if call.role in ("distill", "critique"):
            return "notes"
        return f"work \\boxed{{{by_draft.get((call.round, call.index), default)}}}"

    return script


# -- adaptive stopping --------------------------------------------------------------------------------


def test_unanimous_drafts_end_a_pdr_run_after_its_first_round(tmp_path):
    config = PDRConfig(schedule="8,4,1", distiller="majority_k", early_stop=1.0, max_tokens=64)
    with FakeOpenAIServer() as server:
        result = run_pdr(
            "What is 6 * 7?",
            model="fake-model",
            base_url=server.base_url,
            config=config,
            db=tmp_path / "runs.sqlite",
        )
        sent = len(server.requests)
        billed = sum(r.prompt_tokens + r.completion_tokens for r in server.requests)
    assert sent == 8
    assert (result.stop_reason, result.status, result.answer) == ("converged", "completed", "42")
    assert result.text.endswith("\\boxed{42}") and result.b_total == billed
    assert [r.round for r in result.rounds] == [1]


@pytest.mark.parametrize(
    "fraction, answered, drafts, reason",
    [
        (1.0, {(1, 3): "7"}, 4 + 2, "converged"),  # 3 of 4 agree: not unanimous; round 2's two do
        (1.0, {(1, 3): "7", (2, 1): "9"}, 4 + 2 + 1, "completed"),  # round 2 disagrees too
        (0.75, {(1, 3): "7"}, 4, "converged"),  # 3 of 4 is enough
        (0.75, {(1, 2): "7", (1, 3): "7", (2, 1): "9"}, 4 + 2 + 1, "completed"),  # 2 of 4 is not
    ],
)
def test_early_stop_needs_the_fraction_of_finished_drafts(fraction, answered, drafts, reason):
    fake = ScriptedChatModel(script=answers(answered))
    config = PDRConfig(schedule="4,2,1", distiller="majority_k", early_stop=fraction)
    result = run_pdr("q?", model=fake, config=config)
    assert (len(fake.calls("draft")), result.stop_reason, result.answer) == (drafts, reason, "42")


def test_unfinished_drafts_do_not_count_toward_agreement():
    def script(call: FakeCall) -> str:
        if call.round == 1 and call.index > 0:
            return "still working " * 40  # cut off, no answer
        return "so \\boxed{42}"

    fake = CutOff(script=script)
    result = run_pdr(
        "q?", model=fake, config=PDRConfig(schedule="4,1", distiller="random_k", k=1, early_stop=1.0)
    )
    # one finished draft is not an agreement: the run goes on
    assert result.stop_reason == "completed" and len(fake.calls("draft")) == 5
    first = result.rounds[0].drafts
    assert [d.unfinished for d in first] == [False, True, True, True]
    assert [d.answer for d in first] == ["42", None, None, None]


def test_sr_stops_when_a_rewrite_keeps_the_answer():
    fake = ScriptedChatModel(script=answers({}))
    result = run_pdr("q?", model=fake, config=PDRConfig(method="sr", schedule="1,1,1,1", early_stop=1.0))
    assert len(fake.calls("draft")) == 2 and result.stop_reason == "converged" and result.answer == "42"
    changing = ScriptedChatModel(script=answers({(1, 0): "1", (2, 0): "2", (3, 0): "3", (4, 0): "4"}))
    result = run_pdr("q?", model=changing, config=PDRConfig(method="sr", schedule="1,1,1,1", early_stop=1.0))
    assert len(changing.calls("draft")) == 4 and result.stop_reason == "completed" and result.answer == "4"


# -- self-consistency in windows ------------------------------------------------------------------------


def test_self_consistency_in_windows_stops_when_its_first_window_agrees():
    fake = ScriptedChatModel(script=answers({}))
    config = PDRConfig(method="self_consistency", schedule="4,4", early_stop=1.0)
    result = run_pdr("q?", model=fake, config=config)
    assert len(fake.calls("draft")) == 4
    assert (result.stop_reason, result.answer, [r.round for r in result.rounds]) == ("converged", "42", [1])


def test_self_consistency_in_windows_votes_over_every_window():
    # window 1: 7, 7, 7, 42 (not unanimous); window 2 alone would vote 9, all eight vote 7
    script = answers({(1, 0): "7", (1, 1): "7", (1, 2): "7", (2, 4): "7", (2, 5): "9", (2, 6): "9"})
    fake = ScriptedChatModel(script=script)
    config = PDRConfig(method="self_consistency", schedule="4,4", early_stop=1.0)
    result = run_pdr("q?", model=fake, config=config, db=":memory:")
    assert (result.stop_reason, result.answer) == ("completed", "7")
    assert [[d.index for d in r.drafts] for r in result.rounds] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert all(c.prompt == fake.calls("draft")[0].prompt for c in fake.calls("draft"))  # no workspace
    stage = {r: max(c.total for c in fake.calls("draft", r)) for r in (1, 2)}
    assert result.b_seq == stage[1] + stage[2]  # the windows run one after another
    assert result.b_total == sum(c.total for c in fake.calls())


def test_self_consistency_stops_on_the_share_of_all_its_windows_drafts():
    # 3 of 4, then 3 of 4 again: 6 of 8 agree, 0.75 of all drafts so far, after the second window
    script = answers({(1, 3): "7", (2, 7): "7"})
    fake = ScriptedChatModel(script=script)
    config = PDRConfig(method="self_consistency", schedule="4,4,4", early_stop=0.8)
    result = run_pdr("q?", model=fake, config=config)
    assert (len(fake.calls("draft")), result.stop_reason) == (12, "completed")
    fake = ScriptedChatModel(script=script)
    result = run_pdr("q?", model=fake, config=config.model_copy(update={"early_stop": 0.75}))
    assert (len(fake.calls("draft")), result.stop_reason, result.answer) == (4, "converged", "42")


def test_windows_send_the_requests_of_one_vote_of_as_many_drafts(tmp_path):
    sent = {}
    for schedule in ("8", "4,4"):
        config = PDRConfig(method="self_consistency", schedule=schedule, max_tokens=64)
        with FakeOpenAIServer() as server:
            result = run_pdr(
                "What is 6 * 7?",
                model="fake-model",
                base_url=server.base_url,
                config=config,
                db=tmp_path / f"{schedule}.sqlite",
            )
            sent[schedule] = sorted(
                (r.body["seed"], r.body.get("max_completion_tokens") or r.body["max_tokens"], r.prompt)
                for r in server.requests
            )
        assert result.answer == "42"
    assert len(sent["8"]) == 8 and sent["4,4"] == sent["8"]


def test_a_failed_window_resumes_and_the_earlier_windows_still_vote(tmp_path):
    def broken(call: FakeCall) -> str:
        if call.round == 2:
            raise ValueError("the provider rejected the request")
        return answers({(1, 3): "9"})(call)

    db = tmp_path / "runs.sqlite"
    config = PDRConfig(method="self_consistency", schedule="4,4", early_stop=1.0)
    failed = run_pdr("q?", model=ScriptedChatModel(script=broken), config=config, db=db)
    assert (failed.status, failed.stop_reason) == ("failed", "no_drafts")
    # window 2 again: 7, 7, 7, 9 votes 7 alone; with window 1's 42, 42, 42, 9 it ties 42 and 7,
    # and the tie goes to window 1's answer
    fixed = ScriptedChatModel(script=answers({(2, 4): "7", (2, 5): "7", (2, 6): "7", (2, 7): "9"}))
    result = resume_pdr(failed.thread_id, db=db, model=fixed)
    # the window's four drafts run at once: the log lists them as they arrived
    assert sorted((c.round, c.index) for c in fixed.log) == [(2, 4), (2, 5), (2, 6), (2, 7)]
    assert (result.status, result.stop_reason, result.answer) == ("completed", "completed", "42")


def test_self_consistency_windows_are_checked():
    with pytest.raises(ValueError, match="best_of_n' samples one round"):
        PDRConfig(method="best_of_n", schedule="4,4")
    from langgraph_pdr.state.methods import method_label, parse_method

    method = parse_method("sc:4-4:early_stop=1")
    assert method.config.schedule == (4, 4) and method.config.early_stop == 1.0
    assert method.label == "sc:4-4:early_stop=1" and method_label(method.config) == "sc:4-4:early_stop=1.0"
    assert parse_method(method_label(method.config)).config == method.config


# -- a last round of several drafts: a vote -------------------------------------------------------------


def test_a_run_ending_in_several_drafts_answers_with_their_vote():
    fake = ScriptedChatModel(script=answers({(2, 0): "7", (2, 1): "9", (2, 2): "9"}))
    result = run_pdr("q?", model=fake, config=PDRConfig(schedule="4,4", distiller="majority_k"))
    assert result.answer == "9" and result.text == "work \\boxed{9}"
    assert result.rounds[1].workspaces == [] and len(fake.calls("draft", 2)) == 4


def test_a_tied_vote_goes_to_the_previous_rounds_answer():
    # round 2: 7, 7, 42, 42 (a tie); round 1 had voted 42
    fake = ScriptedChatModel(script=answers({(2, 0): "7", (2, 1): "7"}))
    result = run_pdr("q?", model=fake, config=PDRConfig(schedule="4,4", distiller="majority_k"))
    assert result.answer == "42"


# -- honest workspaces -------------------------------------------------------------------------------


class CutOff(ScriptedChatModel):
    """Replies longer than 60 words are cut, with finish reason `length`, as a provider at max_tokens."""

    def _finish(self, call):  # type: ignore[override]
        result = super()._finish(call)
        message = result.generations[0].message
        if len(message.content.split()) > 60:
            message.content = " ".join(message.content.split()[:60])
            message.response_metadata["finish_reason"] = "length"
        return result


@pytest.mark.parametrize(
    "distiller", ["global_summary", "shared_top_k", "per_sample_top_k", "majority_k", "random_k"]
)
def test_every_workspace_opens_with_the_tally_and_marks_unfinished_drafts(distiller):
    def script(call: FakeCall) -> str:
        if call.role == "verify":
            return "Score: 5"
        if call.role == "distill":
            return "The attempts part at step 2."
        if call.round == 1 and call.index == 3:
            return "endless " * 100
        return f"work \\boxed{{{7 if call.index == 2 else 42}}}"

    fake = CutOff(script=script)
    result = run_pdr("q?", model=fake, config=PDRConfig(schedule="4,1", distiller=distiller, k=2))
    tally = get_prompts(result.config.prompts).tally.format(
        tally="42 (attempts 1, 2); 7 (attempt 3); unfinished, cut off before an answer (attempt 4)"
    )
    for w in result.rounds[0].workspaces:
        assert w.text.startswith(tally + "\n\n"), w.text
    assert [v.index for v in result.rounds[0].verifications] == ([0, 1, 2] if "top_k" in distiller else [])
    refine = fake.calls("draft", 2)[0]
    assert parts_of(refine.prompt, "refine")["workspace"].startswith(tally)


def test_random_k_shows_an_unfinished_draft_only_when_none_finished():
    def script(call: FakeCall) -> str:
        return "endless " * 100 if call.round == 1 and call.index > 0 else "so \\boxed{42}"

    result = run_pdr(
        "q?", model=CutOff(script=script), config=PDRConfig(schedule="4,4", distiller="random_k", k=1)
    )
    assert {tuple(w.sources) for w in result.rounds[0].workspaces} == {(0,)}
    result = run_pdr(
        "q?",
        model=CutOff(script=lambda c: "endless " * 100 if c.round == 1 else "\\boxed{1}"),
        config=PDRConfig(schedule="2,1", distiller="random_k", k=1),
    )
    (w,) = result.rounds[0].workspaces
    assert "unfinished: cut off before its final answer" in w.text


def test_the_summary_is_checked_by_code():
    from langgraph_pdr.nodes.distill.global_summary import CORRECTION

    summary = (
        "The attempts agree on the final answer 42. Attempts 1 and 2 reach 42 by adding. "
        "Check step two carefully before you finish. Check step two carefully before you finish. "
        "Check step two carefully before you finish."
    )

    def script(call: FakeCall) -> str:
        if call.role == "distill":
            return summary
        return f"work \\boxed{{{7 if call.index == 3 else 42}}}"

    result = run_pdr(
        "q?",
        model=ScriptedChatModel(script=script),
        config=PDRConfig(schedule="4,1", distiller="global_summary"),
    )
    (w,) = result.rounds[0].workspaces
    body = w.text.split("\n\n", 1)[1]
    assert body == (
        CORRECTION + " Attempts 1 and 2 reach 42 by adding. Check step two carefully before you finish."
    )


def test_a_true_consensus_is_left_alone():
    summary = "All attempts agree on 42."
    result = run_pdr(
        "q?",
        model=ScriptedChatModel(script=lambda c: summary if c.role == "distill" else "\\boxed{42}"),
        config=PDRConfig(schedule="2,1", distiller="global_summary"),
    )
    assert result.rounds[0].workspaces[0].text.endswith(summary)


# -- prompt sets ----------------------------------------------------------------------------------------


def test_a_registered_prompt_set_is_used_stored_and_taken_again_on_resume(tmp_path):
    from langgraph_pdr.state.registry import PROMPT_SETS

    mine = get_prompts("card").model_copy(update={"name": "terse_test", "solve": "Q: {question}\nA:"})
    register_prompts(mine, replace=True)
    db = tmp_path / "runs.sqlite"

    def broken(call: FakeCall) -> str:
        if call.round == 2:
            raise ValueError("the provider rejected the request")
        return "\\boxed{42}"

    failed = run_pdr(
        "What is 6 * 7?",
        model=ScriptedChatModel(script=broken),
        db=db,
        config=PDRConfig(schedule="2,1", distiller="random_k", k=1, prompts="terse_test"),
    )
    assert failed.status == "failed"
    # another process: the set is not registered there; the run's stored templates are
    PROMPT_SETS._items.pop("terse_test")
    fixed = ScriptedChatModel(script=lambda c: "\\boxed{42}")
    result = resume_pdr(failed.thread_id, db=db, model=fixed)
    assert result.status == "completed" and get_prompts("terse_test").solve == "Q: {question}\nA:"
    refine = fixed.calls("draft", 2)[0].prompt
    assert parts_of(refine, "refine", mine)["question"] == "What is 6 * 7?"


def test_a_run_with_a_registered_prompt_set_is_inspected_in_another_process(tmp_path):
    mine = get_prompts("card").model_copy(update={"name": "inspect_test", "solve": "Q: {question}\nA:"})
    register_prompts(mine, replace=True)
    db = tmp_path / "runs.sqlite"
    config = PDRConfig(method="single", prompts="inspect_test")
    result = run_pdr(
        "What is 6 * 7?", model=ScriptedChatModel(script=lambda c: "\\boxed{42}"), db=db, config=config
    )
    # a new process has not registered the set; the run's stored templates are enough to read it
    shown = subprocess.run(
        [sys.executable, "-m", "langgraph_pdr.cli", "inspect", result.thread_id, "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(shown.stdout)
    assert stored["config"]["prompts"] == "inspect_test" and stored["answer"] == "42"


def test_a_prompt_set_must_use_its_placeholders():
    card = get_prompts("card").model_dump()
    with pytest.raises(ValueError, match="prompts.refine: uses .question.; it must use exactly"):
        PromptSet(**{**card, "name": "bad", "refine": "{question} only"})
    with pytest.raises(ValueError, match="prompts.solve: .* .nope"):
        PromptSet(**{**card, "name": "bad", "solve": "{question} {nope}"})


def test_eval_run_ids_cover_every_template():
    from langgraph_pdr.evals.datasets import Problem
    from langgraph_pdr.evals.harness import thread_id
    from langgraph_pdr.state.methods import parse_method
    from langgraph_pdr.state.prompt_set import PLACEHOLDERS

    problem = Problem("p1", "What is 6 * 7?", "42", "gsm8k")
    card = get_prompts("card")
    base = thread_id(problem, parse_method("pdr:4-1:global_summary"), "m")
    for field in PLACEHOLDERS:
        changed = card.model_copy(update={field: getattr(card, field) + " "})
        register_prompts(changed, replace=True)
        try:
            assert thread_id(problem, parse_method("pdr:4-1:global_summary"), "m") != base, field
        finally:
            register_prompts(card, replace=True)
    assert thread_id(problem, parse_method("pdr:4-1:global_summary"), "m") == base
