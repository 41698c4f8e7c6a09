"""Grading a simulation: an infrastructure failure never counts as a success."""

from __future__ import annotations

from casework.domains import get_domain
from casework.runs.grading import ExpectedOutcome, grade
from casework.sim.orchestrator import SimulationOutcome
from casework.sim.types import Termination
from casework.tasks.model import Action, Task

RETAIL = get_domain("retail")


def outcome_for(task: Task, termination: Termination, state) -> SimulationOutcome:
    return SimulationOutcome(
        task_id=task.id,
        termination_reason=termination,
        messages=[],
        message_times=[],
        tool_calls=[],
        model_calls=[],
        agent_steps=0,
        tool_errors=0,
        final_state=state,
    )


def test_infrastructure_error_scores_zero_even_when_the_state_matches():
    database = RETAIL.database()
    order_id = next(iter(database.tables["orders"]))
    task = Task(
        id="read-only",
        instruction="look",
        actions=[Action(name="get_order_details", arguments={"order_id": order_id})],
    )
    expected = ExpectedOutcome.of(RETAIL, database, task)
    ok = grade(RETAIL, expected, outcome_for(task, Termination.USER_STOP, database.fork()))
    assert ok["reward"] == 1.0 and ok["success"]  # nothing to change, nothing to say: vacuously solved
    failed = grade(RETAIL, expected, outcome_for(task, Termination.INFRASTRUCTURE_ERROR, database.fork()))
    assert failed["reward"] == 0.0 and not failed["success"]
    assert failed["db_match"] is True  # the components still say what was true
    assert failed["error_category"] == "infrastructure"
