"""PDRConfig: defaults, parsing, JSON, and one clear ValueError per bad field."""

from __future__ import annotations

import json

import pytest
from fakes import ScriptedChatModel

from langgraph_pdr import PDRConfig, create_pdr_graph, run_pdr


def test_defaults_per_method():
    assert PDRConfig().schedule == (4, 2, 1)
    assert PDRConfig(method="sr").schedule == (1, 1, 1)
    assert PDRConfig(method="single").schedule == (1,)
    assert PDRConfig(method="self_consistency").schedule == (8,)


@pytest.mark.parametrize("text", ["8,4,1", "8, 4, 1", "8-4-1", "8 4 1", [8, 4, 1], (8, 4, 1)])
def test_schedule_forms(text):
    assert PDRConfig(schedule=text).schedule == (8, 4, 1)


def test_json_round_trip():
    config = PDRConfig(
        schedule="8,4,1",
        distiller="per_sample_top_k",
        k=3,
        kappa=512,
        max_tokens=300,
        temperature=0.9,
        seed=7,
        max_b_total=10_000,
        max_b_seq=5_000,
    )
    text = config.model_dump_json()
    assert PDRConfig.model_validate_json(text) == config
    assert json.loads(text)["max_tokens"]["draft"] == 300


BAD = [
    ({"schedule": []}, "schedule", "at least one round"),
    ({"schedule": "4,0,1"}, "schedule", "at least one draft"),
    ({"schedule": "4,-2,1"}, "schedule", "at least one draft"),
    ({"method": "sr", "schedule": "1,2"}, "schedule", "exactly 1 draft"),
    ({"early_stop": 0}, "early_stop", "fraction"),
    ({"early_stop": 1.5}, "early_stop", "fraction"),
    ({"method": "best_of_n", "early_stop": 1.0}, "early_stop", "applies to"),
    ({"method": "self_consistency", "early_stop": 1.0}, "early_stop", "stops between windows"),
    ({"prompts": "nope"}, "prompts", "unknown prompt set"),
    ({"max_tokens": {"refine": 0}}, "max_tokens", "greater than 0"),
    ({"schedule": "four"}, "schedule", "draft counts"),
    ({"method": "sr", "schedule": "1,2,1"}, "schedule", "one draft per round"),
    ({"method": "single", "schedule": "1,1"}, "schedule", "one draft"),
    ({"method": "best_of_n", "schedule": "4,1"}, "schedule", "one round of N"),
    ({"k": 0}, "k", "at least 1"),
    ({"distiller": "random_k", "k": 3, "schedule": "4,2,1"}, "k", "allowed: 1..2"),
    ({"distiller": "shared_top_k", "k": 5}, "k", "allowed: 1..2"),
    ({"kappa": 0}, "kappa", "at least 1"),
    ({"kappa": 8}, "kappa", "allowed: kappa >= 16"),
    ({"distiller": "random_k", "k": 2, "kappa": 20}, "kappa", "allowed: kappa >= 32"),
    ({"method": "contemplate"}, "method", "allowed: pdr, sr, sr_error, single, self_consistency, best_of_n"),
    ({"distiller": "magic"}, "distiller", "allowed: global_summary, majority_k, oracle_correct"),
    ({"max_b_total": 0}, "max_b_total", "positive"),
    ({"max_b_seq": -5}, "max_b_seq", "positive"),
    ({"max_tokens": {"draft": 0}}, "draft", "greater than 0"),
    ({"max_tokens": {"distill": 2000}, "kappa": 1024}, "max_tokens.distill", "exceeds kappa"),
    ({"temperature": {"draft": 5}}, "draft", "less than or equal to 2"),
    ({"colour": "blue"}, "colour", "Extra inputs"),
]


@pytest.mark.parametrize("fields,field,message", BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_bad_configuration_is_one_clear_value_error(fields, field, message):
    with pytest.raises(ValueError) as info:
        PDRConfig(**fields)
    text = str(info.value)
    assert field in text and message in text


@pytest.mark.parametrize("question", ["", "   \n\t"])
def test_empty_question_is_a_value_error(question):
    with pytest.raises(ValueError, match="question"):
        run_pdr(question, model=ScriptedChatModel())


@pytest.mark.parametrize("model", [42, None, "", "nosuchprovider:some-model"])
def test_model_must_be_a_chat_model_or_a_model_string(model):
    with pytest.raises(ValueError, match="model"):
        run_pdr("q?", model=model)


def test_graph_refuses_a_method_of_another_family():
    from langgraph_pdr import PDRContext, graph_config

    graph = create_pdr_graph(PDRConfig(method="single")).compile()
    with pytest.raises(ValueError, match="cannot run on the graph"):
        graph.invoke(
            {"question": "q"},
            graph_config(),
            context=PDRContext(model=ScriptedChatModel(), config=PDRConfig(method="pdr")),
        )


def test_user_distiller_registers_and_validates():
    from langgraph_pdr import BaseDistiller, register_distiller
    from langgraph_pdr.nodes.distill import extractive_workspace
    from langgraph_pdr.state.registry import DISTILLERS

    class LongestK(BaseDistiller):
        name = "longest_k_test"
        uses_k = True

        def distill(self, request):
            longest = sorted(request.drafts, key=lambda d: len(d.text))[-request.k :]
            return [extractive_workspace(request, longest, index=0, distiller=self.name)]

    register_distiller(LongestK)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_distiller(LongestK)
        with pytest.raises(ValueError, match="k"):
            PDRConfig(distiller="longest_k_test", k=3)
        fake = ScriptedChatModel()
        result = run_pdr("q?", model=fake, config=PDRConfig(distiller="longest_k_test", k=1))
        assert result.rounds[0].workspaces[0].distiller == "longest_k_test"
    finally:
        DISTILLERS._items.pop("longest_k_test")
