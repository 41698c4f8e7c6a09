"""Benchmark: the simulation harness itself (``casework bench sim``).

Two measurements, both through the real :class:`~casework.runs.runner.Runner` (ToolCallingAgent +
ScriptedUser, grading, durable ``results.jsonl``):

* **overhead** - an instant in-process model (:class:`InstantLLM`, whose ``chat`` returns a scripted
  completion at once): wall time minus the time spent inside the model, per agent step.
* **throughput** - many simulations in flight against a local HTTP endpoint (a separate process, so
  it does not share the event loop) that answers every chat completion after a fixed delay, through
  the real :class:`~casework.llm.LLMClient`. Reported as model calls/s against the ideal
  ``in_flight / delay``, plus the memory each in-flight simulation costs (RSS delta / in flight).

Both models play an oracle from the conversation alone (:class:`OracleScript`): the opening user
message identifies the task, the number of tool results so far says which ground-truth action comes
next; after the last one the model says the expected outputs. Every simulation therefore makes
``len(actions) + 1`` agent calls and ends with the scripted user's ``###STOP###``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from casework import aio
from casework.domains import Database, Domain
from casework.sim.users import opening_for
from casework.tasks.model import Task

DONE_TEXT = "Your request is complete. {outputs}Is there anything else I can help you with?"


class OracleScript:
    """An oracle agent's next turn computed from the conversation (OpenAI chat messages) alone."""

    def __init__(self, tasks: list[Task]):
        self.by_opening = {opening_for(t.instruction): t for t in tasks}  # the scripted user's first words

    def task_of(self, messages: list[dict[str, Any]]) -> Task | None:
        for message in messages:
            if message.get("role") == "user":
                return self.by_opening.get(message.get("content") or "")
        return None

    def reply(self, messages: list[dict[str, Any]]) -> tuple[str | None, list[tuple[str, str, str]]]:
        """``(text, [(call_id, name, arguments_json)])`` for the next assistant turn."""
        task = self.task_of(messages)
        done = sum(1 for m in messages if m.get("role") == "tool")
        if task is not None and done < len(task.actions):
            action = task.actions[done]
            return None, [(f"call_{done + 1}", action.name, json.dumps(action.arguments))]
        outputs = "".join(f"{o}. " for o in task.outputs) if task is not None else ""
        return DONE_TEXT.format(outputs=outputs), []


class InstantLLM:
    """A stand-in for LLMClient whose ``chat`` answers at once; ``model_time_s`` is the time spent in it."""

    def __init__(self, script: OracleScript):
        self.script = script
        self.calls = 0
        self.model_time_s = 0.0

    async def chat(
        self, messages: list[dict[str, Any]], tools: Any = None, tool_choice: Any = None, **_: Any
    ):
        from casework.llm.types import CallRecord, Completion, ToolCall

        start = time.perf_counter()
        text, calls = self.script.reply(messages)
        completion = Completion(
            content=text,
            tool_calls=[ToolCall(id=i, name=n, arguments=a) for i, n, a in calls],
            finish_reason="tool_calls" if calls else "stop",
            usage=CallRecord(role="agent", model="instant", prompt_tokens=0, completion_tokens=0),
        )
        self.calls += 1
        self.model_time_s += time.perf_counter() - start
        return completion


