"""``summary.json`` and ``summary.csv`` of a run, computed from its ``results.jsonl``."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from statistics import mean
from typing import Any

from casework.runs.records import SimulationResult, parse_result
from casework.scoring import (
    count_infrastructure_errors,
    is_infrastructure_error,
    pass_k_table,
    successes_by_task,
)

CSV_COLUMNS = [
    "task_id",
    "trial",
    "success",
    "reward",
    "action_precision",
    "action_recall",
    "action_f1",
    "exact_match",
    "execution_time",
    "model_response_time",
    "tool_execution_time",
    "termination_reason",
]


def _avg(values: list[float]) -> float | None:
    return round(mean(values), 6) if values else None


def summarize(
    results: Sequence[SimulationResult | dict[str, Any]],
    *,
    exclude_infrastructure: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Run-level metrics. Infrastructure errors are counted and shown; excluded only when asked."""
    records = [parse_result(r) for r in results]
    infra = count_infrastructure_errors(records)
    counted = [
        r for r in records if not (exclude_infrastructure and is_infrastructure_error(r.termination_reason))
    ]
    per_task = successes_by_task(counted)
    table = pass_k_table(per_task, seed=seed) if per_task else {}
    successful = sum(bool(r.success) for r in counted)
    usage = Counter()
    cache = Counter()
    cost = 0.0
    for r in counted:
        for call in r.model_calls:
            if call.cache_hit is not None:
                cache["hits" if call.cache_hit else "misses"] += 1
            for key in ("prompt_tokens", "completion_tokens", "cached_tokens"):
                usage[f"{call.role or 'agent'}_{key}"] += getattr(call, key) or 0
            cost += call.cost_usd or 0.0
    by_persona: dict[str, list[bool]] = defaultdict(list)
    for r in counted:
        if r.persona:
            by_persona[r.persona].append(bool(r.success))
    summary = {
        "total_tasks": len(per_task),
        "total_simulations": len(counted),
        "successful": successful,
        "success_rate": successful / len(counted) if counted else 0.0,
        "avg_reward": _avg([r.reward for r in counted]),
        "avg_action_precision": _avg([r.action_precision for r in counted if r.action_precision is not None]),
        "avg_action_recall": _avg([r.action_recall for r in counted if r.action_recall is not None]),
        "avg_action_f1": _avg([r.action_f1 for r in counted if r.action_f1 is not None]),
        "exact_action_matches": sum(bool(r.exact_match) for r in counted),
        "avg_shaped_reward": _avg([r.shaped_reward for r in counted if r.shaped_reward is not None]),
        "pass_k": {str(k): p.to_dict() for k, p in table.items()},
        "infrastructure_errors": infra,
        "infrastructure_errors_excluded": exclude_infrastructure,
        "termination_reasons": dict(Counter(r.termination_reason for r in counted)),
        # conversations the user simulator ended for no reason of its own (empty reply, gave up)
        "user_simulator_abnormal_ends": sum(bool(r.user_abnormal_end) for r in counted),
        "error_categories": dict(Counter(r.error_category for r in counted if not r.success)),
        "success_by_persona": {p: sum(v) / len(v) for p, v in sorted(by_persona.items())},
        "avg_execution_time": _avg([r.execution_time or 0.0 for r in counted]),
        "avg_agent_steps": _avg([r.agent_steps for r in counted]),
        "tokens": dict(usage),
        "cost_usd": round(cost, 6),
    }
    if cache:  # the run used a response cache (--cache)
        summary["llm_cache"] = {"hits": cache["hits"], "misses": cache["misses"]}
    dual = [r for r in counted if r.user_action_precision is not None]
    if dual:  # dual control: the user's device actions, apart from the agent's
        summary["avg_user_action_precision"] = _avg([r.user_action_precision or 0.0 for r in dual])
        summary["avg_user_action_recall"] = _avg([r.user_action_recall or 0.0 for r in dual])
        summary["avg_user_action_f1"] = _avg([r.user_action_f1 or 0.0 for r in dual])
        summary["user_exact_action_matches"] = sum(bool(r.user_exact_match) for r in dual)
    if any(r.reward_basis is not None for r in counted):
        summary["components"] = component_summary(counted)
    return summary


def component_summary(records: Sequence[SimulationResult]) -> dict[str, dict[str, Any]]:
    """Per reward component of τ³-graded simulations: how often it was evaluated, passed, not
    evaluated, or lost to a judge error."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.reward_basis is None:
            continue
        for name in r.reward_basis:
            component = r.components.get(name)
            if component is None:
                continue
            entry = out.setdefault(name, {"evaluated": 0, "passed": 0, "not_evaluated": 0, "judge_error": 0})
            if component.status != "ok":
                entry[component.status] += 1
                continue
            entry["evaluated"] += 1
            entry["passed"] += component.reward == 1.0
    for entry in out.values():
        entry["pass_rate"] = entry["passed"] / entry["evaluated"] if entry["evaluated"] else None
    return out


def write_summary(
    run_dir: Path, results: Sequence[SimulationResult | dict[str, Any]], **options: Any
) -> dict[str, Any]:
    summary = summarize(results, **options)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    rows = [parse_result(r).as_row() for r in results]
    ordered = sorted(rows, key=lambda r: (str(r["task_id"]), int(r["trial"])))
    with (run_dir / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in ordered:
            writer.writerow({c: r.get(c) for c in CSV_COLUMNS})
    return summary
