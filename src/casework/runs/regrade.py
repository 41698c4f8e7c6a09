"""Re-grade a run from its saved trajectories, without calling the agent or user models.

``casework regrade RUN_DIR [--tasks FRESH_TASKS] [--judge-model ...] [--out NEW_RUN_DIR]``: every
result line of the run is scored again against the tasks (the run's own task file, or a fixed one),
with the run's judge or another. The expected side is replayed afresh; the agent's final state is
rebuilt by replaying the saved tool calls, in order, on a fresh fork with the task's initial state
(the tools are deterministic, so this is the state the agent left; the rebuilt hash is checked
against the saved one). NL-assertion verdicts come from the run directory's judge cache when the
same judge already judged the same conversation, so re-grading with the same judge is free.

Output: a new run directory (``--out``: manifest, ``results.jsonl``, summary, judge cache) or,
without ``--out``, ``results.regraded.jsonl`` and ``summary.regraded.json`` beside the original.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from casework.domains import get_domain
from casework.domains.registry import DEFAULT_DOMAIN
from casework.runs.grading import (
    COMMUNICATE,
    COMPONENT_SCORERS,
    DB,
    NL_ASSERTION,
    ExpectedOutcome,
    GradingInput,
    call_tool,
    components_for,
    fresh_state,
    grade_input,
)
from casework.runs.judge import CACHE_FILE, Judge, JudgeCache
from casework.runs.records import SCHEMA_VERSION, SimulationResult, parse_result, read_records
from casework.runs.store import RunDirError, read_manifest, write_manifest
from casework.runs.summary import summarize, write_summary
from casework.scoring.tau3 import GRADED_TERMINATIONS
from casework.tasks import load_tasks
from casework.tasks.model import Task

REWARD_COMPONENTS = frozenset(COMPONENT_SCORERS)
REGRADED_RESULTS = "results.regraded.jsonl"
REGRADED_SUMMARY = "summary.regraded.json"
#: the fields a re-grade recomputes (everything else of a line is the saved trajectory)
GRADED_FIELDS = (
    "reward",
    "success",
    "db_match",
    "outputs_match",
    "outputs_found",
    "expected_state_sha256",
    "final_state_sha256",
    "action_precision",
    "action_recall",
    "action_f1",
    "exact_match",
    "action_metrics",
    "shaped_reward",
    "shaped_reward_normalized",
    "shaped",
    "error_category",
    "error_detail",
    "reward_basis",
    "components",
)


@dataclass
class RegradeReport:
    """What changed: rewards, and component verdicts (a component's reward or status)."""

    simulations: int = 0
    rewards_changed: int = 0
    verdicts_changed: int = 0
    verdicts_compared: int = 0
    judge_calls: int = 0
    judge_cached: int = 0
    state_mismatches: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    results_path: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def _verdicts(record: SimulationResult) -> dict[str, Any]:
    """Each verdict of a line: the reward, each reward component's outcome (its reward, or its
    status when it has none) and each of its checks. A schema-1 line has the tau-bench parts only
    (DB and COMMUNICATE from ``db_match`` and ``outputs_found``), compared the same way."""
    out: dict[str, Any] = {"reward": record.reward}
    if not record.components:
        out[DB] = 1.0 if record.db_match else 0.0
        out[COMMUNICATE] = 1.0 if record.outputs_match else 0.0
        for i, found in enumerate(record.outputs_found):
            out[f"{COMMUNICATE}[{i}]"] = bool(found)
        return out
    for name, component in record.components.items():
        if name not in REWARD_COMPONENTS:
            continue  # diagnostics (action metrics, shaped reward, error taxonomy)
        out[name] = component.reward if component.status == "ok" else component.status
        for i, check in enumerate(component.checks):
            out[f"{name}[{i}]"] = check.met
    return out


def _rebuild(task: Task, record: SimulationResult, domain: Any, database: Any) -> tuple[Any, str]:
    state = fresh_state(domain, database, task)
    for call in record.tool_calls:
        call_tool(domain, state, call.name, call.arguments, call.requestor)
    return state, state.canonical_hash()


async def regrade(
    run_dir: Path,
    *,
    tasks_path: Path | None = None,
    judge_llm: Any = None,
    judge_id: str | None = None,
    out: Path | None = None,
) -> RegradeReport:
    """Re-score every result of ``run_dir`` (see the module docstring)."""
    run_dir = Path(run_dir)
    finished = open_finished_run(run_dir, tasks_path)
    manifest, config, source = finished.manifest, finished.config, finished.source
    domain, database, tasks = finished.domain, finished.database, finished.tasks
    records = read_records(run_dir)
    if not records:
        raise RunDirError(f"{run_dir}/results.jsonl holds no finished simulation")
    missing = sorted({r.task_id for r in records} - set(tasks))
    if missing:
        raise RunDirError(f"{source}: no task with id {', '.join(map(repr, missing[:5]))} (the run has them)")
    if out is not None:
        if (out / "results.jsonl").exists():
            raise RunDirError(f"{out} already holds a run: choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        if (run_dir / CACHE_FILE).exists():
            shutil.copyfile(run_dir / CACHE_FILE, out / CACHE_FILE)
        cache = JudgeCache(out / CACHE_FILE)
    else:
        cache = JudgeCache(run_dir / CACHE_FILE)
    judge = None
    if judge_llm is not None:
        judge = Judge(judge_llm, judge_id or getattr(judge_llm.config, "model", "judge"), cache)

    report = RegradeReport(simulations=len(records))
    expected: dict[str, ExpectedOutcome] = {}
    lines = []
    for record in records:
        task = tasks[record.task_id]
        if task.id not in expected:
            expected[task.id] = ExpectedOutcome.of(domain, database, task)
        state, rebuilt = _rebuild(task, record, domain, database)
        saved = record.final_state_sha256
        if saved and rebuilt != saved:
            report.state_mismatches.append(f"{record.task_id}/{record.trial}")
        messages = [m.model_dump(mode="json") for m in record.messages]
        g = GradingInput(
            domain=domain,
            expected=expected[task.id],
            termination_reason=record.termination_reason or "",
            messages=messages,
            tool_calls=[c.model_dump(mode="json") for c in record.tool_calls],
            final_hash=saved or rebuilt,
            final_state=state,
        )
        judge_calls: list[dict[str, Any]] = []
        if task.nl_assertions and NL_ASSERTION in components_for(task):
            if g.termination_reason not in GRADED_TERMINATIONS:
                g.nl_note = f"not judged: the simulation ended by {g.termination_reason}"
            elif judge is None:
                g.nl_note = "no judge given to regrade"
            else:
                verdicts = await judge.judge(task.nl_assertions, messages)
                g.nl_checks, g.nl_status, g.nl_note = verdicts.checks, verdicts.status, verdicts.note
                judge_calls = [{**c, "role": "judge"} for c in verdicts.calls]
                report.judge_calls += len(verdicts.calls)
                report.judge_cached += verdicts.cached
        scores = grade_input(g)
        line = record.to_line()
        line.update(scores)
        line["model_calls"] = line.get("model_calls", []) + judge_calls
        new = parse_result(line)
        before, after = _verdicts(record), _verdicts(new)
        changed = sorted(
            k for k in set(before) | set(after) if k != "reward" and before.get(k) != after.get(k)
        )
        report.verdicts_compared += len(set(before) | set(after))
        report.verdicts_changed += len(changed) + (before["reward"] != after["reward"])
        if before["reward"] != after["reward"]:
            report.rewards_changed += 1
        if changed or before["reward"] != after["reward"]:
            report.changes.append(
                {
                    "task_id": record.task_id,
                    "trial": record.trial,
                    "reward": [before["reward"], after["reward"]],
                    "changed": changed,
                }
            )
        lines.append(new.to_line())

    exclude = bool(config.get("exclude_infrastructure"))
    seed = int(config.get("seed") or 0)
    from casework.runs.studies import robustness_section, study_sections

    studies = {
        "robustness": robustness_section(lines, list(tasks.values()), domain, database, seed),
        **study_sections(lines, list(tasks.values()), domain, database),
    }
    studies = {k: v for k, v in studies.items() if v is not None}
    if out is not None:
        new_manifest = {
            **manifest,
            "schema_version": SCHEMA_VERSION,
            "regraded_from": str(run_dir),
            "regraded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "regrade_tasks": str(source),
            "regrade_judge": judge.judge_id if judge is not None else None,
        }
        write_manifest(out, new_manifest)
        path = out / "results.jsonl"
        _write_lines(path, lines)
        report.summary = write_summary(out, lines, exclude_infrastructure=exclude, seed=seed)
        if studies:
            report.summary.update(studies)
            (out / "summary.json").write_text(json.dumps(report.summary, indent=2), encoding="utf-8")
    else:
        path = run_dir / REGRADED_RESULTS
        _write_lines(path, lines)
        report.summary = summarize(lines, exclude_infrastructure=exclude, seed=seed) | studies
        (run_dir / REGRADED_SUMMARY).write_text(json.dumps(report.summary, indent=2), encoding="utf-8")
    report.results_path = path
    return report


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, default=str) + "\n")
    tmp.replace(path)


