"""Validation of tau-bench's own train tasks flags exactly those whose ground truth errors on replay."""

from __future__ import annotations

import json

import pytest

from casework.domains import get_domain
from casework.tasks import load_tasks
from casework.validation.stages import validate_all

pytestmark = pytest.mark.shared


@pytest.mark.parametrize("split", ["train", "dev"])
def test_flags_exactly_the_tasks_that_error(tau_retail_dir, split):
    domain = get_domain("retail")
    database = domain.database(tau_retail_dir)
    tasks = load_tasks(tau_retail_dir / f"tasks_{split}.json")
    expected = {
        e["id"]: e["error_observations"]
        for e in json.loads((tau_retail_dir / f"expected_replay_{split}.json").read_text())
    }
    results = validate_all(domain, database, tasks)
    flagged = {r.task.id for r in results if not r.valid}
    assert flagged == {task_id for task_id, errors in expected.items() if errors}
    for result in results:
        errors = expected[result.task.id]
        execution = [(p.action_index, p.action_name) for p in result.problems if p.stage == "execution"]
        assert execution == [(e["action_index"], result.task.actions[e["action_index"]].name) for e in errors]
        # the policy stage names a rule for each failing action, and nothing on clean tasks
        policy = [p.action_index for p in result.problems if p.stage == "policy"]
        assert policy == [e["action_index"] for e in errors]
        assert {p.stage for p in result.problems} <= {"execution", "policy"}
