"""Run-to-run noise from repeated trials: per-task flip rate and the trials a confidence width needs.

- **flip rate** of a task with ``n >= 2`` trials, ``s`` of them successful: the chance that two
  different trials of it disagree, ``2 s (n - s) / (n (n - 1))`` (0: the verdict never changes; 1:
  every pair of trials disagrees).
- **trials needed**: the success rate is a mean over ``T`` tasks of per-task rates ``p_i``, so its
  variance with ``k`` trials per task is ``(sb2 + sw2 / k) / T`` where ``sw2`` is the mean
  within-task variance ``p_i (1 - p_i)`` (unbiased, from the trials) and ``sb2`` the variance of
  ``p_i`` across tasks beyond that noise. A 95 % interval of full width ``w`` needs
  ``k = sw2 / ((w / 3.92)^2 T - sb2)`` trials per task; when the denominator is not positive no
  number of trials reaches ``w`` with these tasks (more tasks are needed: ``None``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from casework.scoring.errors import is_infrastructure_error

Z = 1.96
WIDTHS = (0.05, 0.1, 0.2)


def noise_summary(
    results: Sequence[Mapping[str, Any]], widths: Sequence[float] = WIDTHS
) -> dict[str, Any] | None:
    """``summary.json["noise"]``; None when no task has two trials."""
    by_task: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        if is_infrastructure_error(r.get("termination_reason")):
            continue
        by_task[str(r.get("task_id"))].append(bool(r.get("success")))
    repeated = {t: v for t, v in by_task.items() if len(v) >= 2}
    if not repeated:
        return None
    flips: dict[str, float] = {}
    within = []
    rates = []
    for task, verdicts in repeated.items():
        n, s = len(verdicts), sum(verdicts)
        flips[task] = 2 * s * (n - s) / (n * (n - 1))
        within.append(s * (n - s) / (n * (n - 1)))  # unbiased p(1-p)
        rates.append(s / n)
    tasks = len(repeated)
    trials = sum(len(v) for v in repeated.values()) / tasks
    sw2 = sum(within) / tasks
    mean = sum(rates) / tasks
    spread = sum((p - mean) ** 2 for p in rates) / (tasks - 1) if tasks > 1 else 0.0
    sb2 = max(0.0, spread - sw2 / trials)
    current = 2 * Z * math.sqrt((sb2 + sw2 / trials) / tasks)
    needed: dict[str, int | None] = {}
    for w in widths:
        room = (w / (2 * Z)) ** 2 * tasks - sb2
        if sw2 == 0:
            needed[f"{w:g}"] = 1 if room > 0 else None
        else:
            needed[f"{w:g}"] = max(1, math.ceil(sw2 / room)) if room > 0 else None
    return {
        "tasks": tasks,
        "mean_trials": trials,
        "mean_flip_rate": sum(flips.values()) / tasks,
        "tasks_that_flip": sum(1 for f in flips.values() if f > 0),
        "flip_rate": dict(sorted(flips.items(), key=lambda kv: (-kv[1], kv[0]))),
        "within_task_variance": sw2,
        "between_task_variance": sb2,
        "ci_width_now": current,
        "trials_needed": needed,
    }
