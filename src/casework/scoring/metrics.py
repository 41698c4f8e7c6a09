"""Run-level metrics: success rate, average reward, pass^k and their confidence intervals.

**pass^k** (tau-bench): the chance that *all* of k independent trials of a task succeed, estimated
without bias per task as ``C(c, k) / C(n, k)`` from ``c`` successes in ``n`` trials, then averaged
over tasks. Tasks with fewer than ``k`` trials cannot be estimated and are left out (and listed).
Per task the estimate never increases with k; the average does not either when every task has the
same number of trials (with unequal trials, the set of tasks that count shrinks as k grows).

**Intervals** (:func:`pass_k_table`):

- *Wilson*: the pass^k value is treated as a proportion over the ``n_tasks`` tasks that count
  (``p = pass^k``, ``n = n_tasks``) and given the Wilson score interval. This is exact for k = 1
  with one trial per task and a reasonable approximation otherwise (per-task values in [0, 1]
  have at most the variance of a Bernoulli with the same mean, so it errs on the wide side).
- *Bootstrap*: a percentile bootstrap over tasks: resample the tasks with replacement
  (``resamples`` times, ``numpy.random.default_rng(seed)``), recompute pass^k for every k on each
  resample, and take the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles
  (``numpy.quantile``, linear interpolation between order statistics). Resampling tasks is done
  exactly but cheaply: a task's per-k values depend only on its ``(n, c)``, so a resample is a
  multinomial draw of counts over the distinct ``(n, c)`` groups (``Generator.multinomial``, all
  resamples at once), not one draw per task; the cost depends on the number of groups, not on the
  number of tasks. The same resamples serve every k.

**Infrastructure errors** are failures like any other unless ``exclude_infrastructure=True`` is
passed explicitly (:func:`successes_by_task`, :func:`rewards_of`); :func:`count_infrastructure_errors`
says how many runs it concerns.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from casework.scoring.errors import is_infrastructure_error

#: Rewards at or above this count as a success (tau-bench compares with 1 - 1e-6).
SUCCESS_THRESHOLD = 1.0 - 1e-6


# --------------------------------------------------------------------------- simple rates


def success_rate(rewards: Iterable[float | bool], *, threshold: float = SUCCESS_THRESHOLD) -> float:
    """The share of rewards at or above ``threshold`` (True counts as 1); 0.0 for no rewards."""
    values = [float(r) for r in rewards]
    return sum(1 for r in values if r >= threshold) / len(values) if values else 0.0


def average_reward(rewards: Iterable[float | bool]) -> float:
    """The mean reward; 0.0 for no rewards."""
    values = [float(r) for r in rewards]
    return sum(values) / len(values) if values else 0.0


def _field(record: Any, name: str, default: Any = None) -> Any:
    if isinstance(record, Mapping):
        return record.get(name, default)
    return getattr(record, name, default)


def count_infrastructure_errors(records: Iterable[Any]) -> int:
    """How many records (mappings or objects with ``termination_reason``) ended on infrastructure."""
    return sum(1 for r in records if is_infrastructure_error(_field(r, "termination_reason")))


def rewards_of(records: Iterable[Any], *, exclude_infrastructure: bool = False) -> list[float]:
    """The ``reward`` of each record; infrastructure failures are dropped only when asked."""
    return [
        float(_field(r, "reward", 0.0) or 0.0)
        for r in records
        if not (exclude_infrastructure and is_infrastructure_error(_field(r, "termination_reason")))
    ]


def successes_by_task(
    records: Iterable[Any],
    *,
    exclude_infrastructure: bool = False,
    threshold: float = SUCCESS_THRESHOLD,
) -> dict[Hashable, list[bool]]:
    """Group records (with ``task_id``, ``reward``, ``termination_reason``) into successes per task.

    Records keep their order within a task. Infrastructure failures count as failed trials unless
    ``exclude_infrastructure=True``; a task whose every trial is excluded does not appear.
    """
    out: dict[Hashable, list[bool]] = {}
    for r in records:
        if exclude_infrastructure and is_infrastructure_error(_field(r, "termination_reason")):
            continue
        out.setdefault(_field(r, "task_id"), []).append(float(_field(r, "reward", 0.0) or 0.0) >= threshold)
    return out


# --------------------------------------------------------------------------- intervals


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``successes / n`` (``successes`` may be fractional).

    Returns ``(0.0, 1.0)`` when ``n == 0``.
    """
    if n <= 0:
        return 0.0, 1.0
    p = min(max(successes / n, 0.0), 1.0)
    z2 = z * z
    denominator = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denominator
    # Rounding can put a bound a hair past the rate at p = 0 or 1: clip so that low <= p <= high.
    return min(max(0.0, center - half), p), max(min(1.0, center + half), p)


# --------------------------------------------------------------------------- pass^k


