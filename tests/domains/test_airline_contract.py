"""The airline domain under the domain contract: profiles, user facts, initial state, validation, oracle runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airline_tiny import tiny_tables
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import DataError, DomainError, get_domain
from casework.domains.airline import apply_initial_state
from casework.domains.state import Database
from casework.tasks.formats import load_tasks
from casework.tasks.model import Action, Task
from casework.tasks.validate import validate_task, validate_tasks

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
V1_DIR = SHARED / "tau-bench-v1" / "airline"
T3_DB = SHARED / "tau3" / "airline" / "db.json"  # a reconstruction of τ³'s airline db.json
T3_TASKS = SHARED / "tau3" / "airline" / "tasks_train.json"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (needs ../shared/data beside the repository)")
    return path


def test_profiles_through_the_registry():
    default = get_domain("airline")
    assert default.profile == "tau-bench-v1" and "think" in default.toolbox
    tau3 = get_domain("airline@tau3")
    assert tau3.profile == "tau3" and "get_flight_status" in tau3.toolbox and "think" not in tau3.toolbox
    assert get_domain("airline", "tau3-exact").profile == "tau3-exact"
    with pytest.raises(
        DomainError, match="has no tool profile 'tau9'; available: tau-bench-v1, tau3, tau3-exact"
    ):
        get_domain("airline@tau9")


def test_user_facts_give_the_user_id():
    domain = get_domain("airline")
    state = Database(tiny_tables()).fork()
    facts = domain.users.facts_for(state, "ann_lee_1")
    assert facts.user_id == "ann_lee_1" and facts.details["membership"] == "silver"
    [identity] = facts.identities
    assert identity.text == "My user id is ann_lee_1." and identity.asked_in(
        "Could you give me your user ID?"
    )
    assert domain.users.facts_for(state, "nobody").identities == []
    assert domain.users.owners(state, {"reservation_id": "ABC123"}) == ["ann_lee_1"]


def test_apply_initial_state():
    domain = get_domain("airline")
    state = Database(tiny_tables()).fork()
    domain.apply_initial_state(
        state,
        {
            "initialization_data": {"agent_data": {"reservations": {"ABC123": {"insurance": "yes"}}}},
            "initialization_actions": [
                {
                    "env_type": "assistant",
                    "func_name": "send_certificate",
                    "arguments": {"user_id": "ann_lee_1", "amount": 75},
                }
            ],
        },
    )
    assert state["reservations"]["ABC123"]["insurance"] == "yes"
    assert state["reservations"]["ABC123"]["cabin"] == "economy"  # merged, not replaced
    assert state["users"]["ann_lee_1"]["payment_methods"]["certificate_3221322"]["amount"] == 75
    with pytest.raises(DataError, match="unknown table 'orders'"):
        apply_initial_state(state, {"initialization_data": {"agent_data": {"orders": {}}}})
    with pytest.raises(
        DataError, match=r"initialization_actions\[0\] \(cancel_reservation\): Error: reservation not found"
    ):
        apply_initial_state(
            state,
            {
                "initialization_actions": [
                    {"func_name": "cancel_reservation", "arguments": {"reservation_id": "X"}}
                ]
            },
        )


def test_validation_policy_stage_flags_a_broken_task():
    domain = get_domain("airline")
    database = Database(tiny_tables())
    task = Task(
        id="bad",
        domain="airline",
        user_id="ann_lee_1",
        instruction="I am ann_lee_1 and want to cancel reservation ABC123.",
        actions=[Action(name="cancel_reservation", arguments={"reservation_id": "ABC123"})],
    )
    result = validate_task(domain, database, task, policy=domain.policy_rules())
    assert not result.valid
    assert [p.stage for p in result.problems] == ["policy"]
    assert "[cancel-not-allowed]" in result.problems[0].message


@pytest.mark.parametrize(("profile", "data"), [("tau-bench-v1", V1_DIR), ("tau3", T3_DB)])
def test_tau3_train_tasks_validate(profile, data):
    domain = get_domain("airline", profile)
    tasks = load_tasks(_need(T3_TASKS), domain="airline")
    results = validate_tasks(domain, domain.load_data(_need(data)), tasks, policy=domain.policy_rules())
    assert len(results) == 30 and [r.task_id for r in results if not r.valid] == []


@pytest.mark.parametrize(("domain", "data"), [("airline", V1_DIR), ("airline@tau3", T3_DB)])
def test_oracle_with_scripted_user_scores_every_train_task(tmp_path, domain, data):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--tasks",
            str(_need(T3_TASKS)),
            "--domain",
            domain,
            "--data",
            str(_need(data)),
            "--agent",
            "oracle",
            "--out",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and all(row["reward"] == 1 for row in rows)


def test_domain_check_parts_pass():
    """The domain-check parts that run on the airline: data round trip, sample tasks, oracle, templated."""
    from casework.runs import domain_check
    from casework.tasks import load_tasks

    domain = get_domain("airline")
    database = domain.database()
    samples = load_tasks(domain.sample_tasks, domain="airline")
    checks = [
        domain_check.check_schemas(domain),
        domain_check.check_data(domain),
        domain_check.check_samples(domain, database, samples),
        domain_check.check_oracle("airline", domain.sample_tasks),
        domain_check.check_templated(domain, database),
    ]
    assert [c.name for c in checks if not c.passed] == [], [c.detail for c in checks]
    assert len(samples) == 11 and {t.scenario for t in samples} == set(domain.scenarios.keys)


def test_profile_divergence_finds_tasks_that_depend_on_tau3_defects():
    from casework.domains.airline import profile_divergence

    database = Database(tiny_tables())
    overnight = [("search_onestop_flight", {"origin": "JFK", "destination": "SFO", "date": "2024-05-05"})]
    assert profile_divergence(database, overnight) == [0]
    same_day = [("search_onestop_flight", {"origin": "JFK", "destination": "SFO", "date": "2024-05-20"})]
    assert profile_divergence(database, same_day) == []
    twice = {"payment_id": "gift_card_1", "amount": 200}
    book = {
        "user_id": "ann_lee_1", "origin": "JFK", "destination": "LAX", "flight_type": "one_way", "cabin": "economy",
        "flights": [{"flight_number": "HAT001", "date": "2024-05-20"}],
        "passengers": [{"first_name": "Ann", "last_name": "Lee", "dob": "1980-01-02"}],
        "payment_methods": [twice, twice], "total_baggages": 4, "nonfree_baggages": 4, "insurance": "no",
    }  # fmt: skip
    assert profile_divergence(database, [("book_reservation", book)]) == [0, 1]
    tasks_path = _need(T3_TASKS)
    data = get_domain("airline").load_data(_need(T3_DB))
    for task in json.loads(tasks_path.read_text()):
        actions = [(a["name"], a["arguments"]) for a in task["evaluation_criteria"]["actions"] or []]
        assert profile_divergence(data, actions) == [], task["id"]
