"""Validation stage 6, ``dedup``: near-identical tasks (same user, same actions) are kept once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from casework.domains import ArgumentRules
from casework.tasks.model import Action, Task
from casework.tasks.normalize import normalize_action


def _only_thinking(action: Action, rules: ArgumentRules | None) -> bool:
    """An ignorable tool called with free text only (a thought): it never makes two tasks differ."""
    if rules is None:
        return False
    free = rules.free_text.get(action.name, frozenset())
    return action.name in rules.ignorable_tools and bool(free) and set(action.arguments) <= free


def dedup_key(task: Task, rules: ArgumentRules | None = None) -> tuple[Any, ...]:
    """Same user, same actions (normalised; with the domain's ``rules``, thoughts ignored), the same
    NL assertions (two refusals of one user that the judge checks differently, e.g. safety probes of
    two categories, are different tasks), and the same initial state and environment assertions (τ³)
    mean the same task."""
    actions = tuple(normalize_action(a) for a in task.actions if not _only_thinking(a, rules))
    key: tuple = (task.user_id, actions) + ((tuple(task.nl_assertions),) if task.nl_assertions else ())
    if task.initial_state is None and not task.env_assertions:
        return key
    initial = json.dumps(
        task.initial_state.model_dump(mode="json") if task.initial_state else None, sort_keys=True
    )
    checks = json.dumps([a.model_dump(mode="json") for a in task.env_assertions or ()], sort_keys=True)
    return (*key, initial, checks)


def deduplicate(
    tasks: Iterable[Task], seen: set[tuple[Any, ...]] | None = None, rules: ArgumentRules | None = None
) -> tuple[list[Task], list[tuple[Task, str]]]:
    """(kept, dropped): a task whose :func:`dedup_key` was seen before (earlier in ``tasks`` or in
    ``seen``) is dropped, with the reason. ``seen`` is updated in place when given."""
    seen = set() if seen is None else seen
    first: dict[tuple[Any, ...], str] = {}
    kept: list[Task] = []
    dropped: list[tuple[Task, str]] = []
    for task in tasks:
        key = dedup_key(task, rules)
        if key in seen:
            dropped.append(
                (task, f"duplicate of {first.get(key, 'an earlier task')} (same user, same actions)")
            )
            continue
        seen.add(key)
        first[key] = task.id
        kept.append(task)
    return kept, dropped
