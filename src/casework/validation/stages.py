"""The validation stages in order, and how their results land on a task.

1. ``format``, 2. ``grounding``, 3. ``execution``: :mod:`casework.validation.replay` (one replay);
4. ``policy``: the domain's ``policy_rules``, inside the same replay;
5. ``committee``: :mod:`casework.validation.committee` (model reviewers; the generation pipeline);
6. ``dedup``: :mod:`casework.validation.dedup` (near-identical tasks: same user, same actions).

:func:`validate_stages` runs 1-4 on one task; :func:`attach_report` writes the outcome into
``task.validation_report`` (per stage: passed, reasons; the execution stage also stores the diff).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from casework.domains import Database, Domain
from casework.tasks.model import Task, ValidationReport
from casework.validation.dedup import dedup_key, deduplicate
from casework.validation.replay import Problem, TaskValidation, validate_task

STAGES: tuple[str, ...] = ("format", "grounding", "execution", "policy", "committee", "dedup")
REPLAY_STAGES: tuple[str, ...] = STAGES[:4]

__all__ = [
    "REPLAY_STAGES",
    "STAGES",
    "attach_report",
    "dedup_key",
    "deduplicate",
    "stage_reasons",
    "validate_all",
    "validate_stages",
]


def validate_stages(
    domain: Domain, database: Database, task: Task, *, check_user_id: bool = True, policy: bool = True
) -> TaskValidation:
    """Stages 1-4 on one task (one replay on a fresh fork)."""
    checks = domain.policy_rules() if policy and domain.policy_rules else None
    return validate_task(domain, database, task, check_user_id=check_user_id, policy=checks)


def validate_all(
    domain: Domain,
    database: Database,
    tasks: Iterable[Task],
    *,
    check_user_id: bool = True,
    policy: bool = True,
) -> list[TaskValidation]:
    checks = domain.policy_rules() if policy and domain.policy_rules else None
    return [validate_task(domain, database, t, check_user_id=check_user_id, policy=checks) for t in tasks]


def stage_reasons(problems: Iterable[Problem]) -> dict[str, list[dict[str, Any]]]:
    """Problems grouped by stage, as machine-readable dicts."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for problem in problems:
        entry = {"message": problem.message}
        if problem.action_index is not None:
            entry["action_index"] = problem.action_index
            entry["action_name"] = problem.action_name
        grouped.setdefault(problem.stage, []).append(entry)
    return grouped


def attach_report(
    task: Task,
    validation: TaskValidation,
    extra_stages: dict[str, dict[str, Any]] | None = None,
    *,
    diff: bool = True,
) -> Task:
    """A copy of ``task`` whose ``validation_report`` holds every stage's verdict and reasons."""
    reasons = stage_reasons(validation.problems)
    stages: dict[str, Any] = {}
    for stage in validation.stages:
        stages[stage] = {"passed": stage not in reasons}
        if stage in reasons:
            stages[stage]["reasons"] = reasons[stage]
    if diff and "execution" in stages:
        stages["execution"]["diff"] = [change.describe() for change in validation.replay.diff()]
    for name, result in (extra_stages or {}).items():
        stages[name] = result
    valid = all(result.get("passed", False) for result in stages.values())
    missing = [r["message"] for r in reasons.get("grounding", []) if "instruction" in r["message"]]
    report = ValidationReport(
        valid=valid, missing=missing, suggestions=[p.line() for p in validation.problems], stages=stages
    )
    return task.model_copy(update={"validation_report": report})
