"""Grade one finished simulation against its task's ground truth: a list of scorers.

The expected side is computed once per task (:class:`ExpectedOutcome`: the task's initial state
applied, then its golden actions replayed on a fresh fork). A simulation is then scored by each
scorer of :data:`SCORERS`, each returning a typed :class:`~casework.scoring.components.ScoreComponent`:

- ``DB``: the agent-side state hashes like the expected one;
- ``COMMUNICATE``: the expected outputs were said (tau-bench v1's rule for tasks without a
  ``reward_basis``, τ³'s rule for the others; see :mod:`casework.scoring.tau3`);
- ``ACTION``: every golden action matched by a call (τ³'s rule, ``compare_args``);
- ``ENV_ASSERTION``: the domain's named assertions hold on the final state;
- ``NL_ASSERTION``: a judge model decides each natural-language assertion (verdicts come from
  :mod:`casework.runs.judge`, computed before grading because they need a model call);
- ``action_metrics``, ``shaped``, ``error_taxonomy``: diagnostics that never gate the reward (their
  full data also stays in the line's flat fields, as before).

Which components gate the reward is the task's ``reward_basis`` (the product of the listed
components). A task without one keeps tau-bench's rule: DB and COMMUNICATE (v1 rule), and an
infrastructure failure scores 0. With a ``reward_basis`` a simulation that ended other than by a
stop (steps, errors, timeout, infrastructure) scores 0, as in τ³.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from casework.domains import Database, Domain, State
from casework.scoring import action_metrics, classify_failure, compute_reward, shaped_reward
from casework.scoring.components import Check, ScoreComponent
from casework.scoring.reward import outputs_found
from casework.scoring.tau3 import GRADED_TERMINATIONS, action_checks, all_met, communicate_checks
from casework.tasks.model import Task
from casework.tasks.replay import ActionError, is_error

DB, COMMUNICATE, ACTION, NL_ASSERTION, ENV_ASSERTION = (
    "DB",
    "COMMUNICATE",
    "ACTION",
    "NL_ASSERTION",
    "ENV_ASSERTION",
)
#: the reward components of a task without a ``reward_basis`` (tau-bench's rule)
LEGACY_BASIS = (DB, COMMUNICATE)


class InitialStateError(ValueError):
    """A task has an initial state the domain cannot apply."""


def apply_initial_state(domain: Domain, state: State, task: Task) -> None:
    """Apply ``task.initial_state`` to ``state`` through the domain (nothing when the task has none)."""
    if task.initial_state is None:
        return
    initial = task.initial_state.model_dump(mode="json", exclude_none=True)
    if not initial:
        return
    if domain.apply_initial_state is None:
        raise InitialStateError(
            f"task {task.id}: has an initial_state, but domain {domain.name!r} cannot apply one"
        )
    domain.apply_initial_state(state, initial)


def call_tool(domain: Domain, state: State, name: str, arguments: Any, requestor: str = "assistant") -> str:
    """Run a tool as ``requestor`` (a user call goes to the domain's user toolbox)."""
    if requestor == "user":
        if domain.user_toolbox is None:
            return f"Error: domain {domain.name!r} has no user tools (user tool {name!r})"
        return domain.user_toolbox.call(state, name, arguments)
    return domain.call(state, name, arguments)


def fresh_state(domain: Domain, database: Database, task: Task) -> State:
    """A new fork of ``database`` with the task's initial state applied."""
    state = database.fork()
    apply_initial_state(domain, state, task)
    return state


@dataclass
class ExpectedOutcome:
    """The ground truth replayed: final hash, observations, and errors (index + observation)."""

    task: Task
    final_hash: str
    observations: list[str]
    errors: int
    error_list: list[ActionError] = field(default_factory=list)
    #: golden actions that write and errored (τ³: the expected state is incomplete)
    failed_writes: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, domain: Domain, database: Database, task: Task) -> ExpectedOutcome:
        state = fresh_state(domain, database, task)
        observations: list[str] = []
        errors: list[ActionError] = []
        for index, action in enumerate(task.actions):
            observation = call_tool(domain, state, action.name, action.arguments, action.requestor)
            observations.append(observation)
            if is_error(observation):
                errors.append(ActionError(index, observation))
        failed = [e.action_index for e in errors if domain.is_write(task.actions[e.action_index].name)]
        return cls(task, state.canonical_hash(), observations, len(errors), errors, failed)

    def goal_reached(self, state: State, agent_messages: list[str]) -> bool:
        """The database matches the ground truth and every expected output has been said."""
        if state.canonical_hash() != self.final_hash:
            return False
        return all(outputs_found(self.task.outputs, agent_messages))


