"""Validation stages 1-4 in one replay: format, grounding, execution and the domain's policy rules.

Each problem is a :class:`Problem` naming the task, the stage, the action (when there is one) and
what is wrong. Stages:

- ``format``: the tool exists and the arguments fit its schema (types, required, no extras);
- ``grounding``: the task's user exists; ids named by an action exist and belong to the task's user
  (the domain's ``grounding``, checked on the state just before the action); one user across all
  actions (``check_user_id``); what the user must say themselves (the fields of the domain's
  identification tools and, when the ground truth spells out its lookups, the ids of records they
  own unless an earlier call of the domain's profile tool lets the agent find them) appears in the
  instruction;
- ``execution``: every action succeeds when replayed on a fresh fork (except the indices listed in
  ``task.metadata["expected_errors"]``), and a task with write actions changes the database;
- ``assertions`` (tasks with ``env_assertions`` only): the task's assertions, run through the domain
  (:meth:`~casework.domains.Domain.check_env_assertion`), do not all hold on the initial state
  (unless the golden actions end the conversation, e.g. a transfer: then the state is meant to stay
  as it is) and all hold after the golden actions.

Dual control: the fork gets the task's ``initial_state`` first (the domain's
``apply_initial_state``), and each action runs on its ``requestor``'s side (``user``: the domain's
``user_toolbox``), so a task's golden actions on both sides replay as in a simulation.

A :class:`~casework.domains.PolicyCheck` (the domain's ``policy_rules``) adds the ``policy`` stage in
the same replay pass; the generation pipeline adds review-committee and de-duplication stages on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from casework.domains import Database, Domain, PolicyCheck, State, ToolKind
from casework.tasks.model import Task
from casework.tasks.refusal import REFUSALS_KEY, refusal_problems
from casework.tasks.replay import ActionError, Replay, is_error

STAGES = ("format", "grounding", "execution")
ASSERTION_STAGE = "assertions"
REFUSAL_STAGE = "refusal"


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


def _instruction_problems(domain: Domain, task: Task) -> list[Problem]:
    """What the user must tell the agent themselves should be in their instruction."""
    text = task.instruction.lower()
    problems: list[Problem] = []
    users = domain.users
    # Ground truth that lists no lookups (tau-bench lists only the writes) leaves the agent free to
    # find the user's records from their profile: their ids are required only when the lookups are
    # spelled out.
    looked_up = not any(a.name in users.identification for a in task.actions)
    for index, action in enumerate(task.actions):
        args = action.arguments if isinstance(action.arguments, dict) else {}
        if users.profile_tool is not None and action.name == users.profile_tool:
            looked_up = True
        fields = users.identification.get(action.name, ())
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
        for argument in users.owned_ids:
            value = args.get(argument)
            if not isinstance(value, str) or looked_up:
                continue
            prefix = domain.arguments.id_prefixes.get(argument, "")
            bare = value[len(prefix) :] if prefix and value.startswith(prefix) else value
            if bare.lower() not in text:
                how = (
                    f" and no earlier {users.profile_tool} lets the agent find it"
                    if users.profile_tool
                    else ""
                )
                problems.append(
                    Problem(
                        task.id,
                        "grounding",
                        f"{argument} {value} is not in the instruction{how}",
                        index,
                        action.name,
                    )
                )
    return problems


def _initial_state(domain: Domain, state: State, task: Task) -> str | None:
    """Apply the task's initial state to ``state``; the problem, or None."""
    if task.initial_state is None:
        return None
    initial = task.initial_state.model_dump(mode="json", exclude_none=True)
    if not initial:
        return None
    if domain.apply_initial_state is None:
        return f"the task has an initial_state, but domain {domain.name!r} cannot apply one"
    try:
        domain.apply_initial_state(state, initial)
    except Exception as exc:  # a bad initialisation action: reported, never raised
        return f"initial_state does not apply: {exc}"
    return None


def assertion_results(domain: Domain, state: State, task: Task) -> list[tuple[bool, str]]:
    """Each of the task's environment assertions on ``state``: (holds as the task expects, why)."""
    results = []
    for assertion in task.env_assertions or ():
        holds, reason = domain.env_assertion_holds(state, assertion)
        results.append((holds, f"{assertion.func_name}: {reason}" if reason else assertion.func_name))
    return results


