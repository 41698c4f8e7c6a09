"""Task validation, first version: format, grounding and execution checks.

Each problem is a :class:`Problem` naming the task, the stage, the action (when there is one) and
what is wrong. Stages:

- ``format``: the tool exists and the arguments fit its schema (types, required, no extras);
- ``grounding``: the task's user exists; ids named by an action exist and belong to the task's user
  (checked on the state just before the action); one user across all actions (``check_user_id``);
  what the user must say themselves (email or name + zip, and, when the ground truth spells out
  its lookups, the ids of orders they act on unless an earlier ``get_user_details`` lets the agent
  find them) appears in the instruction;
- ``execution``: every action succeeds when replayed on a fresh fork (except the indices listed in
  ``task.metadata["expected_errors"]``), and a task with write actions changes the database.

A :class:`PolicyCheck` adds the ``policy`` stage in the same replay pass (see
``casework.generate.policy``); the generation pipeline adds review-committee and de-duplication
stages on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from casework.domains import Database, Domain, State, ToolKind
from casework.tasks.model import Task
from casework.tasks.replay import ActionError, Replay, is_error

STAGES = ("format", "grounding", "execution")
IDENTIFICATION_TOOLS = {
    "find_user_id_by_email": ("email",),
    "find_user_id_by_name_zip": ("first_name", "last_name", "zip"),
}


@dataclass(frozen=True)
class Problem:
    task_id: str
    stage: str
    message: str
    action_index: int | None = None
    action_name: str | None = None

    def line(self) -> str:
        where = (
            f"action {self.action_index} ({self.action_name})" if self.action_index is not None else "task"
        )
        return f"task {self.task_id}: [{self.stage}] {where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "stage": self.stage,
            "action_index": self.action_index,
            "action_name": self.action_name,
            "message": self.message,
        }


class PolicyCheck(Protocol):
    """A domain's policy rules, run inside the validation replay (stage ``policy``)."""

    def check_action(
        self, state: State, task: Task, index: int, arguments: dict[str, Any], name: str
    ) -> list[str]:
        """Problems with action ``index`` given the state just before it runs."""
        ...

    def check_task(self, task: Task, replay: Replay) -> list[str]:
        """Problems with the task as a whole, after the replay (ordering, outputs, ...)."""
        ...


@dataclass
class TaskValidation:
    task: Task
    problems: list[Problem]
    replay: Replay
    stages: tuple[str, ...] = STAGES

    @property
    def valid(self) -> bool:
        return not self.problems

    def stage_results(self) -> dict[str, bool]:
        failed = {p.stage for p in self.problems}
        return {stage: stage not in failed for stage in self.stages}


def _instruction_problems(task: Task) -> list[Problem]:
    """What the user must tell the agent themselves should be in their instruction."""
    text = task.instruction.lower()
    problems: list[Problem] = []
    # Ground truth that lists no lookups (tau-bench lists only the writes) leaves the agent free to
    # find orders from the profile: order ids are required only when the lookups are spelled out.
    looked_up = not any(a.name in IDENTIFICATION_TOOLS for a in task.actions)
    for index, action in enumerate(task.actions):
        args = action.arguments if isinstance(action.arguments, dict) else {}
        if action.name == "get_user_details":
            looked_up = True
        fields = IDENTIFICATION_TOOLS.get(action.name, ())
        missing = [f for f in fields if str(args.get(f, "")).strip().lower() not in text]
        if missing:
            problems.append(
                Problem(
                    task.id,
                    "grounding",
                    f"the instruction does not give the user's {', '.join(missing)}",
                    index,
                    action.name,
                )
            )
        order_id = args.get("order_id")
        if isinstance(order_id, str) and not looked_up and order_id.lstrip("#").lower() not in text:
            problems.append(
                Problem(
                    task.id,
                    "grounding",
                    f"order {order_id} is not in the instruction and no earlier get_user_details lets the agent find it",
                    index,
                    action.name,
                )
            )
    return problems