@dataclass
class GradingInput:
    """What the scorers see of one simulation (from a live outcome or a saved result line)."""

    domain: Domain
    expected: ExpectedOutcome
    termination_reason: str
    messages: list[dict[str, Any]]
    #: executed tool calls: ``{"name", "arguments", "observation", "requestor"}``
    tool_calls: list[dict[str, Any]]
    final_hash: str
    final_state: State | None = None
    #: judge verdicts for the task's NL assertions (None: not judged)
    nl_checks: list[Check] | None = None
    nl_status: str = "ok"
    nl_note: str = ""

    @property
    def task(self) -> Task:
        return self.expected.task

    @property
    def agent_messages(self) -> list[str]:
        return [m["content"] for m in self.messages if m.get("role") == "assistant" and m.get("content")]

    @property
    def tau3(self) -> bool:
        return self.task.reward_basis is not None

    def agent_calls(self) -> list[dict[str, Any]]:
        return [
            {
                "name": c["name"],
                "arguments": c["arguments"] if isinstance(c["arguments"], dict) else {},
                "observation": c.get("observation", ""),
            }
            for c in self.tool_calls
            if c.get("requestor", "assistant") == "assistant"
        ]

    def user_calls(self) -> list[dict[str, Any]]:
        """The calls made on the user's device (dual control), as :meth:`agent_calls`."""
        return [
            {
                "name": c["name"],
                "arguments": c["arguments"] if isinstance(c["arguments"], dict) else {},
                "observation": c.get("observation", ""),
            }
            for c in self.tool_calls
            if c.get("requestor", "assistant") == "user"
        ]


# --------------------------------------------------------------------------- the scorers


def score_db(g: GradingInput) -> ScoreComponent:
    match = g.final_hash == g.expected.final_hash
    details = {"expected_state_sha256": g.expected.final_hash, "final_state_sha256": g.final_hash}
    if g.tau3 and g.expected.failed_writes:
        details["failed_golden_writes"] = g.expected.failed_writes
        if match:  # τ³: a match against an incomplete reference certifies nothing
            return ScoreComponent(
                name=DB,
                reward=None,
                status="not_evaluated",
                note="golden write action(s) errored: the expected state is incomplete",
                details=details,
            )
    return ScoreComponent(name=DB, reward=1.0 if match else 0.0, details=details)


def score_communicate(g: GradingInput) -> ScoreComponent:
    if g.tau3:
        checks = communicate_checks(g.task.outputs, g.agent_messages)
        return ScoreComponent(name=COMMUNICATE, reward=all_met(checks), checks=checks, note="τ³ rule")
    found = outputs_found(g.task.outputs, g.agent_messages)
    checks = [Check(subject=o, met=f) for o, f in zip(g.task.outputs, found, strict=True)]
    return ScoreComponent(name=COMMUNICATE, reward=1.0 if all(found) else 0.0, checks=checks, note="v1 rule")


def score_action(g: GradingInput) -> ScoreComponent:
    calls = [
        (
            c["name"],
            c["arguments"] if isinstance(c["arguments"], dict) else {},
            c.get("requestor", "assistant"),
        )
        for c in g.tool_calls
    ]
    checks = action_checks(g.task.actions, calls)
    return ScoreComponent(name=ACTION, reward=all_met(checks), checks=checks)