def run_needs_judge(run_dir: Path, tasks_path: Path | None = None) -> bool:
    """Whether re-grading ``run_dir`` (against ``tasks_path``) asks a judge model."""
    from casework.runs.runner import needs_judge

    manifest = _manifest(Path(run_dir))
    config = manifest.get("config") or {}
    return needs_judge(load_tasks(_task_source(config, tasks_path), domain=config.get("domain")))


@dataclass
class FinishedRun:
    """What re-reading a finished run needs: its manifest and configuration, the domain and database
    it ran on, and its tasks by id (from ``source``: the run's task file or the one given)."""

    manifest: dict[str, Any]
    config: dict[str, Any]
    domain: Any
    database: Any
    source: Path
    tasks: dict[str, Task]


def _manifest(run_dir: Path) -> dict[str, Any]:
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise RunDirError(f"{run_dir}: no manifest.json: pass a directory written by `casework run`")
    return manifest


def _task_source(config: dict[str, Any], tasks_path: Path | None) -> Path:
    source = Path(tasks_path) if tasks_path is not None else Path(config.get("tasks", ""))
    if not source.is_file():
        raise RunDirError(f"{source}: task file not found (pass --tasks FILE)")
    return source


def open_finished_run(run_dir: Path, tasks_path: Path | None = None) -> FinishedRun:
    """The run directory's manifest, domain, database and tasks (``regrade`` and ``review``);
    :class:`RunDirError` naming the file when the manifest or the task file is missing."""
    manifest = _manifest(Path(run_dir))
    config = manifest.get("config") or {}
    domain = get_domain(config.get("domain") or DEFAULT_DOMAIN)
    database = domain.database(Path(config["data"]) if config.get("data") else None)
    source = _task_source(config, tasks_path)
    tasks = {t.id: t for t in load_tasks(source, domain=config.get("domain"))}
    return FinishedRun(manifest, config, domain, database, source, tasks)
