"""Why a task failed: one category per failed trajectory, with a human-readable detail.

Categories (:class:`ErrorCategory`) and the precedence used when several apply, highest first:

1. ``infrastructure``: the run ended on an infrastructure error, such as a model endpoint that
   failed or timed out after its retries (:data:`INFRASTRUCTURE_REASONS`). Nothing the agent did can be judged, so this overrides all.
2. ``user_simulator``: the simulated user broke down (:data:`USER_SIMULATOR_REASONS`, or
   ``user_simulator_error=True``). The conversation the agent saw was not the task's, so the
   agent's actions are not evidence about the agent.
3. ``execution``: a called tool returned an ``Error...`` observation that the ground truth did not
   expect. Errors cascade (a failed call changes what the agent does next), so the first one is the
   most useful thing to look at.
4. ``outputs``: the database ended right (``db_match``) but an expected output was not said. When
   the state is right the action differences are harmless, so this ranks above them.
5. ``parameter``: right tool, wrong arguments (an expected action unmatched while a call of the same
   tool is unmatched too). Closest to correct, and the most specific diagnosis.
6. ``logic``: wrong tool (an expected action unmatched while a call of a different tool of the same
   kind is unmatched; the kind is read/write when ``is_write`` is given, otherwise any tool).
7. ``action_sequence``: missing, extra or out-of-order actions, with everything else right.
8. ``unknown``: the reward is below 1 but none of the above explains it (for example every
   action matches but the database still differs).

``none`` is returned for a success (``reward >= 1``), whatever else is passed.

Expected errors: an error observation is *expected* when the same text (stripped) appears among
``expected_observations`` (matched as a multiset), so a task whose ground truth itself hits an
error does not count against the agent. ``tool_errors`` may list error observations directly; by
default they are taken from the called actions' ``observation``.

Action comparisons reuse :func:`casework.scoring.actions.match_actions`, generic tools excluded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from casework.domains.domain import ArgumentRules
from casework.scoring.actions import (
    WriteTools,
    action_arguments,
    action_name,
    action_observation,
    as_write_predicate,
    is_error_observation,
    match_actions,
)
from casework.scoring.reward import RewardBreakdown
from casework.tasks.normalize import NO_RULES, normalize_arguments


class ErrorCategory(StrEnum):
    NONE = "none"
    INFRASTRUCTURE = "infrastructure"
    USER_SIMULATOR = "user_simulator"
    EXECUTION = "execution"
    OUTPUTS = "outputs"
    PARAMETER = "parameter"
    LOGIC = "logic"
    ACTION_SEQUENCE = "action_sequence"
    UNKNOWN = "unknown"


#: Termination reasons that mean the run itself broke (compared lower-cased). A model endpoint that
#: times out after its retries ends the simulation with ``infrastructure_error``; the simulation's
#: own wall-clock ``timeout`` is not listed, since a slow or looping agent causes it as often.
INFRASTRUCTURE_REASONS: frozenset[str] = frozenset(
    {"infrastructure_error", "endpoint_error", "endpoint_timeout"}
)

#: Termination reasons that mean the simulated user broke (compared lower-cased).
USER_SIMULATOR_REASONS: frozenset[str] = frozenset({"user_error", "user_simulator_error", "user_simulator"})


def _reason(termination_reason: Any) -> str:
    if termination_reason is None:
        return ""
    return str(getattr(termination_reason, "value", termination_reason)).strip().lower()


def is_infrastructure_error(termination_reason: Any) -> bool:
    """True when a run's termination reason (string or enum) is an infrastructure failure."""
    return _reason(termination_reason) in INFRASTRUCTURE_REASONS


def is_user_simulator_error(termination_reason: Any) -> bool:
    """True when a run's termination reason (string or enum) says the simulated user broke."""
    return _reason(termination_reason) in USER_SIMULATOR_REASONS


@dataclass(frozen=True)
class FailureDiagnosis:
    """The category of a failure and a one-line explanation."""

    category: ErrorCategory
    detail: str = ""


def format_call(name: str, arguments: dict[str, Any]) -> str:
    """``name(key='value', ...)``, the way a call is written in a detail string."""
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"


def _argument_difference(expected: Any, called: Any, rules: ArgumentRules) -> str:
    name = action_name(expected)
    exp_raw, cal_raw = action_arguments(expected), action_arguments(called)
    exp_norm, cal_norm = normalize_arguments(name, exp_raw, rules), normalize_arguments(name, cal_raw, rules)
    parts = []
    for key in list(exp_raw) + [k for k in cal_raw if k not in exp_raw]:
        if key not in cal_norm:
            parts.append(f"without {key}")
        elif key not in exp_norm:
            parts.append(f"extra {key}={cal_raw[key]!r}")
        elif exp_norm[key] != cal_norm[key]:
            parts.append(f"{key}={cal_raw[key]!r}")
    return ", ".join(parts)


def _agreement(expected: Any, called: Any, rules: ArgumentRules) -> int:
    name = action_name(expected)
    exp_norm = normalize_arguments(name, action_arguments(expected), rules)
    cal_norm = normalize_arguments(name, action_arguments(called), rules)
    return sum(1 for k, v in exp_norm.items() if k in cal_norm and cal_norm[k] == v)