def score_env_assertions(g: GradingInput) -> ScoreComponent:
    assertions = g.task.env_assertions or []
    if not assertions:
        return ScoreComponent(name=ENV_ASSERTION, reward=1.0, note="no environment assertions")
    if g.final_state is None:
        return ScoreComponent(name=ENV_ASSERTION, status="not_evaluated", note="no final state to check")
    checks = []
    for assertion in assertions:
        met, reason = g.domain.env_assertion_holds(g.final_state, assertion)  # a broken one: not met
        checks.append(
            Check(
                subject=assertion.model_dump(mode="json"),
                met=met,
                justification=reason or (assertion.message or "" if not met else ""),
            )
        )
    return ScoreComponent(name=ENV_ASSERTION, reward=all_met(checks), checks=checks)


def score_nl_assertions(g: GradingInput) -> ScoreComponent:
    assertions = g.task.nl_assertions or []
    if not assertions:
        return ScoreComponent(name=NL_ASSERTION, reward=1.0, note="no NL assertions")
    if g.nl_checks is None:
        return ScoreComponent(name=NL_ASSERTION, status="not_evaluated", note=g.nl_note or "not judged")
    if g.nl_status == "judge_error":
        return ScoreComponent(name=NL_ASSERTION, status="judge_error", note=g.nl_note, checks=g.nl_checks)
    return ScoreComponent(name=NL_ASSERTION, reward=all_met(g.nl_checks), checks=g.nl_checks, note=g.nl_note)


#: the reward components by name
COMPONENT_SCORERS: dict[str, Callable[[GradingInput], ScoreComponent]] = {
    DB: score_db,
    COMMUNICATE: score_communicate,
    ACTION: score_action,
    ENV_ASSERTION: score_env_assertions,
    NL_ASSERTION: score_nl_assertions,
}


def components_for(task: Task) -> list[str]:
    """The components a task is scored on: its basis, plus every one it has data for."""
    names = list(task.reward_basis or LEGACY_BASIS)
    if task.reward_basis is not None:
        if task.nl_assertions and NL_ASSERTION not in names:
            names.append(NL_ASSERTION)
        if task.env_assertions and ENV_ASSERTION not in names:
            names.append(ENV_ASSERTION)
    return [str(n) for n in names]


def combine(
    components: Sequence[ScoreComponent], basis: Sequence[str], termination_reason: str, tau3: bool
) -> float:
    """The product of the gating components; 0 for a failed judge or an ungraded termination."""
    if termination_reason == "infrastructure_error":
        return 0.0
    if tau3 and termination_reason not in GRADED_TERMINATIONS:
        return 0.0
    reward = 1.0
    for component in components:
        if component.name not in basis:
            continue
        if component.status == "judge_error":
            return 0.0
        if component.reward is not None:
            reward *= component.reward
    return reward


