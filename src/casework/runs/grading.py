"""Grade one finished simulation against its task's ground truth.

The expected side is computed once per task (:class:`ExpectedOutcome`: the ground truth replayed on a
fresh fork), then every trial of that task is scored with the functions in :mod:`casework.scoring`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from casework.domains import Database, Domain, State
from casework.scoring import action_metrics, classify_failure, compute_reward, shaped_reward
from casework.scoring.reward import outputs_found
from casework.sim.orchestrator import SimulationOutcome
from casework.sim.types import Termination
from casework.tasks.model import Task
from casework.tasks.replay import replay_task


@dataclass
class ExpectedOutcome:
    task: Task
    final_hash: str
    observations: list[str]
    errors: int

    @classmethod
    def of(cls, domain: Domain, database: Database, task: Task) -> ExpectedOutcome:
        replay = replay_task(domain, database, task)
        return cls(task, replay.final_hash, replay.observations, len(replay.errors))

    def goal_reached(self, state: State, agent_messages: list[str]) -> bool:
        """The database matches the ground truth and every expected output has been said."""
        if state.canonical_hash() != self.final_hash:
            return False
        return all(outputs_found(self.task.outputs, agent_messages))


def _plain(value: Any) -> Any:
    """JSON-ready data: dataclasses to dicts, tuples to lists (like ``asdict`` without its deepcopy)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def grade(domain: Domain, expected: ExpectedOutcome, outcome: SimulationOutcome) -> dict[str, Any]:
    """Score components of one simulation, as plain JSON-ready data."""
    task = expected.task
    actual_hash = outcome.final_state.canonical_hash() if outcome.final_state is not None else ""
    reward = compute_reward(expected.final_hash, actual_hash, task.outputs, outcome.agent_messages)
    if outcome.termination_reason == Termination.INFRASTRUCTURE_ERROR:
        # The simulation never finished: a state that happens to match (a read-only task) is no success.
        reward = dataclasses.replace(reward, reward=0.0)
    expected_actions = [{"name": a.name, "arguments": a.arguments} for a in task.actions]
    called = [
        {
            "name": c.name,
            "arguments": c.arguments if isinstance(c.arguments, dict) else {},
            "observation": c.observation,
        }
        for c in outcome.tool_calls
    ]

    def required(name: str) -> list[str]:
        found = domain.toolbox.tools.get(name)
        return list(found.parameters.get("required", [])) if found else []

    rules, identification = domain.arguments, domain.identification_tools
    metrics = action_metrics(
        expected_actions,
        called,
        is_write=domain.is_write,
        expected_observations=expected.observations,
        rules=rules,
        identification=identification,
    )
    shaped = shaped_reward(expected_actions, called, required_args=required, rules=rules)
    diagnosis = classify_failure(
        expected_actions,
        called,
        reward=reward,
        termination_reason=outcome.termination_reason.value,
        expected_observations=expected.observations,
        is_write=domain.is_write,
        rules=rules,
        identification=identification,
    )
    return {
        "reward": reward.reward,
        "success": reward.success,
        "db_match": reward.db_match,
        "outputs_match": reward.outputs_match,
        "outputs_found": reward.outputs_found,
        "expected_state_sha256": expected.final_hash,
        "final_state_sha256": actual_hash,
        "action_precision": metrics.precision,
        "action_recall": metrics.recall,
        "action_f1": metrics.f1,
        "exact_match": metrics.exact_match,
        "action_metrics": _plain(metrics),
        "shaped_reward": shaped.total,
        "shaped_reward_normalized": shaped.normalized,
        "shaped": _plain(shaped),
        "error_category": diagnosis.category.value,
        "error_detail": diagnosis.detail,
    }
