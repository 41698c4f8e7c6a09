"""Action-level metrics: how the agent's tool calls compare with the ground-truth actions.

An *action* is anything with a tool ``name`` and ``arguments``: a ``{"name", "arguments"}`` mapping
(tau-bench's ``kwargs`` is accepted too), a :class:`casework.tasks.model.Action`, any object with
``name``/``arguments`` attributes, or a ``(name, arguments)`` pair. A *called* action (what the agent
did) may also carry ``observation``, the tool's result. Two actions are the same call when their
keys from :func:`casework.tasks.normalize.normalize_action` are equal (order ids with or without
``#``, e-mail case, numbers given as strings, list order where the tool sorts the list, ...).

Matching (:func:`match_actions`) is a multiset matching, deterministic and maximal:

1. Each expected action, in order, takes the earliest still-unmatched called action with the same
   normalised key. Because key equality is an equivalence relation, this greedy pass finds the
   largest possible number of such matches.
2. With ``identification_equivalent=True`` (the default), each still-unmatched expected
   identification call (``identification``: the domain's identification tools, e.g. find the user
   by email or by name and zip), in order, then takes the earliest still-unmatched called
   identification call that resolved to the *same user*. Either tool may stand for the other: the
   user authenticated either way and the rest of the task does not depend on which was used.

   - The called side's user is its ``observation`` (the tools return the bare user id), stripped;
     an observation that is missing, empty or starts with ``Error`` resolves to nobody.
   - The expected side's user is ``expected_observations[i]`` when that list is given and its entry
     is not None (same rules), else ``resolve_user(action)`` when given, else nobody.
   - Two calls that resolve to nobody never match through this rule (only through step 1).

Generic tools that do not touch the state (``ignorable``, default: the domain's
``rules.ignorable_tools``, e.g. think and calculate) are dropped from *both* sides before anything
is counted, for every metric here; ``matched`` still reports indices into the lists the caller
passed. Arguments are normalised under the domain's ``rules``
(:class:`casework.domains.ArgumentRules`).

Edge conventions (all tested):

- ``precision = tp / len(called)``; when nothing was called it is 1.0 if nothing was expected
  either, else 0.0.
- ``recall = tp / len(expected)``; when nothing was expected it is 1.0 if nothing was called
  either, else 0.0.
- ``f1 = 2·P·R / (P + R)``, and 0.0 when ``P + R == 0``.
- Both lists empty: precision = recall = f1 = 1.0 and ``exact_match`` is True.
- The same conventions apply per kind (``read``/``write``) to the actions of that kind only, so a
  task with no write actions where the agent wrote nothing has write P = R = F1 = 1.0.
- ``exact_match``: the called sequence equals the expected sequence element-wise (same length; at
  each position the two actions match by step 1 or, when enabled, step 2 above).
- A matched pair's kind is its expected action's kind (an identification pair is read/read).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from casework.domains.domain import ArgumentRules
from casework.tasks.normalize import NO_RULES, normalize_action
from casework.tasks.replay import is_error

#: Tells whether a tool changes the state: a predicate or a collection of write tool names.
WriteTools = Callable[[str], bool] | Collection[str]


# --------------------------------------------------------------------------- action access


def action_name(action: Any) -> str:
    """The tool name of an action (mapping, object with ``.name``, or ``(name, arguments)`` pair)."""
    if isinstance(action, Mapping):
        return str(action["name"]).strip()
    if isinstance(action, tuple | list):
        return str(action[0]).strip()
    return str(action.name).strip()


def action_arguments(action: Any) -> dict[str, Any]:
    """The raw (not normalised) arguments of an action, as a new dict."""
    if isinstance(action, Mapping):
        arguments = action.get("arguments", action.get("kwargs"))
    elif isinstance(action, tuple | list):
        arguments = action[1]
    else:
        arguments = getattr(action, "arguments", None)
    return dict(arguments or {})


def action_observation(action: Any) -> str | None:
    """The tool's result recorded on a called action, or None when it carries none."""
    if isinstance(action, Mapping):
        value = action.get("observation")
    elif isinstance(action, tuple | list):
        value = action[2] if len(action) > 2 else None
    else:
        value = getattr(action, "observation", None)
    return None if value is None else str(value)