def grade_input(g: GradingInput) -> dict[str, Any]:
    """Every component and diagnostic of one simulation, as the fields of its result line."""
    task = g.task
    domain = g.domain
    basis = [str(b) for b in (task.reward_basis or LEGACY_BASIS)]
    components = []
    for name in components_for(task):
        component = COMPONENT_SCORERS[name](g)
        components.append(component.model_copy(update={"gates": name in basis}))
    reward_value = combine(components, basis, g.termination_reason, g.tau3)
    legacy = compute_reward(g.expected.final_hash, g.final_hash, task.outputs, g.agent_messages)
    legacy = dataclasses.replace(legacy, reward=reward_value)
    # action metrics are the agent's: its golden actions against its own calls; a dual-control task
    # adds the user's (user-side golden actions against the user's device calls) as user_action_*
    expected_actions = [
        {"name": a.name, "arguments": a.arguments} for a in task.actions if a.requestor != "user"
    ]
    called = g.agent_calls()
    expected_user = [
        {"name": a.name, "arguments": a.arguments} for a in task.actions if a.requestor == "user"
    ]
    user_called = g.user_calls()
    agent_observations = [
        o for o, a in zip(g.expected.observations, task.actions, strict=False) if a.requestor != "user"
    ]

    def required(name: str) -> list[str]:
        found = domain.toolbox.tools.get(name)
        return list(found.parameters.get("required", [])) if found else []

    rules, identification = domain.arguments, domain.identification_tools
    metrics = action_metrics(
        expected_actions,
        called,
        is_write=domain.is_write,
        expected_observations=agent_observations,
        rules=rules,
        identification=identification,
    )
    user_metrics = (
        action_metrics(expected_user, user_called, is_write=domain.is_write, rules=rules)
        if expected_user or user_called
        else None
    )
    shaped = shaped_reward(expected_actions, called, required_args=required, rules=rules)
    diagnosis = classify_failure(
        expected_actions,
        called,
        reward=legacy,
        termination_reason=g.termination_reason,
        expected_observations=agent_observations,
        is_write=domain.is_write,
        rules=rules,
        identification=identification,
    )
    by_name = {c.name: c for c in components}
    communicate = by_name.get(COMMUNICATE)
    outputs = (
        [bool(c.met) for c in communicate.checks]
        if communicate is not None
        else outputs_found(task.outputs, g.agent_messages)
    )
    components += [
        ScoreComponent(
            name="action_metrics",
            details={
                "precision": metrics.precision,
                "recall": metrics.recall,
                "f1": metrics.f1,
                "exact_match": metrics.exact_match,
            },
        ),
        ScoreComponent(name="shaped", details={"total": shaped.total, "normalized": shaped.normalized}),
        ScoreComponent(
            name="error_taxonomy",
            details={"category": diagnosis.category.value, "detail": diagnosis.detail},
        ),
    ]
    result = {
        "reward": reward_value,
        "success": reward_value >= 1.0,
        "db_match": g.final_hash == g.expected.final_hash,
        "outputs_match": all(outputs),
        "outputs_found": outputs,
        "expected_state_sha256": g.expected.final_hash,
        "final_state_sha256": g.final_hash,
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
        "reward_basis": None if task.reward_basis is None else basis,
        **(
            {
                "user_action_precision": user_metrics.precision,
                "user_action_recall": user_metrics.recall,
                "user_action_f1": user_metrics.f1,
                "user_exact_match": user_metrics.exact_match,
            }
            if user_metrics is not None
            else {}
        ),
        "components": {c.name: c.model_dump(mode="json") for c in components},
    }
    return result


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """JSON-ready data: dataclasses to dicts, tuples to lists (like ``asdict`` without its deepcopy)."""
    if type(value) in _SCALARS:  # most leaves: answered before the dataclass check
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def input_from_outcome(domain: Domain, expected: ExpectedOutcome, outcome: Any) -> GradingInput:
    """A :class:`GradingInput` from a live :class:`~casework.sim.orchestrator.SimulationOutcome`."""
    state = outcome.final_state
    return GradingInput(
        domain=domain,
        expected=expected,
        termination_reason=outcome.termination_reason.value,
        messages=outcome.messages,
        tool_calls=[c.model_dump(mode="json") for c in outcome.tool_calls],
        final_hash=state.canonical_hash() if state is not None else "",
        final_state=state,
    )


def grade(domain: Domain, expected: ExpectedOutcome, outcome: Any, nl: Any = None) -> dict[str, Any]:
    """Score components of one simulation, as plain JSON-ready data (``nl``: judge verdicts)."""
    g = input_from_outcome(domain, expected, outcome)
    if nl is not None:
        g.nl_checks, g.nl_status, g.nl_note = nl.checks, nl.status, nl.note
    return grade_input(g)
