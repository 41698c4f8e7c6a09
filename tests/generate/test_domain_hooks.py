"""The generators ask the domain: a domain without a scenario library or LLM hooks gets a clear error,
and generate/ holds no retail knowledge."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain, register
from casework.generate.agentflow import AgentFlowGenerator
from casework.generate.direct import DirectGenerator
from casework.generate.methods import comparable_methods, method_weights
from casework.generate.pipeline import TemplatedGenerator
from casework.generate.templated import build_templated_task

GENERATE = Path(__file__).resolve().parents[2] / "src" / "casework" / "generate"


@pytest.fixture(scope="module")
def bare():
    """Retail's data and tools, without any generation hooks."""
    retail = get_domain("retail")
    domain = dataclasses.replace(retail, name="bare-shop", scenarios=None, llm_generation=None)
    register(domain)
    return domain, retail.database()


def test_templated_without_scenarios_names_the_domain(bare):
    domain, database = bare
    with pytest.raises(ValueError, match="domain 'bare-shop' has no templated scenarios"):
        build_templated_task(domain, database, 0)
    with pytest.raises(ValueError, match="'bare-shop' has no templated scenarios"):
        method_weights(domain, "templated", None)
    with pytest.raises(ValueError, match="'bare-shop' has no templated scenarios"):
        TemplatedGenerator(domain, database)


def test_llm_generators_without_hooks_name_the_domain(bare):
    domain, database = bare
    with pytest.raises(ValueError, match="domain 'bare-shop' has no LLM-generation hooks.*direct"):
        DirectGenerator(domain, database, client=None)
    with pytest.raises(ValueError, match="domain 'bare-shop' has no LLM-generation hooks.*AgentFlow"):
        AgentFlowGenerator(domain, database, client=None)
    assert comparable_methods(domain, model_available=True) == []
    assert comparable_methods(get_domain("retail"), model_available=False) == ["templated"]
    assert comparable_methods(get_domain("retail"), model_available=True) == [
        "templated",
        "direct",
        "agentflow",
    ]


def test_generate_command_refuses_a_domain_without_scenarios_in_one_line(bare, tmp_path):
    result = CliRunner().invoke(
        app, ["generate", "-n", "2", "--domain", "bare-shop", "--out", str(tmp_path / "t.json")]
    )
    assert result.exit_code == 2
    assert "domain 'bare-shop' has no templated scenarios" in result.output
    assert "Traceback" not in result.output


def test_generate_package_holds_no_retail_literal():
    words = [
        "find_user_id",
        "get_user_details",
        "get_order_details",
        "transfer_to_human_agents",
        "cancel_pending",
        "order_id",
        "payment_method",
        "#W",
        "online shop",
        "retail",
        "orders",
        "products",
        "gift_card",
        r"\bzip\b(?!\()",
    ]
    found = []
    for path in sorted(GENERATE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for word in words:
            for match in re.finditer(word if word.startswith("\\b") else re.escape(word), text, re.I):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.name}:{line}: {word}")
    assert not found, found


class _ProfileLookups:
    """A minimal scenario library written against the contract (on retail's data and tools)."""

    keys = ("profile_lookup", "email_check")
    solo_keys = frozenset({"email_check"})
    merged_metadata = ()

    def users_for(self, database, key):
        return sorted(database.tables["users"])[:50]

    def draft(self, domain, state, rng, user_id, keys):
        from casework.domains import ScenarioDraft, ScenarioSkip
        from casework.tasks.model import Action

        email = state["users"][user_id]["email"]
        if rng.random() < 0.1:
            raise ScenarioSkip("resample me")
        draft = ScenarioDraft(user_id=user_id, extra={"email": email})
        for key in keys:
            name, arguments = (
                ("find_user_id_by_email", {"email": email})
                if key == "email_check"
                else ("get_user_details", {"user_id": user_id})
            )
            draft.observations.append(domain.call(state, name, arguments))
            draft.actions.append(Action(name=name, arguments=arguments))
            draft.wants.append(f"You want {key.replace('_', ' ')}.")
            draft.variants.append(key)
        return draft

    def instruction(self, draft, rng):
        return f"Your email is {draft.extra['email']}. " + " ".join(draft.wants), rng.choice(
            ["calm", "brisk"]
        )


def test_the_loop_drives_any_scenario_library():
    from casework.generate.templated import generate_templated, task_json

    retail = get_domain("retail")
    domain = dataclasses.replace(retail, name="lookups", scenarios=_ProfileLookups(), llm_generation=None)
    database = retail.database()
    tasks = generate_templated(domain, database, 60, seed=2, multi_intent=0.5)
    assert [task_json(t) for t in tasks] == [
        task_json(t) for t in generate_templated(domain, database, 60, seed=2, multi_intent=0.5)
    ]
    assert {t.domain for t in tasks} == {"lookups"} and {t.persona for t in tasks} == {"calm", "brisk"}
    multi = [t for t in tasks if t.metadata["multi_intent"]]
    # a solo key never shares a task: multi-intent draws fall back to the one non-solo key
    assert not multi and all(isinstance(t.scenario, str) for t in tasks)
    assert {t.scenario for t in tasks} == {"profile_lookup", "email_check"}
    assert all(
        t.metadata["rw_mix"] == "r1_w0" and t.metadata["generation_method"] == "templated" for t in tasks
    )
    forced = build_templated_task(domain, database, 0, seed=2, scenario=["email_check", "profile_lookup"])
    assert forced.scenario == ["profile_lookup", "email_check"]  # the solo key goes last
    assert forced.action_names == ["get_user_details", "find_user_id_by_email"]