def action_key(action: Any, rules: ArgumentRules = NO_RULES) -> Hashable:
    """The normalised, hashable key of an action (see :func:`casework.tasks.normalize.normalize_action`)."""
    return normalize_action((action_name(action), action_arguments(action)), rules)


def is_error_observation(observation: str | None) -> bool:
    """True for a tool result that reports a failure (``Error: ...``)."""
    return observation is not None and is_error(observation.lstrip())


def as_write_predicate(is_write: WriteTools) -> Callable[[str], bool]:
    """Turn a predicate or a collection of write tool names into a predicate."""
    if callable(is_write):
        return is_write
    names = frozenset(is_write)
    return names.__contains__


def _resolved_user(observation: str | None) -> str | None:
    if observation is None or is_error_observation(observation):
        return None
    user = observation.strip()
    return user or None


# --------------------------------------------------------------------------- matching


@dataclass
class _Side:
    """The non-ignorable actions of one side, with their indices in the caller's list."""

    index: list[int]
    names: list[str]
    keys: list[Hashable]
    users: list[str | None]
    identification: frozenset[str] = frozenset()


def _expected_side(
    expected: Sequence[Any],
    ignorable: Collection[str],
    expected_observations: Sequence[str | None] | None,
    resolve_user: Callable[[Any], str | None] | None,
    rules: ArgumentRules,
    identification: frozenset[str],
) -> _Side:
    if expected_observations is not None and len(expected_observations) != len(expected):
        raise ValueError(
            f"expected_observations has {len(expected_observations)} entries but there are "
            f"{len(expected)} expected actions; pass one entry (or None) per expected action"
        )
    side = _Side([], [], [], [], identification)
    for i, action in enumerate(expected):
        name = action_name(action)
        if name in ignorable:
            continue
        user = None
        if name in identification:
            if expected_observations is not None and expected_observations[i] is not None:
                user = _resolved_user(expected_observations[i])
            elif resolve_user is not None:
                user = resolve_user(action)
        side.index.append(i)
        side.names.append(name)
        side.keys.append(action_key(action, rules))
        side.users.append(user)
    return side


def _called_side(
    called: Sequence[Any], ignorable: Collection[str], rules: ArgumentRules, identification: frozenset[str]
) -> _Side:
    side = _Side([], [], [], [], identification)
    for i, action in enumerate(called):
        name = action_name(action)
        if name in ignorable:
            continue
        side.index.append(i)
        side.names.append(name)
        side.keys.append(action_key(action, rules))
        side.users.append(_resolved_user(action_observation(action)) if name in identification else None)
    return side


def _identified_same_user(exp: _Side, e: int, cal: _Side, c: int) -> bool:
    return (
        exp.names[e] in exp.identification
        and cal.names[c] in cal.identification
        and exp.users[e] is not None
        and exp.users[e] == cal.users[c]
    )


def _match(exp: _Side, cal: _Side, identification_equivalent: bool) -> list[tuple[int, int]]:
    """Pairs of positions in the two sides (not the caller's indices), sorted by expected position."""
    by_key: dict[Hashable, deque[int]] = defaultdict(deque)
    for c, key in enumerate(cal.keys):
        by_key[key].append(c)
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    unmatched: list[int] = []
    for e, key in enumerate(exp.keys):
        bucket = by_key.get(key)
        if bucket:
            c = bucket.popleft()
            pairs.append((e, c))
            used.add(c)
        else:
            unmatched.append(e)
    if identification_equivalent and unmatched:
        by_user: dict[str, deque[int]] = defaultdict(deque)
        for c, user in enumerate(cal.users):
            if c not in used and user is not None and cal.names[c] in cal.identification:
                by_user[user].append(c)
        for e in unmatched:
            user = exp.users[e]
            if exp.names[e] in exp.identification and user is not None and by_user.get(user):
                pairs.append((e, by_user[user].popleft()))
        pairs.sort()
    return pairs


