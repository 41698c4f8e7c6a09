"""Every τ³ telecom train and small task: its initial state applies, its environment assertions fail
before the golden actions (except where the right outcome is a transfer, so the broken state must
stay), and pass after replaying them on their requestor's side; without the last user-side golden
action some assertion fails."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from casework.domains.telecom import replay_task
from casework.domains.telecom.data import load_telecom

SHARED = Path(os.environ.get("CASEWORK_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
TAU3_TELECOM = SHARED / "data" / "tau3" / "telecom"
FILES = ("tasks_train.json", "tasks_small.json")


@pytest.fixture(scope="module")
def base():
    if not (TAU3_TELECOM / "db.toml").exists():
        pytest.skip(
            f"reference data not found at {TAU3_TELECOM} (needs ../shared/data beside the repository)"
        )
    return load_telecom(TAU3_TELECOM)


def _tasks(name: str) -> list[dict]:
    return json.loads((TAU3_TELECOM / name).read_text())


def _transfers(task: dict) -> bool:
    return any(a["name"] == "transfer_to_human_agents" for a in task["evaluation_criteria"]["actions"])


@pytest.mark.parametrize(
    ("name", "count", "transfers"), [("tasks_train.json", 74, 8), ("tasks_small.json", 20, 2)]
)
def test_golden_actions_fix_every_task(base, name, count, transfers):
    tasks = _tasks(name)
    assert len(tasks) == count
    failures = []
    for task in tasks:
        replay = replay_task(base, task)
        errors = [a for a in replay.actions if a.error]
        if errors or not replay.passed:
            failures.append(
                (task["id"], [a.observation for a in errors], [o.describe() for o in replay.final])
            )
        # the assertions fail on the initial state unless the task is one the agent must transfer
        # (a locked SIM, an ended contract): then the broken state is the expected end state
        assert replay.failed_initially is not _transfers(task), task["id"]
    assert failures == []
    assert sum(_transfers(t) for t in tasks) == transfers


@pytest.mark.parametrize(("name", "with_user_actions"), [("tasks_train.json", 66), ("tasks_small.json", 16)])
def test_dropping_the_last_user_action_breaks_every_task_that_has_one(base, name, with_user_actions):
    counted = 0
    for task in _tasks(name):
        actions = task["evaluation_criteria"]["actions"]
        user_positions = [i for i, a in enumerate(actions) if a["requestor"] == "user"]
        if not user_positions:
            continue
        counted += 1
        last = user_positions[-1]
        replay = replay_task(base, task, actions[:last] + actions[last + 1 :])
        assert not replay.passed, f"{task['id']} passes without its last user action {actions[last]['name']}"
    assert counted == with_user_actions


def test_tasks_without_user_actions_are_the_transfers_and_agent_only_fixes(base):
    tasks = _tasks("tasks_train.json")
    without = [t for t in tasks if all(a["requestor"] != "user" for a in t["evaluation_criteria"]["actions"])]
    assert [t for t in without if not _transfers(t)] == []


def test_replays_are_independent_forks(base):
    task = _tasks("tasks_small.json")[0]
    first, second = replay_task(base, task), replay_task(base, task)
    assert first.state.canonical_hash() == second.state.canonical_hash()
    assert base.fork().canonical_hash() == base.canonical_hash()


def test_golden_agent_actions_are_grounded_in_the_callers_account(base):
    from casework.domains.telecom import TELECOM, run_action, task_state
    from casework.domains.telecom.device import customer_by_phone, surroundings

    checked = 0
    for name in FILES:
        for task in _tasks(name):
            state = task_state(base, task)
            customer_id = customer_by_phone(state, surroundings(state)["phone_number"])["customer_id"]
            for action in task["evaluation_criteria"]["actions"]:
                if action["requestor"] == "assistant":
                    assert TELECOM.grounding(state, customer_id, action["name"], action["arguments"]) == []
                    checked += 1
                run_action(state, action["requestor"], action["name"], action["arguments"])
    assert checked == 82 + 7  # assistant-side golden actions in train + small


def test_every_task_references_known_functions_tools_and_assertions():
    from casework.domains.telecom import check_task

    if not (TAU3_TELECOM / "tasks_train.json").exists():
        pytest.skip(f"reference data not found at {TAU3_TELECOM}")
    for name in FILES:
        for task in _tasks(name):
            assert check_task(task) == [], task["id"]


def test_check_task_names_each_bad_reference():
    from casework.domains.telecom import check_task

    task = {
        "initial_state": {
            "initialization_actions": [
                {"env_type": "user", "func_name": "melt_phone", "arguments": {}},
                {
                    "env_type": "user",
                    "func_name": "set_user_location",
                    "arguments": {"abroad": True, "city": "Rome"},
                },
            ]
        },
        "evaluation_criteria": {
            "actions": [
                {"requestor": "user", "name": "refuel_data", "arguments": {}},
                {"requestor": "assistant", "name": "refuel_data", "arguments": {"customer_id": "C1"}},
            ],
            "env_assertions": [
                {
                    "env_type": "assistant",
                    "func_name": "assert_can_send_mms",
                    "arguments": {"expected_status": True},
                },
                {"env_type": "user", "func_name": "assert_coffee", "arguments": {}},
            ],
        },
    }
    problems = check_task(task)
    assert problems[0] == "initial_state.initialization_actions[0]: no user function 'melt_phone'"
    assert "unexpected keyword argument 'city'" in problems[1]
    assert problems[2].startswith("evaluation_criteria.actions[0] (user): Error: unknown tool 'refuel_data'")
    assert "missing required argument 'line_id'" in problems[3]
    assert problems[4] == (
        "evaluation_criteria.env_assertions[0]: assert_can_send_mms is a user assertion, not 'assistant'"
    )
    assert problems[5] == "evaluation_criteria.env_assertions[1]: unknown assertion 'assert_coffee'"
    assert len(problems) == 6
