"""Replay a task's ground-truth actions on a fresh fork and record what happened.

Replaying is how tasks are graded (the agent's final state must hash like the replayed ground
truth) and how they are validated (every action should succeed and a write task should change
something).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from casework.domains import Change, Database, Domain, State
from casework.tasks.model import Action, Task


def is_error(observation: str) -> bool:
    """Tool observations that report a failure start with ``Error``."""
    return observation.startswith("Error")


@dataclass
class ActionError:
    action_index: int
    observation: str

    def to_dict(self) -> dict[str, Any]:
        return {"action_index": self.action_index, "observation": self.observation}


@dataclass
class Replay:
    """The outcome of replaying a list of actions on a fork."""

    task_id: str
    state: State
    observations: list[str] = field(default_factory=list)
    errors: list[ActionError] = field(default_factory=list)

    @property
    def final_hash(self) -> str:
        return self.state.canonical_hash()

    def diff(self) -> list[Change]:
        """What the actions changed, relative to the base database."""
        return self.state.base.fork().diff(self.state)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.task_id,
            "observations": self.observations,
            "errors": [e.to_dict() for e in self.errors],
            "final_state_sha256": self.final_hash,
            "diff": [c.to_dict() for c in self.diff()],
        }


def replay_actions(domain: Domain, state: State, actions: Iterable[Action], task_id: str = "") -> Replay:
    """Run ``actions`` in order on ``state`` (mutated in place) and collect observations and errors."""
    result = Replay(task_id=task_id, state=state)
    for index, action in enumerate(actions):
        observation = domain.call(state, action.name, action.arguments)
        result.observations.append(observation)
        if is_error(observation):
            result.errors.append(ActionError(index, observation))
    return result


def replay_task(domain: Domain, database: Database, task: Task) -> Replay:
    """Replay a task's ground-truth actions on a new fork of ``database``."""
    return replay_actions(domain, database.fork(), task.actions, task_id=task.id)


def numbers_and_text(observations: list[str]) -> tuple[set[float], str]:
    """Numbers an agent can read or count in the observations, and their text (lower-case)."""
    numbers: set[float] = set()

    def walk(value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            numbers.add(round(float(value), 2))
        elif isinstance(value, dict):
            numbers.add(float(len(value)))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            numbers.add(float(len(value)))
            for item in value:
                walk(item)
        elif isinstance(value, str):
            number = as_number(value)
            if number is not None:
                numbers.add(number)

    for observation in observations:
        if is_error(observation):
            continue
        try:
            walk(json.loads(observation))
        except (json.JSONDecodeError, ValueError):
            number = as_number(observation)
            if number is not None:
                numbers.add(number)
    return numbers, "\n".join(observations).lower()


def as_number(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", "").lstrip("$"))
    except ValueError:
        return None
    return round(value, 2) if math.isfinite(value) else None