def _note_users(state: State, arguments: dict[str, Any], seen: list[str]) -> None:
    """Collect the users an action acts for (a ``user_id`` argument, the owner of an ``order_id``)."""
    found = []
    if isinstance(arguments.get("user_id"), str):
        found.append(arguments["user_id"])
    order_id = arguments.get("order_id")
    if "orders" in state.table_names and isinstance(order_id, str) and order_id in state["orders"]:
        found.append(state["orders"][order_id].get("user_id"))
    for user in found:
        if isinstance(user, str) and user not in seen:
            seen.append(user)


def validate_task(
    domain: Domain,
    database: Database,
    task: Task,
    *,
    check_user_id: bool = True,
    policy: PolicyCheck | None = None,
    instruction_checks: bool = True,
) -> TaskValidation:
    """Check one task; the actions are replayed on a fresh fork of ``database``.

    ``check_user_id=False`` drops the checks that tie actions to the task's single user (ownership
    of orders and payment methods by that user, one user id across all actions).
    ``policy`` adds the ``policy`` stage. ``instruction_checks=False`` leaves out the checks that
    the instruction gives the user what they must say themselves (a task-quality heuristic).
    A task without ground truth (:attr:`Task.has_ground_truth`) is a ``format`` problem.
    """
    problems: list[Problem] = []
    if not task.has_ground_truth:
        problems.append(
            Problem(
                task.id,
                "format",
                "no ground truth: the file gives no actions for this task (write an empty actions list "
                "for a task that should change nothing; a tau2 task needs evaluation_criteria)",
            )
        )
    state = database.fork()
    replay = Replay(task_id=task.id, state=state)
    owner = task.user_id if check_user_id else None
    if task.user_id is not None and task.user_id not in state["users"]:
        problems.append(Problem(task.id, "grounding", f"user_id {task.user_id!r} does not exist"))
    if instruction_checks:
        problems.extend(_instruction_problems(task))
    expected_errors = set(task.metadata.get("expected_errors") or ())
    seen_users: list[str] = []
    has_write = False
    for index, action in enumerate(task.actions):
        kwargs, error = domain.toolbox.validate_arguments(action.name, action.arguments)
        if error is not None:
            problems.append(Problem(task.id, "format", error.removeprefix("Error: "), index, action.name))
            replay.observations.append(error)
            continue
        if domain.toolbox[action.name].kind == ToolKind.WRITE:
            has_write = True
        if check_user_id and task.user_id is None:
            _note_users(state, action.arguments, seen_users)
        if domain.grounding is not None:
            for message in domain.grounding(state, owner, action.name, action.arguments):
                problems.append(Problem(task.id, "grounding", message, index, action.name))
        if policy is not None:
            for message in policy.check_action(state, task, index, action.arguments, action.name):
                problems.append(Problem(task.id, "policy", message, index, action.name))
        observation = domain.toolbox.run(state, action.name, kwargs)  # arguments checked above
        replay.observations.append(observation)
        if is_error(observation):
            replay.errors.append(ActionError(index, observation))
            if index not in expected_errors:
                problems.append(
                    Problem(task.id, "execution", f"replay failed: {observation}", index, action.name)
                )
    if has_write and not replay.errors and state.same_as(database.fork()):
        problems.append(
            Problem(task.id, "execution", "the task has write actions but the database is unchanged")
        )
    if len(seen_users) > 1:
        problems.append(
            Problem(task.id, "grounding", f"actions act for several users: {', '.join(seen_users)}")
        )
    stages = STAGES
    if policy is not None:
        problems.extend(Problem(task.id, "policy", message) for message in policy.check_task(task, replay))
        stages = (*STAGES, "policy")
    return TaskValidation(task, problems, replay, stages)


def validate_tasks(
    domain: Domain,
    database: Database,
    tasks: Iterable[Task],
    *,
    check_user_id: bool = True,
    policy: PolicyCheck | None = None,
) -> list[TaskValidation]:
    return [
        validate_task(domain, database, task, check_user_id=check_user_id, policy=policy) for task in tasks
    ]