def _assertion_problems(domain: Domain, task: Task, before: State, after: State) -> list[Problem]:
    if not task.env_assertions:
        return []
    problems = []
    initially = assertion_results(domain, before, task)
    ends = any(
        (tool := domain.toolbox.tools.get(a.name)) is not None and tool.ends_conversation
        for a in task.actions
        if a.requestor == "assistant"
    )
    if all(holds for holds, _ in initially) and not ends:
        problems.append(
            Problem(task.id, ASSERTION_STAGE, "every assertion already holds on the initial state")
        )
    for holds, reason in assertion_results(domain, after, task):
        if not holds:
            problems.append(Problem(task.id, ASSERTION_STAGE, f"after the golden actions: {reason}"))
    return problems


def _refusal_problems(task: Task, before: State, after: State) -> list[Problem]:
    """A task that refuses requests: the refusals are stated checkably (an NL assertion naming each
    refused record, unless the task is state-only), and a task that only refuses changes nothing."""
    try:
        problems = [Problem(task.id, REFUSAL_STAGE, m) for m in refusal_problems(task)]
    except ValueError as exc:
        return [Problem(task.id, REFUSAL_STAGE, str(exc))]
    if task.metadata.get("expected_behaviour") == "refuse" and not after.same_as(before):
        problems.append(
            Problem(
                task.id, REFUSAL_STAGE, "the task only refuses, but its golden actions change the database"
            )
        )
    return problems


def _note_users(domain: Domain, state: State, arguments: dict[str, Any], seen: list[str]) -> None:
    """Collect the users an action acts for (an owner argument, the owners of records it names)."""
    for user in domain.users.owners(state, arguments):
        if user not in seen:
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
    of the records actions name by that user, one user id across all actions).
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
    initial_problem = _initial_state(domain, state, task)
    if initial_problem is not None:
        problems.append(Problem(task.id, "format", initial_problem))
    initial = state.fork()  # the state the conversation starts from
    replay = Replay(task_id=task.id, state=state)
    owner = task.user_id if check_user_id else None
    user_table = domain.users.table
    if task.user_id is not None and user_table is not None and task.user_id not in state[user_table]:
        problems.append(Problem(task.id, "grounding", f"user_id {task.user_id!r} does not exist"))
    if instruction_checks:
        problems.extend(_instruction_problems(domain, task))
    expected_errors = set(task.metadata.get("expected_errors") or ())
    seen_users: list[str] = []
    has_write = False
    for index, action in enumerate(task.actions):
        user_side = action.requestor == "user"
        toolbox = domain.user_toolbox if user_side else domain.toolbox
        if toolbox is None:
            message = f"a user-side action, but domain {domain.name!r} has no user tools"
            problems.append(Problem(task.id, "format", message, index, action.name))
            replay.observations.append(f"Error: {message}")
            continue
        kwargs, error = toolbox.validate_arguments(action.name, action.arguments)
        if error is not None:
            problems.append(Problem(task.id, "format", error.removeprefix("Error: "), index, action.name))
            replay.observations.append(error)
            continue
        if toolbox[action.name].kind == ToolKind.WRITE:
            has_write = True
        if check_user_id and task.user_id is None and not user_side:
            _note_users(domain, state, action.arguments, seen_users)
        if domain.grounding is not None and not user_side:
            for message in domain.grounding(state, owner, action.name, action.arguments):
                problems.append(Problem(task.id, "grounding", message, index, action.name))
        if policy is not None and not user_side:
            for message in policy.check_action(state, task, index, action.arguments, action.name):
                problems.append(Problem(task.id, "policy", message, index, action.name))
        observation = toolbox.run(state, action.name, kwargs)  # arguments checked above
        replay.observations.append(observation)
        if is_error(observation):
            replay.errors.append(ActionError(index, observation))
            if index not in expected_errors:
                problems.append(
                    Problem(task.id, "execution", f"replay failed: {observation}", index, action.name)
                )
    if has_write and not replay.errors and state.same_as(initial):
        problems.append(
            Problem(task.id, "execution", "the task has write actions but the database is unchanged")
        )
    if len(seen_users) > 1:
        problems.append(
            Problem(task.id, "grounding", f"actions act for several users: {', '.join(seen_users)}")
        )
    stages = STAGES
    if task.metadata.get(REFUSALS_KEY):
        problems.extend(_refusal_problems(task, initial, state))
        stages = (*stages, REFUSAL_STAGE)
    if task.env_assertions:
        problems.extend(_assertion_problems(domain, task, initial, state))
        stages = (*stages, ASSERTION_STAGE)
    if policy is not None:
        problems.extend(Problem(task.id, "policy", message) for message in policy.check_task(task, replay))
        stages = (*stages, "policy")
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
