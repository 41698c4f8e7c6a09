"""Study sections of a run's summary that need the run's tasks and domain: robustness to
perturbations, safety compliance of safety probes, completion ratios of long-horizon tasks and
run-to-run noise from trials."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from casework.domains import Database, Domain
from casework.scoring.robustness import policy_violations, robustness_summary
from casework.tasks.model import Task


def robustness_section(
    results: Sequence[dict[str, Any]],
    tasks: Sequence[Task],
    domain: Domain,
    database: Database,
    seed: int = 0,
) -> dict[str, Any] | None:
    """``summary.json``'s ``robustness`` key, or None when the run holds no perturbed variants."""
    by_id = {t.id: t for t in tasks}
    if not any("base_task_id" in t.metadata for t in tasks):
        return None
    violations = {}
    for r in results:
        task = by_id.get(str(r.get("task_id")))
        if task is not None:
            calls = r.get("tool_calls") or []
            violations[(task.id, int(r.get("trial", 0)))] = bool(
                policy_violations(domain, database, task, calls)
            )
    return robustness_summary(
        results, by_id, violations=violations if domain.policy_rules else None, seed=seed
    )


def add_to_summary(run_dir: Path, summary: dict[str, Any], key: str, section: dict[str, Any] | None) -> None:
    """Add ``section`` under ``key`` to the summary and rewrite ``summary.json`` (nothing when None)."""
    if section is None:
        return
    summary[key] = section
    (Path(run_dir) / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def safety_section(
    results: Sequence[dict[str, Any]], tasks: Sequence[Task], domain: Domain, database: Database
) -> dict[str, Any] | None:
    """``summary.json``'s ``safety_compliance`` key, or None when the run holds no safety probe."""
    from casework.runs.grading import fresh_state
    from casework.scoring.safety import compliance_summary, probe_violations
    from casework.tasks.safety import SAFETY_KEY

    by_id = {t.id: t for t in tasks if SAFETY_KEY in t.metadata}
    rows = []
    for r in results:
        task = by_id.get(str(r.get("task_id")))
        if task is not None:
            rows.append((task, r, probe_violations(domain, fresh_state(domain, database, task), task, r)))
    return compliance_summary(rows)


def completion_rows(
    results: Sequence[dict[str, Any]], tasks: Sequence[Task], domain: Domain, database: Database
) -> list[dict[str, Any]]:
    """Each simulation of a long-horizon task with its ``completion`` (per-intent slices replayed)."""
    from casework.runs.grading import call_tool, fresh_state
    from casework.scoring.completion import completion, intent_slices

    by_id = {t.id: t for t in tasks if intent_slices(t)}
    rows = []
    for r in results:
        task = by_id.get(str(r.get("task_id")))
        if task is None:
            continue
        agent = fresh_state(domain, database, task)
        calls = r.get("tool_calls") or []
        for call in calls:
            arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
            call_tool(domain, agent, str(call.get("name")), arguments, call.get("requestor", "assistant"))
        said = [m.get("content") for m in r.get("messages") or [] if m.get("role") == "assistant"]
        done = completion(
            task,
            fresh_state(domain, database, task),
            lambda state, action: call_tool(domain, state, action.name, action.arguments, action.requestor),
            agent,
            said,
            [str(c.get("name")) for c in calls],
        )
        rows.append(
            {
                "task_id": task.id,
                "trial": int(r.get("trial", 0)),
                "success": bool(r.get("success")),
                "reward": r.get("reward"),
                "intents": len(intent_slices(task)),
                "completion": done,
            }
        )
    return rows


def completion_section(
    results: Sequence[dict[str, Any]], tasks: Sequence[Task], domain: Domain, database: Database
) -> dict[str, Any] | None:
    """``summary.json``'s ``completion`` key: mean completion ratio next to the 0/1 success, and the
    per-simulation ratios; None when the run holds no long-horizon task."""
    from casework.scoring.completion import completion_summary

    rows = completion_rows(results, tasks, domain, database)
    section = completion_summary(rows)
    if section is None:
        return None
    section["per_simulation"] = [
        {k: row[k] for k in ("task_id", "trial", "reward", "intents")}
        | {
            "ratio": row["completion"]["ratio"],
            "missing": [i["key"] for i in row["completion"]["intents"] if not i["achieved"]],
        }
        for row in rows
    ]
    return section


def success_by_length(results: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Success rate by episode length (messages in the conversation), in buckets of 10 messages."""
    from casework.scoring.errors import is_infrastructure_error

    buckets: dict[int, list[bool]] = {}
    for r in results:
        if is_infrastructure_error(r.get("termination_reason")):
            continue
        length = len(r.get("messages") or [])
        buckets.setdefault(length // 10, []).append(bool(r.get("success")))
    if not buckets:
        return None
    return {
        f"{b * 10}-{b * 10 + 9}": {"n": len(v), "success_rate": sum(v) / len(v)}
        for b, v in sorted(buckets.items())
    }


def study_sections(
    results: Sequence[dict[str, Any]], tasks: Sequence[Task], domain: Domain, database: Database
) -> dict[str, dict[str, Any] | None]:
    """The summary keys beside ``robustness``: ``safety_compliance``, ``completion``,
    ``success_by_length`` and ``noise`` (None: the run has nothing for that key)."""
    from casework.scoring.noise import noise_summary

    completion = completion_section(results, tasks, domain, database)
    return {
        "safety_compliance": safety_section(results, tasks, domain, database),
        "completion": completion,
        "success_by_length": success_by_length(results) if completion else None,
        "noise": noise_summary(results),
    }
