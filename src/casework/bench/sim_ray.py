"""``casework bench sim --backend ray``: the figures of :mod:`casework.bench.sim`, through Ray workers.

The same two measurements, run by :class:`~casework.runs.ray_backend.RayRunner` (the driver writes
``results.jsonl``, the pairs run on Ray actors):

* **overhead** - every worker builds its own :class:`~casework.bench.sim.InstantLLM`; the time spent
  inside it (microseconds per call) stays on the workers, so it is not subtracted: ms per step here
  is wall time per agent step, Ray scheduling and the result's trip to the driver included.
* **throughput** - the workers call the delayed local HTTP endpoint through their own
  :class:`~casework.llm.LLMClient`; each call's end is read from its record in the results
  (``started_at + latency_s``, wall clock, comparable across processes). The window starts at the
  first call (not at ``ray`` start-up or actor creation). Harness CPU = the driver plus the worker
  processes (Ray's own raylet/GCS processes are not counted); memory is the workers' RSS.
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from casework import aio
from casework.bench.sim import (
    EndpointProcess,
    InstantLLM,
    OracleScript,
    OverheadResult,
    SimBench,
    ThroughputResult,
    overhead_result,
    throughput_result,
)
from casework.domains import Database, Domain
from casework.tasks.model import Task


def _instant_clients(script: OracleScript) -> dict[str, Any]:
    """Run on each worker: its own instant model."""
    return {"agent_llm": InstantLLM(script), "user_llm": None}


def _proc_cpu_s(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _proc_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _WorkerWatch:
    """The CPU seconds and peak RSS of the runner's worker processes, sampled on every result."""

    def __init__(self, runner: Any):
        self.runner = runner
        self.cpu: dict[int, float] = {}
        self.first: dict[int, float] = {}
        self.rss: dict[int, int] = {}
        self.finished: list[float] = []

    def __call__(self, result: dict[str, Any]) -> None:
        self.finished.append(time.time())
        for pid in list(self.runner.worker_pids.values()):
            cpu = _proc_cpu_s(pid)
            if cpu is not None:
                self.first.setdefault(pid, cpu)
                self.cpu[pid] = cpu
            self.rss[pid] = max(self.rss.get(pid, 0), _proc_rss(pid))

    def cpu_s(self) -> float:
        return sum(self.cpu[pid] - self.first[pid] for pid in self.cpu)


def measure_overhead_ray(
    tasks: list[Task], tasks_file: Path, work: Path, *, simulations: int, workers: int | None
) -> OverheadResult:
    from casework.runs.ray_backend import RayRunner
    from casework.runs.runner import RunConfig
    from casework.runs.store import read_results

    trials = max(1, -(-simulations // len(tasks)))
    config = RunConfig(tasks=tasks_file, out=work / "overhead-ray", trials=trials, concurrency=8)
    factory = functools.partial(_instant_clients, OracleScript(tasks))
    runner = RayRunner(config, workers=workers, client_factory=factory)
    start = time.perf_counter()
    aio.run(runner.run())
    wall = time.perf_counter() - start
    # the instant model's time is spent on the workers (microseconds per call): not subtracted
    return overhead_result(read_results(config.out), wall_s=wall, model_s=0.0)


def measure_throughput_ray(
    tasks: list[Task],
    tasks_file: Path,
    work: Path,
    *,
    in_flight: int,
    delay_s: float,
    rounds: int,
    stream: bool,
    workers: int | None,
) -> ThroughputResult:
    from datetime import datetime

    from casework.llm import EndpointConfig, LLMClient
    from casework.runs.ray_backend import RayRunner
    from casework.runs.runner import RunConfig
    from casework.runs.store import read_results

    total = rounds * in_flight
    trials = max(1, -(-total // len(tasks)))
    out = work / "throughput-ray"
    with EndpointProcess(tasks_file, delay_s) as endpoint:
        endpoint_config = EndpointConfig(
            model="bench",
            base_url=endpoint.base_url,
            max_concurrency=in_flight,
            timeout_s=60.0,
            max_retries=2,
            stream=stream,
        )
        client = LLMClient(endpoint_config, role="agent")  # the workers build their own from its config
        config = RunConfig(tasks=tasks_file, out=out, trials=trials, concurrency=in_flight)
        runner = RayRunner(config, workers=workers, agent_llm=client)
        watch = _WorkerWatch(runner)
        runner.on_result = watch
        cpu_before, own_before = endpoint.cpu_s(), time.process_time()
        aio.run(runner.run())
        endpoint_cpu, own_cpu = endpoint.cpu_s() - cpu_before, time.process_time() - own_before
        asyncio.run(client.aclose())
    results = read_results(out)[:total]
    calls = [c for r in results for c in r.get("model_calls") or [] if c.get("role") == "agent"]
    starts = [datetime.fromisoformat(c["started_at"]).timestamp() for c in calls]
    stamps = [s + float(c.get("latency_s") or 0) for s, c in zip(starts, calls, strict=True)]
    return throughput_result(
        results,
        stamps=stamps,
        finished=watch.finished,
        started=min(starts) if starts else time.time(),
        end=max(stamps) if stamps else time.time(),
        in_flight=in_flight,
        delay_s=delay_s,
        stream=stream,
        transport=f"ray ({len(watch.rss)} workers)",
        rss=(0, sum(watch.rss.values())),
        cpu=(own_cpu + watch.cpu_s(), endpoint_cpu),
    )


def run_sim_bench_ray(
    domain: Domain,
    database: Database,
    tasks: list[Task],
    *,
    simulations: int = 2000,
    in_flight: int = 256,
    delay_s: float = 0.2,
    rounds: int = 6,
    stream: bool = False,
    throughput: bool = True,
    address: str | None = None,
    workers: int | None = None,
    work_dir: Path | None = None,
) -> SimBench:
    """The sim benchmark through Ray (a local instance, or the cluster at ``address``)."""
    from casework.runs.ray_backend import connect
    from casework.tasks import save_tasks

    ray, started_here = connect(address)  # Ray's start-up is not part of the figures
    try:
        with tempfile.TemporaryDirectory(prefix="casework-bench-sim-ray-", dir=work_dir) as tmp:
            work = Path(tmp)
            tasks_file = work / "tasks.json"
            save_tasks(tasks, tasks_file)
            overhead = measure_overhead_ray(tasks, tasks_file, work, simulations=simulations, workers=workers)
            result = None
            if throughput:
                result = measure_throughput_ray(
                    tasks,
                    tasks_file,
                    work,
                    in_flight=in_flight,
                    delay_s=delay_s,
                    rounds=rounds,
                    stream=stream,
                    workers=workers,
                )
    finally:
        if started_here:
            ray.shutdown()
    bench = SimBench(overhead, result, extra={"backend": "ray"})
    bench.extra["ray_note"] = (
        "overhead ms/step is wall time per step, worker start-up included (the instant model's time on the "
        "workers is not subtracted); memory is the workers' peak RSS summed, divided by in-flight simulations"
    )
    return bench
