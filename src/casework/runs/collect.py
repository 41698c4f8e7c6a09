"""Rejection sampling of agent trajectories (APIGen-MT phase 2): ``casework collect``.

Each task is attempted up to ``attempts`` times with the configured agent and user; an attempt is a
trial of an ordinary run (attempt k = trial k), simulated and graded by the pair code every backend
shares (:func:`casework.runs.pairs.simulate_pair`) and recorded in ``results.jsonl`` like every other
simulation, so ``casework report``, ``export`` and ``regrade`` read a collection unchanged.

What differs from ``casework run`` is the plan (:class:`CollectPlan`, a mixin over the local
:class:`~casework.runs.runner.Runner` and the :class:`~casework.runs.ray_backend.RayRunner`): the
attempts of one task run one after another (tasks run side by side, ``--concurrency`` at a time),
and after each recorded attempt the runner asks :meth:`CollectPlan.follow_up` for the task's next
attempt, which exists only while the task has fewer than ``successes`` accepted trajectories and
attempts are left.

Accepted: an attempt with reward 1 (``success``; never one that ended in an infrastructure error)
whose :func:`trajectory_signature` differs from those of the task's attempts accepted before it (in
trial order). The signature is the sha256 of the agent's tool calls in order (name + arguments
normalised under the domain's argument rules, as action matching does; call ids ignored) and the
final state's hash: two successes that made the same calls and left the same database are the same
solution however they were worded. A duplicate success is recorded (reward 1) but not accepted and
does not count towards ``successes``. ``casework export --dedupe`` compares whole conversations
(texts too), a finer rule: with ``--successes 1`` (the default) there is never a duplicate.

Resuming: every run of ``collect`` with the same ``--out`` continues the collection; the plan is
rebuilt from ``results.jsonl`` (a finished attempt is never run again, a task with enough accepted
trajectories is not attempted again; attempts that ended in infrastructure errors are re-run, as
``run --resume`` does). ``collect.json`` is rewritten from ``results.jsonl`` at the end of every
session; each result line also carries ``collect`` (``signature``, ``accepted``, ``duplicate_of``)
as decided when it was written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from casework.domains import ArgumentRules
from casework.runs.runner import RunConfig, Runner, build_manifest, check_resume, file_sha256
from casework.runs.store import ResultsStore, RunDirError, read_manifest, read_results
from casework.scoring import is_infrastructure_error
from casework.scoring.metrics import wilson_interval
from casework.tasks.model import Task
from casework.tasks.normalize import NO_RULES, normalize_action

COLLECT_FILE = "collect.json"
NO_SCENARIO = "(none)"
DEDUPE_RULE = (
    "reward-1 attempts with the same signature (the agent's tool calls in order, arguments normalised "
    "under the domain's rules, and the final state's sha256) are one trajectory: the first is accepted"
)


# ---------------------------------------------------------------------------------- deciding


def trajectory_signature(result: dict[str, Any], rules: ArgumentRules = NO_RULES) -> str:
    """The identity of an attempt's solution (see the module docstring)."""
    calls = []
    for call in result.get("tool_calls") or []:
        if call.get("requestor", "assistant") != "assistant":
            continue
        arguments = call.get("arguments")
        if isinstance(arguments, dict):
            calls.append(list(normalize_action((str(call.get("name", "")), arguments), rules)))
        else:  # arguments that were not a JSON object: compared as written
            calls.append([str(call.get("name", "")).strip(), str(arguments)])
    payload = json.dumps([calls, result.get("final_state_sha256")], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def counts_as_success(result: dict[str, Any]) -> bool:
    return bool(result.get("success")) and not is_infrastructure_error(result.get("termination_reason"))


@dataclass
class Attempt:
    success: bool
    signature: str
    infrastructure_error: bool = False


@dataclass
class TaskTally:
    """One task's attempts, decided in trial order."""

    attempts: dict[int, Attempt] = field(default_factory=dict)
    accepted: list[int] = field(default_factory=list)
    duplicates: dict[int, int] = field(default_factory=dict)  # trial -> the accepted trial it repeats

    @classmethod
    def of(cls, attempts: dict[int, Attempt], successes: int) -> TaskTally:
        tally = cls(attempts=dict(attempts))
        first: dict[str, int] = {}
        for trial in sorted(attempts):
            attempt = attempts[trial]
            if not attempt.success:
                continue
            if attempt.signature in first:
                tally.duplicates[trial] = first[attempt.signature]
            elif len(tally.accepted) < successes:
                first[attempt.signature] = trial
                tally.accepted.append(trial)
        return tally

    def next_trial(self, attempts: int, successes: int) -> int | None:
        """The task's next attempt, or None when it has enough accepted trajectories or no attempt left."""
        if len(self.accepted) >= successes:
            return None
        return next((t for t in range(attempts) if t not in self.attempts), None)


def _attempt(result: dict[str, Any], rules: ArgumentRules) -> Attempt:
    return Attempt(
        success=counts_as_success(result),
        signature=trajectory_signature(result, rules),
        infrastructure_error=is_infrastructure_error(result.get("termination_reason")),
    )


def scenarios_of(task: Task) -> list[str]:
    value = task.scenario
    if isinstance(value, list):
        return [str(v) for v in value] or [NO_SCENARIO]
    return [str(value)] if value else [NO_SCENARIO]


# ---------------------------------------------------------------------------------- the summary


def _rate(accepted: int, attempts: int) -> dict[str, Any]:
    low, high = wilson_interval(accepted, attempts)
    return {
        "acceptance_rate": round(accepted / attempts, 6) if attempts else None,
        "wilson_low": round(low, 6),
        "wilson_high": round(high, 6),
    }


def collect_summary(
    results: list[dict[str, Any]],
    tasks: list[Task],
    *,
    attempts: int,
    successes: int,
    rules: ArgumentRules = NO_RULES,
    best_of_n: int | None = None,
) -> dict[str, Any]:
    """``collect.json``: per task, per scenario (acceptance rate per attempt, Wilson 95 % interval)
    and totals. Attempts that ended in infrastructure errors are counted apart, not as attempts."""
    by_task: dict[str, dict[int, Attempt]] = {}
    for result in results:
        by_task.setdefault(str(result["task_id"]), {})[int(result["trial"])] = _attempt(result, rules)
    per_task: dict[str, Any] = {}
    per_scenario: dict[str, dict[str, int]] = {}
    totals = {
        "tasks": len(tasks),
        "tasks_collected": 0,
        "tasks_exhausted": 0,
        "tasks_pending": 0,
        "attempts": 0,
        "successes": 0,
        "accepted": 0,
        "duplicates": 0,
        "infrastructure_errors": 0,
    }
    for task in tasks:
        tally = TaskTally.of(by_task.get(task.id, {}), successes)
        infra = sum(a.infrastructure_error for a in tally.attempts.values())
        made = len(tally.attempts) - infra
        wins = sum(a.success for a in tally.attempts.values())
        if len(tally.accepted) >= successes:
            status = "collected"
        elif tally.next_trial(attempts, successes) is None:
            status = "exhausted"
        else:
            status = "pending"
        per_task[task.id] = {
            "scenario": scenarios_of(task),
            "status": status,
            "attempts": made,
            "successes": wins,
            "accepted": tally.accepted,
            "duplicates": {str(t): of for t, of in sorted(tally.duplicates.items())},
            "infrastructure_errors": infra,
            "trials": sorted(tally.attempts),
        }
        totals[f"tasks_{status}"] += 1
        totals["attempts"] += made
        totals["successes"] += wins
        totals["accepted"] += len(tally.accepted)
        totals["duplicates"] += len(tally.duplicates)
        totals["infrastructure_errors"] += infra
        for name in scenarios_of(task):
            row = per_scenario.setdefault(
                name, {"tasks": 0, "tasks_collected": 0, "attempts": 0, "accepted": 0, "duplicates": 0}
            )
            row["tasks"] += 1
            row["tasks_collected"] += status == "collected"
            row["attempts"] += made
            row["accepted"] += len(tally.accepted)
            row["duplicates"] += len(tally.duplicates)
    scenarios = {
        name: {**row, **_rate(row["accepted"], row["attempts"])} for name, row in sorted(per_scenario.items())
    }
    return {
        "attempts_per_task": attempts,
        "successes_per_task": successes,
        "best_of_n": best_of_n or 1,
        "dedupe": DEDUPE_RULE,
        "totals": {**totals, **_rate(totals["accepted"], totals["attempts"])},
        "scenarios": scenarios,
        "tasks": per_task,
    }


def write_collect_summary(out: Path, summary: dict[str, Any]) -> Path:
    path = Path(out) / COLLECT_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------------- the plan


class CollectPlan:
    """The collection's plan over a runner (mixed in before :class:`Runner` or ``RayRunner``)."""

    config: RunConfig
    tasks: list[Task]

    def __init__(self, config: RunConfig, **kwargs: Any):
        if config.collect_successes is None:
            raise ValueError("a collection needs collect_successes (casework collect --successes)")
        super().__init__(config, **kwargs)  # type: ignore[call-arg]
        self._attempts: dict[str, dict[int, Attempt]] = {}
        self._index = {task.id: i for i, task in enumerate(self.tasks)}

    @property
    def successes_needed(self) -> int:
        return self.config.collect_successes or 1

    @property
    def rules(self) -> ArgumentRules:
        return self.domain.arguments  # type: ignore[attr-defined]

    def _tally(self, task_id: str) -> TaskTally:
        return TaskTally.of(self._attempts.get(task_id, {}), self.successes_needed)

    def pending(self, finished: set[tuple[str, int]]) -> list[tuple[int, Task, int]]:
        """The next attempt of every task that still needs one (rebuilt from ``results.jsonl``)."""
        self._attempts = {}
        for result in read_results(self.config.out):
            pair = (str(result["task_id"]), int(result["trial"]))
            if pair in finished:
                self._attempts.setdefault(pair[0], {})[pair[1]] = _attempt(result, self.rules)
        jobs = []
        for i, task in enumerate(self.tasks):
            trial = self._tally(task.id).next_trial(self.config.trials, self.successes_needed)
            if trial is not None:
                jobs.append((i, task, trial))
        return jobs

    def follow_up(self, result: dict[str, Any]) -> list[tuple[int, Task, int]]:
        task_id = str(result["task_id"])
        trial = self._tally(task_id).next_trial(self.config.trials, self.successes_needed)
        if trial is None or task_id not in self._index:
            return []
        index = self._index[task_id]
        return [(index, self.tasks[index], trial)]

    def progress_span(self, finished: set[tuple[str, int]]) -> tuple[int, int]:
        self.pending(finished)
        done = sum(len(a) for a in self._attempts.values())
        total = 0
        for task in self.tasks:
            tally = self._tally(task.id)
            open_ = tally.next_trial(self.config.trials, self.successes_needed) is not None
            total += self.config.trials if open_ else len(tally.attempts)
        return total, done

    def accept(self, store: ResultsStore, result: dict[str, Any], streak: dict[str, Any]) -> str | None:
        task_id, trial = str(result["task_id"]), int(result["trial"])
        attempt = _attempt(result, self.rules)
        after = TaskTally.of({**self._attempts.get(task_id, {}), trial: attempt}, self.successes_needed)
        result["collect"] = {
            "signature": attempt.signature,
            "accepted": trial in after.accepted,
            "duplicate_of": after.duplicates.get(trial),
        }
        why = super().accept(store, result, streak)  # type: ignore[misc]
        self._attempts.setdefault(task_id, {})[trial] = attempt
        return why

    def collect_summary(self) -> dict[str, Any]:
        summary = collect_summary(
            read_results(self.config.out),
            self.tasks,
            attempts=self.config.trials,
            successes=self.successes_needed,
            rules=self.rules,
            best_of_n=self.config.best_of_n,
        )
        write_collect_summary(self.config.out, summary)
        return summary

    def finish(self, store: ResultsStore, started: float, jobs: int) -> dict[str, Any]:
        summary = super().finish(store, started, jobs)  # type: ignore[misc]
        summary["collect"] = self.collect_summary()
        return summary

    def summarize(self) -> dict[str, Any]:
        summary = super().summarize()  # type: ignore[misc]
        summary["collect"] = self.collect_summary()
        return summary


class CollectRunner(CollectPlan, Runner):
    """A collection on the local asyncio backend."""


def make_collect_runner(
    config: RunConfig,
    *,
    backend: str = "local",
    address: str | None = None,
    workers: int | None = None,
    **kwargs: Any,
) -> Runner:
    """The collection's runner on ``backend`` (``local`` or ``ray``); the attempt loop is driver-side."""
    from casework.runs.backends import make_runner

    return make_runner(config, backend=backend, address=address, workers=workers, plan=CollectPlan, **kwargs)


# ---------------------------------------------------------------------------------- the directory

_RENAMED = {"trials": "attempts", "collect_successes": "successes", "best_of_n": "best-of-n"}


def check_collect_directory(config: RunConfig) -> None:
    """``--out`` is new, or a collection of the same task file with the same settings (it continues);
    anything else is a :class:`RunDirError` in one line naming what differs."""
    out = Path(config.out)
    existing = read_manifest(out) if out.is_dir() else None
    if existing is None:
        return
    old = existing.get("config") or {}
    if old.get("collect_successes") is None:
        raise RunDirError(f"--out {out} holds a `casework run` run, not a collection: choose another --out")
    new_sha = file_sha256(Path(config.tasks))
    old_sha = existing.get("tasks_sha256")
    if old_sha != new_sha:
        raise RunDirError(
            f"--out {out} holds a collection of another task file ({old.get('tasks')}, sha256 "
            f"{str(old_sha)[:12]}), not of {config.tasks} (sha256 {new_sha[:12]}): choose another --out"
        )
    try:
        check_resume(existing, build_manifest(config))
    except RunDirError as exc:
        message = str(exc).replace("cannot resume", f"cannot continue the collection in {out}")
        for field_name, flag in _RENAMED.items():
            message = message.replace(f"({field_name}:", f"({flag}:").replace(
                f"; {field_name}:", f"; {flag}:"
            )
        raise RunDirError(message + ": use the same options, or choose another --out") from None
