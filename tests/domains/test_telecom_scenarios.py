"""The templated telecom scenario library: validated tasks, balanced fault types, deterministic."""

from __future__ import annotations

import copy
import json

import pytest

from casework.domains.telecom import replay_task
from casework.domains.telecom.data import default_telecom_database
from casework.domains.telecom.scenarios import (
    FAULTS,
    ISSUES,
    Context,
    Library,
    compose_task,
    coverage,
    eligible_lines,
    validate_task,
)


@pytest.fixture(scope="module")
def database():
    return default_telecom_database()


@pytest.fixture(scope="module")
def thousand(database):
    library = Library(database)
    tasks = library.generate(1000, seed=7)
    return library, tasks


def test_a_thousand_tasks_validate_with_balanced_fault_types(thousand):
    library, tasks = thousand
    assert len(tasks) == 1000 and len({t["id"] for t in tasks}) == 1000
    assert library.rejected == 0  # every drawn combination is solvable and minimal
    report = coverage(tasks)
    assert set(report["fault_share"]) == set(FAULTS)
    assert max(report["fault_share"].values()) <= 0.25
    assert set(report["faults_per_task"]) == {1, 2, 3}
    assert set(report["issues"]) == set(ISSUES) and min(report["issues"].values()) >= 300


def test_generated_tasks_replay_independently(database, thousand):
    _, tasks = thousand
    for task in tasks[:100]:
        replay = replay_task(database, json.loads(json.dumps(task)))  # survives a JSON round trip
        assert replay.failed_initially and replay.passed and not any(a.error for a in replay.actions)
        sides = {a["requestor"] for a in task["evaluation_criteria"]["actions"]}
        assert sides <= {"user", "assistant"}


def test_user_and_agent_sides_both_appear(thousand):
    _, tasks = thousand
    requestors = {a["requestor"] for t in tasks for a in t["evaluation_criteria"]["actions"]}
    assert requestors == {"user", "assistant"}
    assertions = {a["func_name"] for t in tasks for a in t["evaluation_criteria"]["env_assertions"]}
    assert assertions == {
        "assert_service_status",
        "assert_mobile_data_status",
        "assert_internet_speed",
        "assert_can_send_mms",
        "assert_data_refueling_amount",
        "assert_no_overdue_bill",
    }


def test_deterministic_for_a_seed(database):
    first = Library(database).generate(60, seed=3)
    assert first == Library(database).generate(60, seed=3)
    assert first != Library(database).generate(60, seed=4)


def _context(database) -> Context:
    return Context(**{**eligible_lines(database.fork())[0].__dict__, "bill_id": "B9TEST"})


def test_validation_rejects_broken_tasks(database):
    context = _context(database)
    good = compose_task("mms_issue", ["airplane_mode_on", "bad_wifi_calling"], context, "None", "Italy", "")
    assert validate_task(database, good).ok

    missing_fix = copy.deepcopy(good)
    missing_fix["evaluation_criteria"]["actions"].pop()
    problems = validate_task(database, missing_fix).problems
    assert any(p.startswith("after the golden actions: FAIL assert_can_send_mms") for p in problems)

    extra = copy.deepcopy(good)
    extra["evaluation_criteria"]["actions"].append(
        {"requestor": "user", "name": "toggle_data_saver_mode", "arguments": {}}
    )
    extra["evaluation_criteria"]["actions"].append(
        {"requestor": "user", "name": "toggle_data_saver_mode", "arguments": {}}
    )
    assert "golden action 2 (toggle_data_saver_mode) is not needed" in validate_task(database, extra).problems

    no_fault = compose_task("service_issue", [], context, "None", "Italy", "")
    assert "the assertions already pass on the initial state" in validate_task(database, no_fault).problems

    failing = copy.deepcopy(good)
    failing["evaluation_criteria"]["actions"].insert(
        0,
        {
            "requestor": "assistant",
            "name": "resume_line",
            "arguments": {"customer_id": "C0", "line_id": "L0"},
        },
    )
    assert any("resume_line failed: Error:" in p for p in validate_task(database, failing).problems)


def test_overdue_bill_task_pays_resumes_and_reboots(database):
    task = compose_task(
        "service_issue",
        ["overdue_bill_suspension", "unseat_sim_card"],
        _context(database),
        "Hard",
        "Italy",
        "",
    )
    names = [(a["requestor"], a["name"]) for a in task["evaluation_criteria"]["actions"]]
    assert names == [
        ("user", "reseat_sim_card"),
        ("assistant", "send_payment_request"),
        ("user", "make_payment"),
        ("assistant", "resume_line"),
        ("user", "reboot_device"),
    ]
    assert validate_task(database, task).ok


def test_abroad_faults_put_the_user_abroad(database):
    task = compose_task(
        "mobile_data_issue", ["user_abroad_roaming_disabled_off"], _context(database), "Easy", "Japan", ""
    )
    setup = [a["func_name"] for a in task["initial_state"]["initialization_actions"]]
    assert setup[:2] == ["set_user_info", "set_user_location"]
    assert "abroad in Japan" in task["user_scenario"]["instructions"]["known_info"]
    assert validate_task(database, task).ok
