"""Perturbed variants: facts kept, deterministic, linked to their base; robustness metrics wired."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.generate.perturb import (
    DETERMINISTIC,
    facts_of,
    missing_facts,
    perturb_task,
    perturb_tasks,
)
from casework.generate.templated import generate_templated
from casework.scoring.robustness import robustness_summary
from casework.tasks import Task, load_tasks
from casework.tasks.validate import validate_tasks

runner = CliRunner()


@pytest.fixture(scope="module")
def retail():
    domain = get_domain("retail")
    return domain, domain.database()


@pytest.fixture(scope="module")
def base_tasks(retail):
    domain, database = retail
    return generate_templated(domain, database, 8, seed=5)


def test_facts_cover_ids_names_and_numbers(retail):
    domain, database = retail
    task = Task(
        id="t",
        user_id=None,
        instruction="You are Ada Lovelace. Cancel order #W1234567 and refund 12.50 dollars.",
        actions=[{"name": "cancel_pending_order", "arguments": {"order_id": "#W1234567", "reason": "x"}}],
    )
    facts = facts_of(task, domain, database)
    assert "#W1234567" in facts and "12.50" in facts
    assert missing_facts("Cancel W1234567 please", ["#W1234567"]) == ["#W1234567"]


def test_every_kind_keeps_facts_and_golden_actions_and_validates(retail, base_tasks):
    domain, database = retail
    result = perturb_tasks(base_tasks, DETERMINISTIC, 3, seed=1, domain=domain, database=database)
    variants = [t for t in result.tasks if "base_task_id" in t.metadata]
    assert len(variants) == result.variants > len(base_tasks) * 4
    bases = {t.id: t for t in base_tasks}
    kinds = {t.metadata["perturbation"] for t in variants}
    assert kinds == set(DETERMINISTIC)
    for variant in variants:
        base = bases[variant.metadata["base_task_id"]]
        assert variant.id.startswith(base.id + "~") and variant.instruction != base.instruction
        assert variant.actions == base.actions and variant.outputs == base.outputs
        if variant.metadata["perturbation"] != "id-format":
            assert missing_facts(variant.instruction, facts_of(base, domain, database)) == []
    problems = [p.line() for v in validate_tasks(domain, database, variants) for p in v.problems]
    assert problems == []


def test_same_seed_same_variants_other_seed_other_variants(retail, base_tasks):
    domain, database = retail
    one = perturb_task(base_tasks[0], "typos", 3, seed=1, domain=domain, database=database)[0]
    again = perturb_task(base_tasks[0], "typos", 3, seed=1, domain=domain, database=database)[0]
    other = perturb_task(base_tasks[0], "typos", 3, seed=2, domain=domain, database=database)[0]
    assert [t.instruction for t in one] == [t.instruction for t in again]
    assert [t.instruction for t in one] != [t.instruction for t in other]


def test_id_format_drops_the_domains_prefix(retail):
    domain, _ = retail
    task = Task(id="t", instruction="You want to cancel order #W7776465 now.")
    made, _ = perturb_task(task, "id-format", 3, seed=0, domain=domain)
    assert [t.instruction for t in made] == [
        "You want to cancel order W7776465 now.",
        "You want to cancel order w7776465 now.",
        "You want to cancel order number W7776465 now.",
    ]


def test_robustness_metrics_count_agreement_variance_and_violations():
    base = Task(id="b", instruction="x")
    v1 = Task(id="b~typos~1", instruction="y", metadata={"base_task_id": "b", "perturbation": "typos"})
    v2 = Task(id="b~typos~2", instruction="z", metadata={"base_task_id": "b", "perturbation": "typos"})
    tasks = {t.id: t for t in (base, v1, v2)}
    results = [
        {"task_id": "b", "trial": 0, "reward": 1.0, "success": True},
        {"task_id": "b~typos~1", "trial": 0, "reward": 1.0, "success": True},
        {"task_id": "b~typos~2", "trial": 0, "reward": 0.0, "success": False},
    ]
    violations = {("b", 0): False, ("b~typos~1", 0): False, ("b~typos~2", 0): True}
    summary = robustness_summary(results, tasks, violations=violations)
    typos = summary["typos"]
    assert typos["agreement"]["value"] == 0.5 and typos["agreement"]["n"] == 2
    assert typos["reward_variance"]["value"] == pytest.approx(2 / 9)  # var([1, 1, 0])
    assert typos["policy_violation_rate"]["value"] == 0.5
    assert typos["agreement"]["low"] <= 0.5 <= typos["agreement"]["high"]
    assert summary["all"]["variants"] == 2
    assert robustness_summary(results[:1], tasks) is None  # no variant: no section


def test_perturb_then_oracle_run_agrees_fully(tmp_path, base_tasks):
    from casework.tasks import save_tasks

    tasks = tmp_path / "base.json"
    save_tasks(base_tasks[:4], tasks)
    variants = tmp_path / "variants.json"
    result = runner.invoke(
        app,
        [
            "perturb",
            str(tasks),
            "--kinds",
            "typos,shuffle,distractor",
            "--variants",
            "2",
            "--out",
            str(variants),
        ],
    )
    assert result.exit_code == 0, result.output
    loaded = load_tasks(variants)
    assert len(loaded) == 4 + 4 * 3 * 2
    run = tmp_path / "run"
    result = runner.invoke(app, ["run", "--tasks", str(variants), "--agent", "oracle", "--out", str(run)])
    assert result.exit_code == 0, result.output
    robustness = json.loads((run / "summary.json").read_text())["robustness"]
    for kind in ("typos", "shuffle", "distractor", "all"):
        assert robustness[kind]["agreement"]["value"] == 1.0
        assert robustness[kind]["reward_variance"]["value"] == 0.0
        assert robustness[kind]["policy_violation_rate"]["value"] == 0.0


def test_unknown_kind_is_one_line_error(tmp_path, base_tasks):
    from casework.tasks import save_tasks

    tasks = tmp_path / "base.json"
    save_tasks(base_tasks[:1], tasks)
    result = runner.invoke(
        app, ["perturb", str(tasks), "--kinds", "typos,rhyme", "--out", str(tmp_path / "v.json")]
    )
    assert result.exit_code == 2 and "unknown rhyme" in result.output


def test_noop_agent_passes_nothing_that_needs_a_change(tmp_path, base_tasks):
    from casework.tasks import save_tasks

    tasks = tmp_path / "base.json"
    writes = [t for t in base_tasks if any(get_domain("retail").is_write(a.name) for a in t.actions)]
    save_tasks(writes[:3], tasks)
    run = tmp_path / "noop"
    result = runner.invoke(app, ["run", "--tasks", str(tasks), "--agent", "noop", "--out", str(run)])
    assert result.exit_code in (0, 1), result.output
    lines = [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(r["reward"] == 0.0 for r in lines)
    assert all(not r["tool_calls"] for r in lines)
