"""A shaped (dense) reward for reinforcement learning: partial credit for partly right tool use.

Definition, with the default weights (:class:`ShapedWeights`); ``n`` is the number of expected
actions after generic tools (``ignorable``, default ``{"think", "calculate"}``) are dropped from
both sides:

1. **Matching** (deterministic): first each expected action, in order, takes the earliest
   still-unmatched called action with the same normalised key (same tool, same normalised
   arguments, :func:`casework.tasks.normalize.normalize_action`); then each expected action still
   unmatched, in order, takes the earliest still-unmatched called action with the same tool name.
   Ties are thus broken toward full-argument matches first, then toward earlier calls. This
   maximises both the number of name matches and the number of argument matches.
2. ``+1.0`` (``name``) per expected action matched by name (steps 1 and 2).
3. ``+0.5`` (``arguments``) per expected action matched with its full argument set (step 1).
4. ``+0.5`` (``order``) once, when at least one expected action is matched and the matched called
   indices increase strictly in expected order. (Preferring argument matches in step 1 can cross a
   pair that a name-only assignment would have kept in order; argument credit wins.)
5. ``-0.3`` (``incorrect``) per non-ignorable called action left unmatched: a tool not expected,
   or expected fewer times than it was called.
6. ``-0.4`` (``missing_argument``) per required argument (from ``required_args``) absent, or
   None, in the raw arguments of a *matched* called action. Unmatched calls are already charged
   by rule 5.

``total`` is the sum; ``max_total = n·(name + arguments) + order`` (0 when ``n == 0``);
``normalized = clip(total, 0, max_total) / max_total``, in [0, 1]. With nothing expected,
``normalized`` is 1.0 when nothing was called either and 0.0 otherwise.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from casework.domains.domain import ArgumentRules
from casework.scoring.actions import action_arguments, action_key, action_name
from casework.tasks.normalize import NO_RULES

RequiredArgs = Callable[[str], Sequence[str]] | Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class ShapedWeights:
    """The weights of the shaped reward's terms (penalties are given as positive numbers)."""

    name: float = 1.0
    arguments: float = 0.5
    order: float = 0.5
    incorrect: float = 0.3
    missing_argument: float = 0.4


@dataclass(frozen=True)
class ShapedReward:
    """The shaped reward with every term that made it."""

    total: float
    normalized: float
    max_total: float
    name_score: float
    argument_score: float
    order_score: float
    incorrect_penalty: float
    missing_argument_penalty: float
    name_matches: int
    argument_matches: int
    in_order: bool
    incorrect_actions: list[int] = field(default_factory=list)  # called indices
    missing_arguments: list[tuple[int, str]] = field(default_factory=list)  # (called index, argument)
    matched: list[tuple[int, int]] = field(default_factory=list)  # (expected index, called index)


def _required_for(required_args: RequiredArgs | None, name: str) -> Sequence[str]:
    if required_args is None:
        return ()
    if isinstance(required_args, Mapping):
        return required_args.get(name, ())
    return required_args(name)


def shaped_reward(
    expected: Sequence[Any],
    called: Sequence[Any],
    *,
    required_args: RequiredArgs | None = None,
    ignorable: Collection[str] | None = None,
    weights: ShapedWeights = ShapedWeights(),  # noqa: B008 - frozen, immutable default
    rules: ArgumentRules = NO_RULES,
) -> ShapedReward:
    """Score ``called`` against ``expected`` with the shaped reward of the module docstring.

    ``rules`` are the domain's argument rules; ``ignorable`` defaults to ``rules.ignorable_tools``."""
    if ignorable is None:
        ignorable = rules.ignorable_tools
    exp = [
        (i, action_name(a), action_key(a, rules))
        for i, a in enumerate(expected)
        if action_name(a) not in ignorable
    ]
    cal = [
        (i, action_name(a), action_key(a, rules))
        for i, a in enumerate(called)
        if action_name(a) not in ignorable
    ]

    by_key: dict[Hashable, deque[int]] = defaultdict(deque)
    by_name: dict[str, deque[int]] = defaultdict(deque)
    for c, (_, name, key) in enumerate(cal):
        by_key[key].append(c)
        by_name[name].append(c)
    used: set[int] = set()
    pairs: dict[int, int] = {}  # expected position -> called position
    for e, (_, _, key) in enumerate(exp):
        bucket = by_key.get(key)
        if bucket:
            c = bucket.popleft()
            pairs[e] = c
            used.add(c)
    argument_matches = len(pairs)
    for e, (_, name, _) in enumerate(exp):
        if e in pairs:
            continue
        bucket = by_name.get(name)
        while bucket and bucket[0] in used:
            bucket.popleft()
        if bucket:
            c = bucket.popleft()
            pairs[e] = c
            used.add(c)

    ordered = sorted(pairs.items())
    called_order = [c for _, c in ordered]
    in_order = bool(ordered) and all(a < b for a, b in zip(called_order, called_order[1:], strict=False))
    incorrect = [cal[c][0] for c in range(len(cal)) if c not in used]
    missing: list[tuple[int, str]] = []
    for _, c in ordered:
        index, name, _ = cal[c]
        arguments = action_arguments(called[index])
        missing.extend(
            (index, arg) for arg in _required_for(required_args, name) if arguments.get(arg) is None
        )

    w = weights
    name_score = w.name * len(pairs)
    argument_score = w.arguments * argument_matches
    order_score = w.order if in_order else 0.0
    incorrect_penalty = w.incorrect * len(incorrect)
    missing_penalty = w.missing_argument * len(missing)
    total = name_score + argument_score + order_score - incorrect_penalty - missing_penalty
    max_total = (w.name + w.arguments) * len(exp) + w.order if exp else 0.0
    # With nothing expected there is nothing to earn: 1.0 for calling nothing, else 0.0.
    normalized = min(max(total, 0.0), max_total) / max_total if max_total > 0 else float(not cal)
    return ShapedReward(
        total=total,
        normalized=normalized,
        max_total=max_total,
        name_score=name_score,
        argument_score=argument_score,
        order_score=order_score,
        incorrect_penalty=incorrect_penalty,
        missing_argument_penalty=missing_penalty,
        name_matches=len(pairs),
        argument_matches=argument_matches,
        in_order=in_order,
        incorrect_actions=incorrect,
        missing_arguments=missing,
        matched=[(exp[e][0], cal[c][0]) for e, c in ordered],
    )