def classify_failure(
    expected: Sequence[Any],
    called: Sequence[Any],
    *,
    reward: float | RewardBreakdown,
    termination_reason: Any = None,
    tool_errors: Sequence[str] | None = None,
    expected_observations: Sequence[str | None] | None = None,
    db_match: bool | None = None,
    outputs_match: bool | None = None,
    user_simulator_error: bool = False,
    is_write: WriteTools | None = None,
    identification_equivalent: bool = True,
    resolve_user: Callable[[Any], str | None] | None = None,
    ignorable: Collection[str] | None = None,
    rules: ArgumentRules = NO_RULES,
    identification: Collection[str] = (),
) -> FailureDiagnosis:
    """Classify a trajectory's failure (see the module docstring for categories and precedence).

    Args:
        expected: The ground-truth actions.
        called: The agent's actions, each optionally with ``observation``.
        reward: The reward, or the :class:`RewardBreakdown` (which also supplies ``db_match`` and
            ``outputs_match``).
        termination_reason: Why the run ended (string or string enum).
        tool_errors: Error observations of the run; by default those of ``called``.
        expected_observations: What each expected action returned, aligned with ``expected``.
        db_match, outputs_match: The reward's components, when ``reward`` is a bare number.
        user_simulator_error: Set when the caller knows the simulated user broke.
        is_write: Read/write kinds, so a wrong tool is only paired with a call of the same kind.
        identification_equivalent, resolve_user, ignorable, rules, identification: As in
            :func:`casework.scoring.actions.action_metrics`.
    """
    if isinstance(reward, RewardBreakdown):
        db_match = reward.db_match if db_match is None else db_match
        outputs_match = reward.outputs_match if outputs_match is None else outputs_match
        reward = reward.reward
    if reward >= 1.0:
        return FailureDiagnosis(ErrorCategory.NONE)

    reason = _reason(termination_reason)
    if reason in INFRASTRUCTURE_REASONS:
        return FailureDiagnosis(ErrorCategory.INFRASTRUCTURE, f"run ended with {reason}")
    if user_simulator_error or reason in USER_SIMULATOR_REASONS:
        return FailureDiagnosis(ErrorCategory.USER_SIMULATOR, f"run ended with {reason or 'a user error'}")

    allowed = Counter(
        o.strip() for o in expected_observations or () if o is not None and is_error_observation(o)
    )
    if tool_errors is None:
        errors = [(a, action_observation(a)) for a in called if is_error_observation(action_observation(a))]
    else:
        errors = [(None, e) for e in tool_errors if is_error_observation(e)]
    for action, error in errors:
        text = error.strip()
        if allowed[text] > 0:
            allowed[text] -= 1
            continue
        where = "a tool" if action is None else format_call(action_name(action), action_arguments(action))
        return FailureDiagnosis(ErrorCategory.EXECUTION, f"{where} returned {text!r}")

    if db_match and outputs_match is False:
        return FailureDiagnosis(
            ErrorCategory.OUTPUTS, "the database is right but an expected output was not said"
        )

    if ignorable is None:
        ignorable = rules.ignorable_tools
    exp = [(i, a) for i, a in enumerate(expected) if action_name(a) not in ignorable]
    cal = [(i, a) for i, a in enumerate(called) if action_name(a) not in ignorable]
    pairs = match_actions(
        expected,
        called,
        identification_equivalent=identification_equivalent,
        expected_observations=expected_observations,
        resolve_user=resolve_user,
        ignorable=ignorable,
        rules=rules,
        identification=identification,
    )
    matched_exp = {e for e, _ in pairs}
    matched_cal = {c for _, c in pairs}
    missing = [(i, a) for i, a in exp if i not in matched_exp]
    extra = [(i, a) for i, a in cal if i not in matched_cal]

    # Right tool, wrong arguments: pair with the unmatched same-name call agreeing on most arguments.
    for _, want in missing:
        same = [a for _, a in extra if action_name(a) == action_name(want)]
        if same:
            best = max(same, key=lambda a: _agreement(want, a, rules))  # max keeps the earliest on ties
            detail = (
                f"expected {format_call(action_name(want), action_arguments(want))}, "
                f"called with {_argument_difference(want, best, rules) or 'different arguments'}"
            )
            return FailureDiagnosis(ErrorCategory.PARAMETER, detail)

    kind = as_write_predicate(is_write) if is_write is not None else (lambda _name: True)
    for _, want in missing:
        other = [a for _, a in extra if kind(action_name(a)) == kind(action_name(want))]
        if other:
            detail = (
                f"expected {format_call(action_name(want), action_arguments(want))}, "
                f"called {format_call(action_name(other[0]), action_arguments(other[0]))} instead"
            )
            return FailureDiagnosis(ErrorCategory.LOGIC, detail)

    if missing:
        calls = "; ".join(format_call(action_name(a), action_arguments(a)) for _, a in missing)
        return FailureDiagnosis(ErrorCategory.ACTION_SEQUENCE, f"missing {calls}")
    if extra:
        calls = "; ".join(format_call(action_name(a), action_arguments(a)) for _, a in extra)
        return FailureDiagnosis(ErrorCategory.ACTION_SEQUENCE, f"extra {calls}")
    order = [c for _, c in pairs]
    if any(a > b for a, b in zip(order, order[1:], strict=False)):
        names = ", ".join(action_name(called[c]) for c in sorted(order))
        return FailureDiagnosis(ErrorCategory.ACTION_SEQUENCE, f"actions out of order: called {names}")

    if outputs_match is False:
        return FailureDiagnosis(ErrorCategory.OUTPUTS, "an expected output was not said")
    return FailureDiagnosis(
        ErrorCategory.UNKNOWN, "the actions match the ground truth but the reward is below 1"
    )
