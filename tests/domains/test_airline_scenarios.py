"""Templated airline scenarios: 1,000 tasks pass validation stages format, grounding, execution and policy."""

from __future__ import annotations

from collections import Counter

import pytest

from casework.domains import get_domain
from casework.domains.airline.scenarios import KEYS
from casework.generate.templated import build_templated_task, parse_weights
from casework.tasks.validate import validate_task


@pytest.mark.parametrize("profile", ["tau-bench-v1", "tau3"])
def test_thousand_templated_tasks_validate_with_every_scenario(profile):
    domain = get_domain("airline", profile)
    database = domain.database()
    policy = domain.policy_rules()
    tasks = [build_templated_task(domain, database, i, 1, multi_intent=0.0) for i in range(1000)]
    invalid = {}
    for task in tasks:
        result = validate_task(domain, database, task, policy=policy)
        if not result.valid:
            invalid[task.id] = [p.message for p in result.problems]
    assert invalid == {}
    counts = Counter(task.scenario for task in tasks)
    assert set(counts) == set(KEYS)
    assert max(counts.values()) <= 250  # no scenario above 25 %
    assert len({task.id for task in tasks}) == 1000


def test_same_seed_same_tasks_and_weights():
    domain = get_domain("airline")
    database = domain.database()
    first = [build_templated_task(domain, database, i, 4).model_dump() for i in range(30)]
    again = [build_templated_task(domain, database, i, 4).model_dump() for i in range(30)]
    assert first == again
    only = build_templated_task(domain, database, 0, 4, weights={"transfer": 1.0})
    assert only.scenario == "transfer" and only.actions[-1].name == "transfer_to_human_agents"
    with pytest.raises(ValueError, match="unknown scenario 'fly'"):
        parse_weights("fly=1", domain.scenarios.keys)


def test_scenarios_follow_the_policy():
    domain = get_domain("airline")
    database = domain.database()

    def build(key: str, index: int = 0):
        return build_templated_task(domain, database, index, 9, weights={key: 1.0})

    refused = build("cancel_refused")
    assert refused.metadata["expected_behaviour"] == "refuse"
    assert not any(domain.is_write(a.name) for a in refused.actions)
    delayed = build("compensation_delayed")
    assert [a.name for a in delayed.actions][-2:] == ["cancel_reservation", "send_certificate"]
    reservation = database.tables["reservations"][delayed.actions[1].arguments["reservation_id"]]
    assert delayed.actions[-1].arguments["amount"] == 50 * len(reservation["passengers"])
    cancelled = build("compensation_cancelled")
    reservation = database.tables["reservations"][cancelled.actions[1].arguments["reservation_id"]]
    assert cancelled.actions[-1].arguments["amount"] == 100 * len(reservation["passengers"])
    assert cancelled.outputs == [str(100 * len(reservation["passengers"]))]
    # with τ³'s tools, a status lookup asks get_flight_status and expects its answer
    tau3 = get_domain("airline", "tau3")
    lookup = build_templated_task(tau3, database, 0, 9, weights={"status_lookup": 1.0})
    assert lookup.actions[-1].name == "get_flight_status" and lookup.outputs[0] in {
        "available", "on time", "delayed", "flying", "landed", "cancelled",
    }  # fmt: skip


def test_a_broken_refusal_is_caught_by_the_policy_stage():
    domain = get_domain("airline")
    database = domain.database()
    task = build_templated_task(domain, database, 0, 9, weights={"cancel_refused": 1.0})
    rid = task.metadata["refused_reservations"][0]
    broken = task.model_copy(
        update={
            "actions": [
                *task.actions,
                type(task.actions[0])(name="cancel_reservation", arguments={"reservation_id": rid}),
            ]
        }
    )
    result = validate_task(domain, database, broken, policy=domain.policy_rules())
    messages = [p.message for p in result.problems if p.stage == "policy"]
    assert any(m.startswith("[cancel-not-allowed]") for m in messages)
    assert any(m.startswith("[refusal]") for m in messages)


def test_multi_intent_airline_tasks_validate():
    domain = get_domain("airline")
    database = domain.database()
    policy = domain.policy_rules()
    tasks = [build_templated_task(domain, database, i, 3, multi_intent=0.5) for i in range(200)]
    multi = [t for t in tasks if isinstance(t.scenario, list)]
    assert len(multi) > 50
    for task in multi:
        assert "transfer" not in task.scenario[:-1]  # a transfer ends the conversation: it goes last
        assert task.instruction.count("First,") == 1
    problems = [p.line() for t in tasks for p in validate_task(domain, database, t, policy=policy).problems]
    assert problems == []
