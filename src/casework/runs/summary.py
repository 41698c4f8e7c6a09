"""``summary.json`` and ``summary.csv`` of a run, computed from its ``results.jsonl``."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

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
    results: list[dict[str, Any]], *, exclude_infrastructure: bool = False, seed: int = 0
) -> dict[str, Any]:
    """Run-level metrics. Infrastructure errors are counted and shown; excluded only when asked."""
    infra = count_infrastructure_errors(results)
    counted = [
        r
        for r in results
        if not (exclude_infrastructure and is_infrastructure_error(r.get("termination_reason")))
    ]
    per_task = successes_by_task(counted)
    table = pass_k_table(per_task, seed=seed) if per_task else {}
    successful = sum(bool(r.get("success")) for r in counted)
    usage = Counter()
    cost = 0.0
    for r in counted:
        for call in r.get("model_calls", []):
            for key in ("prompt_tokens", "completion_tokens", "cached_tokens"):
                usage[f"{call.get('role', 'agent')}_{key}"] += call.get(key) or 0
            cost += call.get("cost_usd") or 0.0
    by_persona: dict[str, list[bool]] = defaultdict(list)
    for r in counted:
        if r.get("persona"):
            by_persona[r["persona"]].append(bool(r.get("success")))
    return {
        "total_tasks": len(per_task),
        "total_simulations": len(counted),
        "successful": successful,
        "success_rate": successful / len(counted) if counted else 0.0,
        "avg_reward": _avg([r.get("reward", 0.0) for r in counted]),
        "avg_action_precision": _avg([r["action_precision"] for r in counted if "action_precision" in r]),
        "avg_action_recall": _avg([r["action_recall"] for r in counted if "action_recall" in r]),
        "avg_action_f1": _avg([r["action_f1"] for r in counted if "action_f1" in r]),
        "exact_action_matches": sum(bool(r.get("exact_match")) for r in counted),
        "avg_shaped_reward": _avg([r["shaped_reward"] for r in counted if "shaped_reward" in r]),
        "pass_k": {str(k): p.to_dict() for k, p in table.items()},
        "infrastructure_errors": infra,
        "infrastructure_errors_excluded": exclude_infrastructure,
        "termination_reasons": dict(Counter(r.get("termination_reason") for r in counted)),
        # conversations the user simulator ended for no reason of its own (empty reply, gave up)
        "user_simulator_abnormal_ends": sum(bool(r.get("user_abnormal_end")) for r in counted),
        "error_categories": dict(Counter(r.get("error_category") for r in counted if not r.get("success"))),
        "success_by_persona": {p: sum(v) / len(v) for p, v in sorted(by_persona.items())},
        "avg_execution_time": _avg([r.get("execution_time", 0.0) for r in counted]),
        "avg_agent_steps": _avg([r.get("agent_steps", 0) for r in counted]),
        "tokens": dict(usage),
        "cost_usd": round(cost, 6),
    }


def write_summary(run_dir: Path, results: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    summary = summarize(results, **options)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    ordered = sorted(results, key=lambda r: (str(r["task_id"]), int(r["trial"])))
    with (run_dir / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in ordered:
            writer.writerow({c: r.get(c) for c in CSV_COLUMNS})
    return summary