def match_actions(
    expected: Sequence[Any],
    called: Sequence[Any],
    *,
    identification_equivalent: bool = True,
    expected_observations: Sequence[str | None] | None = None,
    resolve_user: Callable[[Any], str | None] | None = None,
    ignorable: Collection[str] | None = None,
    rules: ArgumentRules = NO_RULES,
    identification: Collection[str] = (),
) -> list[tuple[int, int]]:
    """Match expected to called actions one-to-one (see the module docstring for the rule).

    Returns ``(expected_index, called_index)`` pairs, indices into the lists given, sorted by
    expected index.
    """
    ignored = rules.ignorable_tools if ignorable is None else ignorable
    ident = frozenset(identification)
    exp = _expected_side(expected, ignored, expected_observations, resolve_user, rules, ident)
    cal = _called_side(called, ignored, rules, ident)
    return [(exp.index[e], cal.index[c]) for e, c in _match(exp, cal, identification_equivalent)]


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 with the counts behind them."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int

    @classmethod
    def from_counts(cls, tp: int, n_expected: int, n_called: int) -> PRF:
        """Apply the edge conventions of the module docstring."""
        precision = tp / n_called if n_called else float(n_expected == 0)
        recall = tp / n_expected if n_expected else float(n_called == 0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return cls(precision, recall, f1, tp, n_called - tp, n_expected - tp)


@dataclass(frozen=True)
class ActionMetrics:
    """How the called actions compare with the expected ones (see the module docstring)."""

    precision: float
    recall: float
    f1: float
    exact_match: bool
    tp: int
    fp: int
    fn: int
    read: PRF
    write: PRF
    matched: list[tuple[int, int]] = field(default_factory=list)


def action_metrics(
    expected: Sequence[Any],
    called: Sequence[Any],
    *,
    is_write: WriteTools,
    identification_equivalent: bool = True,
    expected_observations: Sequence[str | None] | None = None,
    resolve_user: Callable[[Any], str | None] | None = None,
    ignorable: Collection[str] | None = None,
    rules: ArgumentRules = NO_RULES,
    identification: Collection[str] = (),
) -> ActionMetrics:
    """Precision, recall, F1 (overall and per read/write kind) and exact match of ``called``.

    Args:
        expected: The ground-truth actions, in order.
        called: The actions the agent took, in order; each may carry ``observation``.
        is_write: Whether a tool changes the state: a predicate or a collection of write tool names.
            Every non-ignorable tool that is not a write counts as a read.
        identification_equivalent: Let the ``identification`` tools stand for each other when they
            resolve to the same user.
        expected_observations: What each expected action returned (aligned with ``expected``;
            None entries allowed); used to resolve the expected side's user.
        resolve_user: Resolves an expected identification action to a user id when
            ``expected_observations`` does not say.
        ignorable: Generic tool names dropped from both sides (default: ``rules.ignorable_tools``).
        rules: The domain's argument rules (``domain.arguments``).
        identification: The domain's identification tools (``domain.identification_tools``).
    """
    writes = as_write_predicate(is_write)
    ignored = rules.ignorable_tools if ignorable is None else ignorable
    ident = frozenset(identification)
    exp = _expected_side(expected, ignored, expected_observations, resolve_user, rules, ident)
    cal = _called_side(called, ignored, rules, ident)
    pairs = _match(exp, cal, identification_equivalent)

    exp_write = [writes(n) for n in exp.names]
    cal_write = [writes(n) for n in cal.names]
    tp_write = sum(1 for e, _ in pairs if exp_write[e])
    n_exp_write, n_cal_write = sum(exp_write), sum(cal_write)

    exact = len(exp.keys) == len(cal.keys) and all(
        exp.keys[p] == cal.keys[p] or (identification_equivalent and _identified_same_user(exp, p, cal, p))
        for p in range(len(exp.keys))
    )
    overall = PRF.from_counts(len(pairs), len(exp.keys), len(cal.keys))
    return ActionMetrics(
        precision=overall.precision,
        recall=overall.recall,
        f1=overall.f1,
        exact_match=exact,
        tp=overall.tp,
        fp=overall.fp,
        fn=overall.fn,
        read=PRF.from_counts(len(pairs) - tp_write, len(exp.keys) - n_exp_write, len(cal.keys) - n_cal_write),
        write=PRF.from_counts(tp_write, n_exp_write, n_cal_write),
        matched=[(exp.index[e], cal.index[c]) for e, c in pairs],
    )
