"""Templated telecom generation through the generic loop (``casework generate --domain telecom``):
validated by replay (assertions fail before, pass after), fault types balanced, deterministic for a
seed, coverage in the stats; τ³ export round trip; the generated tasks are solvable by the oracle
agent with the scripted user doing the phone-side steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.domains.telecom.scenarios import FAULTS
from casework.generate.templated import generate_templated, task_json
from casework.tasks import load_tasks
from casework.validation.replay import validate_task

TELECOM = get_domain("telecom")


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "telecom.json"
    _invoke("generate", "--domain", "telecom", "-n", "1000", "--seed", "3", "--out", str(out))
    return out


def test_a_thousand_validated_balanced_tasks_with_coverage_in_the_stats(generated: Path):
    tasks = load_tasks(generated)
    assert len(tasks) == 1000
    assert all(t.valid for t in tasks)
    assert all(t.validation_report.stages["assertions"]["passed"] for t in tasks)
    stats = json.loads(generated.with_name(generated.name + ".stats.json").read_text())
    assert stats["validated"]["valid"] == 1000
    faults = stats["coverage"]["fault_type"]
    assert set(faults["values"]) == set(FAULTS)
    assert faults["max_share"] <= 0.25  # no fault type in more than a quarter of the tasks
    assert set(stats["coverage"]["faults"]["values"]) == {"1", "2", "3"}
    # every task: initial state, golden actions on the user's side, assertions graded by ENV_ASSERTION
    assert all(t.initial_state and t.env_assertions and t.reward_basis for t in tasks)
    assert sum(any(a.requestor == "user" for a in t.actions) for t in tasks) > 900


def test_generation_is_deterministic_for_a_seed():
    database = TELECOM.database()
    first = [task_json(t) for t in generate_templated(TELECOM, database, 120, seed=11)]
    again = [task_json(t) for t in generate_templated(TELECOM, database, 120, seed=11)]
    other = [task_json(t) for t in generate_templated(TELECOM, database, 120, seed=12)]
    assert first == again
    assert first != other


def test_tau2_export_round_trip(generated: Path, tmp_path: Path):
    out = tmp_path / "telecom.tau2.json"
    _invoke("tasks", "convert", str(generated), str(out), "--to", "tau2")
    records = json.loads(out.read_text())
    assert records[0]["initial_state"]["initialization_actions"]
    assert records[0]["evaluation_criteria"]["env_assertions"]
    assert {a["requestor"] for r in records for a in r["evaluation_criteria"]["actions"]} == {
        "user",
        "assistant",
    }
    original = load_tasks(generated)
    back = load_tasks(out)
    assert [t.model_dump(mode="json") for t in back] == [t.model_dump(mode="json") for t in original]


def test_oracle_and_scripted_user_solve_generated_tasks(generated: Path, tmp_path: Path):
    subset = tmp_path / "subset.json"
    tasks = load_tasks(generated)[:150]
    from casework.tasks import save_blueprints

    save_blueprints(tasks, subset)
    out = tmp_path / "run"
    _invoke("run", "--domain", "telecom", "--agent", "oracle", "--tasks", str(subset), "--out", str(out))
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 150 and all(r["reward"] == 1.0 for r in results)


def test_validation_replay_checks_assertions_before_and_after():
    database = TELECOM.database()
    task = generate_templated(TELECOM, database, 1, seed=5)[0]
    assert validate_task(TELECOM, database, task).valid
    # without its last user-side golden action the assertions no longer hold after the replay
    last = max(i for i, a in enumerate(task.actions) if a.requestor == "user")
    cut = task.model_copy(update={"actions": [a for i, a in enumerate(task.actions) if i != last]})
    problems = validate_task(TELECOM, database, cut).problems
    assert any(p.stage == "assertions" and "after the golden actions" in p.message for p in problems)
    # with no initial state nothing is broken: the assertions already hold before any action
    healthy = task.model_copy(update={"initial_state": None, "actions": []})
    problems = validate_task(TELECOM, database, healthy).problems
    assert [p.message for p in problems if p.stage == "assertions"] == [
        "every assertion already holds on the initial state"
    ]
