"""Study sections of a run's summary that need the run's tasks and domain (robustness to perturbations)."""

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
