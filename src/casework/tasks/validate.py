"""Task validation, first version: format, grounding and execution checks.

Each problem is a :class:`Problem` naming the task, the stage, the action (when there is one) and
what is wrong. Stages:

- ``format``: the tool exists and the arguments fit its schema (types, required, no extras);
- ``grounding``: the task's user exists; ids named by an action exist and belong to the task's user
  (checked on the state just before the action);
- ``execution``: every action succeeds when replayed on a fresh fork, and a task with write actions
  changes the database.

The generation pipeline adds policy, review-committee and de-duplication stages on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from casework.domains import Database, Domain, ToolKind
from casework.tasks.model import Task
from casework.tasks.replay import ActionError, Replay, is_error

STAGES = ("format", "grounding", "execution")


@dataclass(frozen=True)
class Problem:
    task_id: str
    stage: str
    message: str
    action_index: int | None = None
    action_name: str | None = None

    def line(self) -> str:
        where = f"action {self.action_index} ({self.action_name})" if self.action_index is not None else "task"
        return f"task {self.task_id}: [{self.stage}] {where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "stage": self.stage,
            "action_index": self.action_index,
            "action_name": self.action_name,
            "message": self.message,
        }


@dataclass
class TaskValidation:
    task: Task
    problems: list[Problem]
    replay: Replay

    @property
    def valid(self) -> bool:
        return not self.problems

    def stage_results(self) -> dict[str, bool]:
        failed = {p.stage for p in self.problems}
        return {stage: stage not in failed for stage in STAGES}


def validate_task(domain: Domain, database: Database, task: Task) -> TaskValidation:
    """Check one task; the actions are replayed on a fresh fork of ``database``."""
    problems: list[Problem] = []
    state = database.fork()
    replay = Replay(task_id=task.id, state=state)
    if task.user_id is not None and task.user_id not in state["users"]:
        problems.append(Problem(task.id, "grounding", f"user_id {task.user_id!r} does not exist"))
    has_write = False
    for index, action in enumerate(task.actions):
        _, error = domain.toolbox.validate_arguments(action.name, action.arguments)
        if error is not None:
            problems.append(Problem(task.id, "format", error.removeprefix("Error: "), index, action.name))
            replay.observations.append(error)
            continue
        if domain.toolbox[action.name].kind == ToolKind.WRITE:
            has_write = True
        if domain.grounding is not None:
            for message in domain.grounding(state, task.user_id, action.name, action.arguments):
                problems.append(Problem(task.id, "grounding", message, index, action.name))
        observation = domain.call(state, action.name, action.arguments)
        replay.observations.append(observation)
        if is_error(observation):
            replay.errors.append(ActionError(index, observation))
            problems.append(Problem(task.id, "execution", f"replay failed: {observation}", index, action.name))
    if has_write and not replay.errors and state.same_as(database.fork()):
        problems.append(Problem(task.id, "execution", "the task has write actions but the database is unchanged"))
    return TaskValidation(task, problems, replay)


def validate_tasks(domain: Domain, database: Database, tasks: Iterable[Task]) -> list[TaskValidation]:
    return [validate_task(domain, database, task) for task in tasks]
