"""Benchmark: the time to grade one task (fork, replay its actions, canonical hash of the result).

Measured side by side with a naive reference that does what tau-bench's own harness does per task:
reload the JSON tables from disk, replay on them, and hash the whole database from scratch.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casework.domains import Database, Domain
from casework.domains.state import canonical_hash_of
from casework.tasks.model import Task
from casework.tasks.replay import replay_actions, replay_task


@dataclass
class Timing:
    name: str
    per_task_ms: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.per_task_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.per_task_ms)
        return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


@dataclass
class ReplayBench:
    fast: Timing
    naive: Timing | None
    forks: int
    forks_peak_bytes: int
    hashes_identical: bool | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "median_ms": self.fast.median,
            "p95_ms": self.fast.p95,
            "tasks": len(self.fast.per_task_ms),
            "live_forks": self.forks,
            "live_forks_peak_mib": self.forks_peak_bytes / 2**20,
        }
        if self.naive is not None:
            out |= {
                "naive_median_ms": self.naive.median,
                "speedup_median": self.naive.median / self.fast.median,
                "hashes_identical": self.hashes_identical,
            }
        return out


def _time_each(
    tasks: list[Task], grade: Callable[[Task], str], repeats: int
) -> tuple[list[float], list[str]]:
    per_task: list[float] = []
    hashes: list[str] = []
    for task in tasks:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            digest = grade(task)
            best = min(best, time.perf_counter() - start)
        per_task.append(best * 1000)
        hashes.append(digest)
    return per_task, hashes


def run_replay_bench(
    domain: Domain,
    database: Database,
    tasks: list[Task],
    *,
    data_dir: Path | None = None,
    naive_tasks: int = 30,
    repeats: int = 3,
    forks: int = 1000,
) -> ReplayBench:
    """Time grading every task (best of ``repeats``); the naive reference runs on the first ``naive_tasks``."""
    database.canonical_hash()  # build the serialisation index once, as a long-lived grader would

    def grade(task: Task) -> str:
        return replay_task(domain, database, task).final_hash

    gc.collect()
    fast_ms, fast_hashes = _time_each(tasks, grade, repeats)

    naive = None
    identical = None
    if naive_tasks and data_dir is not None and data_dir.is_dir():

        def grade_naive(task: Task) -> str:
            tables = {name: json.loads((data_dir / f"{name}.json").read_text()) for name in domain.tables}
            state = Database(tables).fork()
            replay_actions(domain, state, task.actions)
            return canonical_hash_of(state.to_dict())

        subset = tasks[:naive_tasks]
        naive_ms, naive_hashes = _time_each(subset, grade_naive, 1)
        naive = Timing("naive", naive_ms)
        identical = naive_hashes == fast_hashes[: len(subset)]

    # Peak memory of many live forks, each holding one task's replayed state.
    gc.collect()
    tracemalloc.start()
    live = []
    for i in range(forks):
        task = tasks[i % len(tasks)]
        live.append(replay_task(domain, database, task).state)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del live
    return ReplayBench(Timing("fast", fast_ms), naive, forks, peak, identical)
