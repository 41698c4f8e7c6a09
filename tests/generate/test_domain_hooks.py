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