# -- the local HTTP endpoint (its own process) -----------------------------------------------------
def _completion_body(script: OracleScript, request: dict[str, Any]) -> bytes:
    text, calls = script.reply(request.get("messages") or [])
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
        ]
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    finish = "tool_calls" if calls else "stop"
    if not request.get("stream"):
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "bench",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
        return json.dumps(body).encode()
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench"}
    delta: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        delta["tool_calls"] = [{"index": k, **tc} for k, tc in enumerate(message["tool_calls"])]
    chunks = [
        {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        {**head, "choices": [], "usage": usage},
    ]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


async def _serve(tasks_file: Path, delay_s: float, port: int) -> None:
    from casework.tasks import load_tasks

    script = OracleScript(load_tasks(tasks_file))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                raw = await reader.readexactly(length) if length else b"{}"
                await asyncio.sleep(delay_s)
                request = json.loads(raw)
                payload = _completion_body(script, request)
                ctype = b"text/event-stream" if request.get("stream") else b"application/json"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: "
                    + ctype
                    + b"\r\nContent-Length: "
                    + str(len(payload)).encode()
                    + b"\r\n\r\n"
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class EndpointProcess:
    """``python -m casework.bench.sim --serve``: the delayed oracle endpoint in a child process."""

    def __init__(self, tasks_file: Path, delay_s: float):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "casework.bench.sim", "--serve", str(tasks_file), str(delay_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port:
            self.close()
            raise RuntimeError("the benchmark endpoint did not start")
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def cpu_s(self) -> float:
        """CPU seconds the endpoint process has used so far (0 where /proc is unavailable).

        ``schedstat`` counts nanoseconds (the single-threaded endpoint's one thread); ``stat`` only
        whole clock ticks (10 ms), too coarse for a short run, so it is the fallback."""
        try:
            with open(f"/proc/{self.proc.pid}/schedstat") as handle:
                return int(handle.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(f"/proc/{self.proc.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
            return 0.0

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> EndpointProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- measurements ----------------------------------------------------------------------------------
def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _runner(tasks_file: Path, out: Path, trials: int, concurrency: int, agent_llm: Any, database: Database):
    from casework.runs.runner import RunConfig, Runner

    config = RunConfig(tasks=tasks_file, out=out, trials=trials, concurrency=concurrency)
    runner = Runner(config, agent_llm=agent_llm)
    runner.database = database  # share the caller's (already indexed) database
    for task in runner.tasks:  # the per-task ground-truth replay is done once, outside the timing
        runner._expected(task)
    return runner


@dataclass
class OverheadResult:
    simulations: int
    agent_steps: int
    wall_s: float
    model_s: float
    rewards: float

    @property
    def ms_per_step(self) -> float:
        return (self.wall_s - self.model_s) / self.agent_steps * 1000


def measure_overhead(
    database: Database,
    tasks: list[Task],
    tasks_file: Path,
    work: Path,
    *,
    simulations: int,
    concurrency: int = 8,
) -> OverheadResult:
    import openai  # noqa: F401 - imported by the run's manifest; a one-time cost kept out of the timing

    import casework.llm  # noqa: F401

    trials = max(1, -(-simulations // len(tasks)))
    llm = InstantLLM(OracleScript(tasks))
    runner = _runner(tasks_file, work / "overhead", trials, concurrency, llm, database)
    start = time.perf_counter()
    aio.run(runner.run())
    wall = time.perf_counter() - start
    from casework.runs.store import read_results

    return overhead_result(read_results(work / "overhead"), wall_s=wall, model_s=llm.model_time_s)


def overhead_result(results: list[dict[str, Any]], *, wall_s: float, model_s: float) -> OverheadResult:
    """The figures of an overhead run (both backends) from its result lines."""
    return OverheadResult(
        simulations=len(results),
        agent_steps=sum(r["agent_steps"] for r in results),
        wall_s=wall_s,
        model_s=model_s,
        rewards=sum(r["reward"] for r in results) / max(1, len(results)),
    )


@dataclass
class ThroughputResult:
    in_flight: int
    delay_s: float
    simulations: int
    calls: int
    window_calls: int
    window_s: float
    total_s: float
    errors: int
    rss_before: int
    rss_peak: int
    rewards: float
    stream: bool
    transport: str = ""
    endpoint_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    #: CPU seconds inside the steady window only (no start-up, no final summary)
    steady_client_cpu_s: float = 0.0
    steady_endpoint_cpu_s: float = 0.0

    @property
    def client_ms_per_call(self) -> float:
        return 1000 * self.client_cpu_s / max(1, self.calls)

    @property
    def endpoint_ms_per_call(self) -> float:
        return 1000 * self.endpoint_cpu_s / max(1, self.calls)

    @property
    def steady_client_ms_per_call(self) -> float:
        """The harness's CPU per call while the run is saturated (what limits calls/s)."""
        return 1000 * self.steady_client_cpu_s / max(1, self.window_calls)

    @property
    def steady_endpoint_ms_per_call(self) -> float:
        return 1000 * self.steady_endpoint_cpu_s / max(1, self.window_calls)

    @property
    def ideal_calls_per_s(self) -> float:
        return self.in_flight / self.delay_s

    @property
    def calls_per_s(self) -> float:
        return self.window_calls / self.window_s if self.window_s > 0 else 0.0

    @property
    def kib_per_simulation(self) -> float:
        return max(0, self.rss_peak - self.rss_before) / self.in_flight / 1024


def measure_throughput(
    database: Database,
    tasks: list[Task],
    tasks_file: Path,
    work: Path,
    *,
    in_flight: int,
    delay_s: float,
    rounds: int,
    stream: bool,
    transport: str = "aiohttp",
) -> ThroughputResult:
    """``rounds`` x ``in_flight`` simulations, ``in_flight`` at a time; the rate is taken over the
    steady part (from 1 s after the start until the queue of pending simulations runs dry)."""
    from casework.llm import EndpointConfig, LLMClient
    from casework.runs.store import read_results

    total = rounds * in_flight
    trials = max(1, -(-total // len(tasks)))
    stamps: list[float] = []
    finished: list[float] = []
    with EndpointProcess(tasks_file, delay_s) as endpoint:
        config = EndpointConfig(
            model="bench",
            base_url=endpoint.base_url,
            max_concurrency=in_flight,
            timeout_s=60.0,
            max_retries=2,
            stream=stream,
            transport=transport,
        )

        # built before the CPU clock starts: loading the domain and replaying each task's ground
        # truth are once-per-run costs, not per call
        runner = _runner(tasks_file, work / "throughput", trials, in_flight, None, database)
        runner.on_result = lambda r: finished.append(time.perf_counter())
        cpu_samples: list[tuple[float, float, float]] = []  # (wall, own CPU, endpoint CPU)

        async def main() -> tuple[float, int, int]:
            client = LLMClient(config, role="agent", on_record=lambda r: stamps.append(time.perf_counter()))
            transport.append(client.transport)
            runner.agent_llm = client
            client.records = _Discard()  # keep memory flat: the records live in results.jsonl
            peak = [0]

            async def sample() -> None:
                while True:
                    peak[0] = max(peak[0], _rss_bytes())
                    cpu_samples.append((time.perf_counter(), time.process_time(), endpoint.cpu_s()))
                    await asyncio.sleep(0.05)

            before = _rss_bytes()
            sampler = asyncio.create_task(sample())
            started = time.perf_counter()
            try:
                await runner.run()
            finally:
                sampler.cancel()
                await client.aclose()
            return started, before, peak[0]

        transport: list[str] = []
        cpu_before, own_before = endpoint.cpu_s(), time.process_time()
        started, before, peak = aio.run(main())
        endpoint_cpu, own_cpu = endpoint.cpu_s() - cpu_before, time.process_time() - own_before
    return throughput_result(
        read_results(work / "throughput"),
        stamps=stamps,
        finished=finished,
        started=started,
        end=max(stamps) if stamps else time.perf_counter(),
        in_flight=in_flight,
        delay_s=delay_s,
        stream=stream,
        transport=f"{transport[0]} on {aio.loop_name()}",
        rss=(before, peak),
        cpu=(own_cpu, endpoint_cpu),
        cpu_samples=cpu_samples,
    )


def throughput_result(
    results: list[dict[str, Any]],
    *,
    stamps: list[float],
    finished: list[float],
    started: float,
    end: float,
    in_flight: int,
    delay_s: float,
    stream: bool,
    transport: str,
    rss: tuple[int, int],
    cpu: tuple[float, float],
    cpu_samples: list[tuple[float, float, float]] | None = None,
) -> ThroughputResult:
    """The figures of a throughput run (both backends): ``stamps`` are the ends of the model calls,
    ``finished`` the times results were recorded (one clock for both). The rate is taken over the
    steady window: from 1 s after the start (a third of the run at most) until the queue of pending
    simulations ran dry (the last simulation was taken); ``cpu`` is ``(harness, endpoint)`` CPU
    seconds of the whole run, ``cpu_samples`` (wall, harness CPU, endpoint CPU) give the window's."""
    stamps = sorted(stamps)
    finished = sorted(finished)
    n_sims = len(finished)
    dry = finished[n_sims - in_flight] if n_sims > in_flight else end
    lo = started + min(1.0, (dry - started) / 3)
    window = [t for t in stamps if lo <= t <= dry]
    steady_client, steady_endpoint = _window_cpu(cpu_samples or [], lo, dry)
    return ThroughputResult(
        in_flight=in_flight,
        delay_s=delay_s,
        simulations=len(results),
        calls=len(stamps),
        window_calls=len(window),
        window_s=dry - lo,
        total_s=end - started,
        errors=sum(r["termination_reason"] == "infrastructure_error" for r in results),
        rss_before=rss[0],
        rss_peak=rss[1],
        rewards=sum(r["reward"] for r in results) / max(1, len(results)),
        stream=stream,
        transport=transport,
        endpoint_cpu_s=cpu[1],
        client_cpu_s=cpu[0],
        steady_client_cpu_s=steady_client,
        steady_endpoint_cpu_s=steady_endpoint,
    )


def _window_cpu(samples: list[tuple[float, float, float]], lo: float, hi: float) -> tuple[float, float]:
    """CPU seconds (this process, the endpoint) spent between wall times ``lo`` and ``hi``,
    interpolated between the samples the run took every 50 ms."""
    if len(samples) < 2 or hi <= lo:
        return 0.0, 0.0

    def at(t: float) -> tuple[float, float]:
        for (t0, a0, b0), (t1, a1, b1) in itertools.pairwise(samples):
            if t <= t1 or (t1, a1, b1) == samples[-1]:
                f = min(1.0, max(0.0, (t - t0) / (t1 - t0))) if t1 > t0 else 1.0
                return a0 + f * (a1 - a0), b0 + f * (b1 - b0)
        return samples[-1][1], samples[-1][2]  # pragma: no cover - the loop always returns

    (a_lo, b_lo), (a_hi, b_hi) = at(lo), at(hi)
    return a_hi - a_lo, b_hi - b_lo


class _Discard(list):
    """A ``records`` list that keeps nothing (the benchmark reads call records from the results)."""

    def append(self, item: Any) -> None:
        pass


@dataclass
class SimBench:
    overhead: OverheadResult
    throughput: ThroughputResult | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        o = self.overhead
        out: dict[str, Any] = {
            "overhead": {
                "simulations": o.simulations,
                "agent_steps": o.agent_steps,
                "wall_s": o.wall_s,
                "model_s": o.model_s,
                "ms_per_step": o.ms_per_step,
                "target_ms_per_step": 0.5,
                "avg_reward": o.rewards,
            }
        }
        t = self.throughput
        if t is not None:
            out["throughput"] = {
                "in_flight": t.in_flight,
                "delay_s": t.delay_s,
                "stream": t.stream,
                "simulations": t.simulations,
                "model_calls": t.calls,
                "total_s": t.total_s,
                "window_calls": t.window_calls,
                "window_s": t.window_s,
                "calls_per_s": t.calls_per_s,
                "ideal_calls_per_s": t.ideal_calls_per_s,
                "percent_of_ideal": 100 * t.calls_per_s / t.ideal_calls_per_s,
                "target_percent": 90,
                "infrastructure_errors": t.errors,
                "transport": t.transport,
                "client_cpu_ms_per_call": t.client_ms_per_call,
                "endpoint_cpu_ms_per_call": t.endpoint_ms_per_call,
                "steady_client_cpu_ms_per_call": t.steady_client_ms_per_call,
                "steady_endpoint_cpu_ms_per_call": t.steady_endpoint_ms_per_call,
                "avg_reward": t.rewards,
                "rss_before_mib": t.rss_before / 2**20,
                "rss_peak_mib": t.rss_peak / 2**20,
                "kib_per_simulation": t.kib_per_simulation,
            }
        return out | self.extra

    def line(self) -> str:
        text = f"sim: overhead {self.overhead.ms_per_step:.3f} ms/step (target 0.5)"
        t = self.throughput
        if t is not None:
            text += (
                f"; throughput {t.calls_per_s:.0f} calls/s = {100 * t.calls_per_s / t.ideal_calls_per_s:.1f}% "
                f"of ideal {t.ideal_calls_per_s:.0f} with {t.in_flight} in flight; "
                f"memory {t.kib_per_simulation:.0f} KiB per simulation; CPU per call: harness "
                f"{t.client_ms_per_call:.2f} ms, endpoint {t.endpoint_ms_per_call:.2f} ms ({t.transport}); "
                f"in the steady window: harness {t.steady_client_ms_per_call:.2f} ms, "
                f"endpoint {t.steady_endpoint_ms_per_call:.2f} ms"
            )
        return text


def run_sim_bench(
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
    work_dir: Path | None = None,
    transport: str = "aiohttp",
) -> SimBench:
    from casework.tasks import save_tasks

    database.canonical_hash()  # build the base index outside the timing
    with tempfile.TemporaryDirectory(prefix="casework-bench-sim-", dir=work_dir) as tmp:
        work = Path(tmp)
        tasks_file = work / "tasks.json"
        save_tasks(tasks, tasks_file)
        overhead = measure_overhead(database, tasks, tasks_file, work, simulations=simulations)
        result = None
        if throughput:
            result = measure_throughput(
                database,
                tasks,
                tasks_file,
                work,
                in_flight=in_flight,
                delay_s=delay_s,
                rounds=rounds,
                stream=stream,
                transport=transport,
            )
    return SimBench(overhead, result)


if __name__ == "__main__":  # pragma: no cover - the endpoint process of measure_throughput
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        with contextlib.suppress(KeyboardInterrupt):
            aio.run(_serve(Path(sys.argv[2]), float(sys.argv[3]), 0))
    else:
        sys.exit("usage: python -m casework.bench.sim --serve TASKS_FILE DELAY_S")
