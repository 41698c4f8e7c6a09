"""Does a task's verdict depend on the tool profile, or on the order of items inside one call?

- :func:`profile_divergence`: the golden actions replayed under a profile that corrects a reference
  benchmark's defects and under its twin that reproduces them (the domain's
  :attr:`~casework.domains.domain.Domain.exact_profiles`, e.g. ``tau3`` / ``tau3-exact``); a task
  whose final states differ gets a different DB verdict depending on the profile.
- :func:`order_dependence`: each golden action whose list arguments the tool is supposed to treat
  as a set (:attr:`~casework.domains.domain.ArgumentRules.sorted_lists`: action matching ignores
  their order) replayed with those lists reversed (jointly, as pairs); an action whose reversal
  changes the final state makes the DB verdict depend on an order the agent may legitimately choose.

Both replay on fresh forks with the task's initial state applied; neither changes ``database``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from casework.domains import Database, Domain, State
from casework.tasks.model import Action, Task
from casework.tasks.replay import is_error


def fresh_state(domain: Domain, database: Database, task: Task) -> State:
    """A fork of ``database`` with the task's initial state applied (when the domain can apply one)."""
    state = database.fork()
    if task.initial_state is not None and domain.apply_initial_state is not None:
        initial = task.initial_state.model_dump(mode="json", exclude_none=True)
        if initial:
            domain.apply_initial_state(state, initial)
    return state


def call_as(domain: Domain, state: State, action: Action) -> str:
    """Run one golden action as its requestor (a user action through the domain's user tools)."""
    if action.requestor == "user":
        if domain.user_toolbox is None:
            return f"Error: domain {domain.name!r} has no user tools (user tool {action.name!r})"
        return domain.user_toolbox.call(state, action.name, action.arguments)
    return domain.call(state, action.name, action.arguments)


@dataclass
class GoldenReplay:
    """The golden actions replayed on a fresh fork: observations, error indices, hashes."""

    initial_hash: str
    final_hash: str
    observations: list[str] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    state: State | None = None


def golden_replay(
    domain: Domain, database: Database, task: Task, actions: list[Action] | None = None
) -> GoldenReplay:
    state = fresh_state(domain, database, task)
    initial = state.canonical_hash()
    observations: list[str] = []
    errors: list[int] = []
    for index, action in enumerate(task.actions if actions is None else actions):
        observation = call_as(domain, state, action)
        observations.append(observation)
        if is_error(observation):
            errors.append(index)
    return GoldenReplay(initial, state.canonical_hash(), observations, errors, state)


@dataclass
class Divergence:
    """Where a task's golden replay differs between two profiles of a domain."""

    profiles: tuple[str, str]
    #: indices of golden actions whose observations differ
    actions: list[int]
    #: the final states hash differently (the DB verdict depends on the profile)
    final_state: bool

    def message(self, task: Task) -> str:
        a, b = self.profiles
        named = ", ".join(f"{i} ({task.actions[i].name})" for i in self.actions) or "none"
        return (
            f"the golden final state differs between profiles {a} and {b} (the verdict depends on "
            f"{b}'s reproduced defects); actions whose observation differs: {named}"
        )


def profile_divergence(domain: Domain, database: Database, task: Task) -> Divergence | None:
    """How ``task`` replays differently under the domain's current profile's exact twin (None: no twin
    or no difference in the final state)."""
    pair = next(((a, b) for a, b in domain.exact_profiles.items() if domain.profile in (a, b)), None)
    if pair is None:
        return None
    left = golden_replay(domain.with_profile(pair[0]), database, task)
    right = golden_replay(domain.with_profile(pair[1]), database, task)
    if left.final_hash == right.final_hash:
        return None
    differ = [i for i, (x, y) in enumerate(zip(left.observations, right.observations, strict=True)) if x != y]
    return Divergence(pair, differ, True)


def _reversed_groups(domain: Domain, action: Action) -> Action | None:
    groups = domain.arguments.sorted_lists.get(action.name, ())
    if not groups or not isinstance(action.arguments, dict):
        return None
    arguments: dict[str, Any] = dict(action.arguments)
    changed = False
    for group in groups:
        lists = [arguments.get(name) for name in group]
        if not all(isinstance(v, list) for v in lists) or len({len(v) for v in lists}) != 1:  # type: ignore[arg-type]
            continue
        if len(lists[0]) < 2:  # type: ignore[arg-type]
            continue
        for name, values in zip(group, lists, strict=True):
            arguments[name] = list(reversed(values))  # type: ignore[arg-type]
        changed = arguments != action.arguments
    return action.model_copy(update={"arguments": arguments}) if changed else None


def order_dependence(
    domain: Domain, database: Database, task: Task, baseline: str | None = None
) -> list[int]:
    """Indices of golden actions whose item order (reversed) changes the final state."""
    if baseline is None:
        baseline = golden_replay(domain, database, task).final_hash
    found = []
    for index, action in enumerate(task.actions):
        flipped = _reversed_groups(domain, action)
        if flipped is None:
            continue
        actions = list(task.actions)
        actions[index] = flipped
        if golden_replay(domain, database, task, actions).final_hash != baseline:
            found.append(index)
    return found


def profile_warnings(domain: Domain, database: Database, tasks: list[Task]) -> list[str]:
    """One line per task whose DB verdict depends on the profile pair (for ``casework tasks validate``)."""
    lines = []
    for task in tasks:
        divergence = profile_divergence(domain, database, task)
        if divergence is not None:
            lines.append(f"task {task.id}: [warning] {divergence.message(task)}")
    return lines


__all__ = [
    "Divergence",
    "GoldenReplay",
    "call_as",
    "fresh_state",
    "golden_replay",
    "order_dependence",
    "profile_divergence",
    "profile_warnings",
]