def _pass_hat_k_of(n: int, c: int, k: int) -> float:
    return math.comb(c, k) / math.comb(n, k)


def _groups(successes_per_task: Mapping[Hashable, Sequence[bool]]) -> Counter[tuple[int, int]]:
    """How many tasks have each (trials, successes) pair."""
    return Counter((len(trials), sum(1 for s in trials if s)) for trials in successes_per_task.values())


def pass_hat_k_per_task(
    successes_per_task: Mapping[Hashable, Sequence[bool]], k: int
) -> tuple[dict[Hashable, float], list[Hashable]]:
    """Each task's unbiased pass^k estimate ``C(c, k) / C(n, k)``, and the tasks with ``n < k``."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    values: dict[Hashable, float] = {}
    excluded: list[Hashable] = []
    for task, trials in successes_per_task.items():
        n = len(trials)
        if n < k:
            excluded.append(task)
        else:
            values[task] = _pass_hat_k_of(n, sum(1 for s in trials if s), k)
    return values, excluded


def pass_hat_k(successes_per_task: Mapping[Hashable, Sequence[bool]], k: int) -> float:
    """pass^k averaged over the tasks with at least ``k`` trials (see the module docstring).

    Raises ValueError when no task has ``k`` trials; use :func:`pass_hat_k_per_task` to see which
    tasks were left out.
    """
    values, excluded = pass_hat_k_per_task(successes_per_task, k)
    if not values:
        raise ValueError(f"no task has {k} trials or more ({len(excluded)} tasks have fewer)")
    return math.fsum(values.values()) / len(values)


@dataclass(frozen=True)
class PassK:
    """pass^k for one k with its intervals."""

    k: int
    value: float
    wilson_low: float
    wilson_high: float
    bootstrap_low: float | None
    bootstrap_high: float | None
    n_tasks: int
    excluded_tasks: list[Hashable] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The value, its intervals and the number of tasks (no excluded ids), as plain data."""
        return {
            "value": self.value,
            "wilson_low": self.wilson_low,
            "wilson_high": self.wilson_high,
            "bootstrap_low": self.bootstrap_low,
            "bootstrap_high": self.bootstrap_high,
            "n_tasks": self.n_tasks,
        }


def pass_k_table(
    successes_per_task: Mapping[Hashable, Sequence[bool]],
    *,
    max_k: int | None = None,
    confidence: float = 0.95,
    z: float | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[int, PassK]:
    """pass^k with Wilson and bootstrap intervals for ``k = 1 .. max_k`` (default: the most trials).

    ``z`` defaults to the normal quantile of ``confidence`` (1.96 for 0.95). ``resamples=0`` skips
    the bootstrap (its bounds are then None). The same ``seed`` gives the same table.
    """
    groups = _groups(successes_per_task)
    if not groups:
        return {}
    most = max(n for n, _ in groups)
    max_k = most if max_k is None else max_k
    if z is None:
        from statistics import NormalDist

        z = NormalDist().inv_cdf((1.0 + confidence) / 2.0)

    keys = sorted(groups)  # (n, c), deterministic order for the multinomial draws
    weights = [groups[key] for key in keys]
    n_total = sum(weights)
    # value[k][g]: pass^k of group g, or None when the group has fewer than k trials.
    per_group = {
        k: [_pass_hat_k_of(n, c, k) if n >= k else None for n, c in keys] for k in range(1, max_k + 1)
    }

    boot: dict[int, np.ndarray] = {}
    if resamples > 0:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n_total, np.asarray(weights, dtype=float) / n_total, size=resamples)
        for k, values in per_group.items():
            present = np.array([v is not None for v in values])
            v = np.array([0.0 if x is None else x for x in values])
            counted = counts[:, present].sum(axis=1)
            totals = counts @ (v * present)
            keep = counted > 0
            boot[k] = totals[keep] / counted[keep]
    tail = (1.0 - confidence) / 2.0

    table: dict[int, PassK] = {}
    excluded_by_k = {k: [t for t, trials in successes_per_task.items() if len(trials) < k] for k in per_group}
    for k, values in per_group.items():
        eligible = [(w, v) for w, v in zip(weights, values, strict=True) if v is not None]
        n_tasks = sum(w for w, _ in eligible)
        if n_tasks == 0:
            continue
        value = math.fsum(w * v for w, v in eligible) / n_tasks
        low, high = wilson_interval(value * n_tasks, n_tasks, z)
        samples = boot.get(k)
        has_samples = samples is not None and samples.size > 0
        table[k] = PassK(
            k=k,
            value=value,
            wilson_low=low,
            wilson_high=high,
            bootstrap_low=float(np.quantile(samples, tail)) if has_samples else None,
            bootstrap_high=float(np.quantile(samples, 1.0 - tail)) if has_samples else None,
            n_tasks=n_tasks,
            excluded_tasks=excluded_by_k[k],
        )
    return table
