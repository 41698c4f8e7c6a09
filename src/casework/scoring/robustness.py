"""Robustness to perturbations: does an agent's verdict survive a rephrased, misspelt or padded request?

A run over base tasks and their variants (``casework perturb``: each variant carries
``metadata.base_task_id`` and ``metadata.perturbation``) is summarised per perturbation kind:

- ``agreement``: the share of (variant, trial) pairs whose success equals the base task's success in
  the same trial, with a Wilson interval;
- ``reward_variance``: for each base task, the variance of the mean reward across the base and its
  variants of that kind, averaged over base tasks, with a bootstrap interval over base tasks;
- ``policy_violation_rate``: the share of variant simulations in which the agent's own calls break
  a rule of the domain's policy (``Domain.policy_rules``, the checks the validation stage runs on
  golden actions, here run on the agent's calls), with a Wilson interval, next to the base rate;
- success rates of the bases and of the variants.

Infrastructure errors are left out (they say nothing about the agent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from casework.domains import Database, Domain
from casework.scoring.errors import is_infrastructure_error
from casework.scoring.metrics import wilson_interval
from casework.tasks.model import Action, Task


def policy_violations(
    domain: Domain, database: Database, task: Task, calls: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The policy rules the agent's calls break, checked as the validation stage checks golden actions."""
    if domain.policy_rules is None:
        return []
    from casework.tasks.validate import validate_task

    actions = []
    for call in calls:
        arguments = call.get("arguments")
        actions.append(
            Action(name=str(call.get("name")), arguments=arguments if isinstance(arguments, dict) else {})
        )
    agent_task = task.model_copy(
        update={
            "actions": actions,
            "metadata": {**task.metadata, "expected_errors": list(range(len(actions)))},
        }
    )
    checked = validate_task(domain, database, agent_task, policy=domain.policy_rules())
    # per-action rules only: the task-level ones judge the task's ground truth, not the agent
    return [p.message for p in checked.problems if p.stage == "policy" and p.action_index is not None]


def _rate(hits: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(hits, n)
    value = hits / n if n else None
    if value is not None:
        low, high = min(low, value), max(high, value)
    return {"value": value, "low": low if n else None, "high": high if n else None, "n": n}


def _bootstrap_mean(values: Sequence[float], seed: int, rounds: int = 2000) -> dict[str, Any]:
    if not values:
        return {"value": None, "low": None, "high": None, "n": 0}
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = rng.choice(data, size=(rounds, len(data)), replace=True).mean(axis=1)
    value = float(data.mean())
    low, high = np.quantile(means, [0.025, 0.975])
    return {"value": value, "low": min(float(low), value), "high": max(float(high), value), "n": len(data)}


def robustness_summary(
    results: Sequence[Mapping[str, Any]],
    tasks: Mapping[str, Task],
    *,
    violations: Mapping[tuple[str, int], bool] | None = None,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Per perturbation kind (and ``all``): agreement, reward variance, policy-violation rate.

    ``violations`` maps (task id, trial) to whether the agent broke a policy rule in that simulation.
    None when the run holds no variant of a base task it also ran."""
    by_pair: dict[tuple[str, int], Mapping[str, Any]] = {}
    for r in results:
        if is_infrastructure_error(r.get("termination_reason")):
            continue
        by_pair[(str(r["task_id"]), int(r.get("trial", 0)))] = r
    trials: dict[str, dict[int, Mapping[str, Any]]] = defaultdict(dict)
    for (task_id, trial), r in by_pair.items():
        trials[task_id][trial] = r
    kinds: dict[str, dict[str, list[str]]] = defaultdict(
        lambda: defaultdict(list)
    )  # kind -> base -> variants
    for task_id in trials:
        task = tasks.get(task_id)
        if task is None:
            continue
        base = task.metadata.get("base_task_id")
        kind = task.metadata.get("perturbation")
        if base and kind and base in trials:
            kinds[str(kind)][str(base)].append(task_id)
    if not kinds:
        return None

    def mean_reward(task_id: str) -> float:
        rows = trials[task_id].values()
        return float(np.mean([float(r.get("reward") or 0.0) for r in rows]))

    def summarise(groups: Mapping[str, list[str]], salt: str) -> dict[str, Any]:
        agree = pairs = 0
        variances = []
        variant_runs = variant_hits = base_runs = base_hits = 0
        v_viol = v_n = b_viol = b_n = 0
        for base, variants in sorted(groups.items()):
            variances.append(float(np.var([mean_reward(base)] + [mean_reward(v) for v in variants])))
            for trial, r in trials[base].items():
                base_runs += 1
                base_hits += bool(r.get("success"))
                if violations is not None and (base, trial) in violations:
                    b_n += 1
                    b_viol += violations[(base, trial)]
            for variant in variants:
                for trial, r in trials[variant].items():
                    variant_runs += 1
                    variant_hits += bool(r.get("success"))
                    if trial in trials[base]:
                        pairs += 1
                        agree += bool(r.get("success")) == bool(trials[base][trial].get("success"))
                    if violations is not None and (variant, trial) in violations:
                        v_n += 1
                        v_viol += violations[(variant, trial)]
        out: dict[str, Any] = {
            "base_tasks": len(groups),
            "variants": sum(len(v) for v in groups.values()),
            "agreement": _rate(agree, pairs),
            "reward_variance": _bootstrap_mean(variances, seed=hash_seed(seed, salt)),
            "base_success_rate": base_hits / base_runs if base_runs else None,
            "variant_success_rate": variant_hits / variant_runs if variant_runs else None,
        }
        if violations is not None:
            out["policy_violation_rate"] = _rate(v_viol, v_n)
            out["base_policy_violation_rate"] = _rate(b_viol, b_n)
        return out

    summary = {kind: summarise(groups, kind) for kind, groups in sorted(kinds.items())}
    merged: dict[str, list[str]] = defaultdict(list)
    for groups in kinds.values():
        for base, variants in groups.items():
            merged[base].extend(variants)
    summary["all"] = summarise(merged, "all")
    return summary


def hash_seed(seed: int, salt: str) -> int:
    """A stable seed for one kind's bootstrap (Python's ``hash`` of a string changes per process)."""
    return seed * 1_000_003 + sum((i + 1) * ord(c) for i, c in enumerate(salt))
