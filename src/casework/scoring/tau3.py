"""τ³-bench's reward components, as τ³ applies them (sierra-research/tau2-bench, ``src/tau2/evaluator``).

- **COMMUNICATE**: an expected string counts as said when, lower-cased, it is a substring of some
  assistant message lower-cased with every comma removed. Unlike tau-bench v1's rule
  (:func:`casework.scoring.reward.outputs_found`) the *expected* string keeps its commas, so an
  expected ``"1,234"`` is never found. Only assistant messages with text count.
- **ACTION**: each golden action must be matched by some tool call (of the agent or of the user):
  same tool name, and equal arguments over ``compare_args`` when the action gives them, else over
  the arguments the *call* names (so a call that leaves out an argument the action has still
  matches, as in τ³). Argument values that are JSON text are compared as the JSON they hold. The
  component is 1 when every golden action is matched, else 0 (τ³ later versions average a partial
  credit per action; without partial matching both agree on every task with one golden action and
  on every fully solved task).
- **reward**: the product of the components listed in the task's ``reward_basis``; a simulation
  that ended other than by the user or agent stopping (steps, errors, timeout, infrastructure)
  scores 0, as in τ³.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from casework.scoring.components import Check

#: terminations τ³ grades (every other one scores 0): the user or the agent ended the conversation
GRADED_TERMINATIONS = frozenset({"user_stop", "agent_stop", "transfer", "out_of_scope"})


def communicate_checks(expected: Sequence[str], assistant_texts: Iterable[str | None]) -> list[Check]:
    """τ³'s COMMUNICATE checks: one per expected string, with the message that contained it."""
    texts = [t for t in assistant_texts if t]
    checks = []
    for info in expected:
        found = next((t for t in texts if info.lower() in t.lower().replace(",", "")), None)
        if found is not None:
            checks.append(Check(subject=info, met=True, justification=f"communicated in: {found}"))
        else:
            checks.append(Check(subject=info, met=False, justification="not communicated"))
    return checks


def _normalize_value(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith(("{", "[")):
            try:
                return _normalize_value(json.loads(stripped))
            except json.JSONDecodeError:
                return value
        return value
    if isinstance(value, dict):
        return {k: _normalize_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize_value(v) for v in value]
    return value


def action_matches(
    name: str,
    arguments: Mapping[str, Any],
    compare_args: Sequence[str] | None,
    call_name: str,
    call_arguments: Mapping[str, Any],
) -> bool:
    """Whether a tool call matches a golden action under τ³'s rule."""
    if name != call_name:
        return False
    keys = list(call_arguments) if compare_args is None else list(compare_args)
    if not keys:
        return True
    called = {k: _normalize_value(v) for k, v in call_arguments.items() if k in keys}
    wanted = {k: _normalize_value(v) for k, v in arguments.items() if k in keys}
    return called == wanted


def action_checks(golden: Sequence[Any], calls: Sequence[tuple[str, Mapping[str, Any], str]]) -> list[Check]:
    """τ³'s ACTION checks: for each golden action (a :class:`casework.tasks.Action`), whether some
    call ``(name, arguments, requestor)`` matches it."""
    checks = []
    for action in golden:
        hit = next(
            (
                (i, requestor)
                for i, (name, arguments, requestor) in enumerate(calls)
                if action_matches(action.name, action.arguments, action.compare_args, name, arguments)
            ),
            None,
        )
        subject = action.model_dump(mode="json")
        if hit is None:
            checks.append(Check(subject=subject, met=False, justification="no matching tool call"))
        else:
            checks.append(Check(subject=subject, met=True, justification=f"tool call {hit[0]} (by {hit[1]})"))
    return checks


def all_met(checks: Sequence[Check]) -> float:
    """1.0 when every check is met (vacuously for none), else 0.0."""
    return 1.0 if all(c.met for c in checks) else 0.0
