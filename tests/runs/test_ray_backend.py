"""The Ray backend against a real local Ray instance (``ray.init(num_cpus=2)``, one per module).

Needs ``casework[ray]``; skipped with a reason when Ray is not installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray backend needs casework[ray]")

from casework.runs.ray_backend import RayRunner  # noqa: E402
from casework.runs.runner import RunConfig, Runner  # noqa: E402
from casework.runs.store import read_results  # noqa: E402

SECRET_ENV = "CASEWORK_RAY_TEST_KEY"
SECRET = "sk-ray-test-0123456789abcdef-never-in-a-payload"
TIMINGS = {
    "execution_time",
    "model_response_time",
    "user_response_time",
    "tool_execution_time",
    "message_times",
}


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module (its start-up takes seconds on 2 cores). The secret is in
    the environment the workers inherit, so a worker can read it by name."""
    os.environ[SECRET_ENV] = SECRET
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    os.environ.pop(SECRET_ENV, None)


@pytest.fixture(scope="module")
def tasks_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from casework.domains import get_domain
    from casework.generate.templated import generate_templated
    from casework.tasks import save_tasks

    domain = get_domain("retail")
    path = tmp_path_factory.mktemp("ray-tasks") / "tasks.json"
    save_tasks(generate_templated(domain, domain.database(), 40, seed=3), path)
    return path


@pytest.fixture(scope="module")
def local_results(tasks_file: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("local") / "run"
    config = RunConfig(tasks=tasks_file, out=out, agent="oracle", trials=2, concurrency=4, persona="all")
    asyncio.run(Runner(config).run())
    return read_results(out)


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS and k != "duration_s"}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def comparable(results: list[dict]) -> dict[tuple[str, int], dict]:
    """Each result by its pair, every field kept but the timings (top-level and per tool call)."""
    return {(r["task_id"], r["trial"]): without_timings(r) for r in results}


def test_oracle_run_gives_the_same_results_on_ray_as_locally(
    ray_instance, tasks_file: Path, local_results: list[dict], tmp_path: Path
):
    out = tmp_path / "run"
    config = RunConfig(tasks=tasks_file, out=out, agent="oracle", trials=2, concurrency=4, persona="all")
    summary = asyncio.run(RayRunner(config, workers=2).run())
    results = read_results(out)
    assert len(results) == 80
    pairs = [(r["task_id"], r["trial"]) for r in results]
    assert len(set(pairs)) == 80
    local, remote = comparable(local_results), comparable(results)
    assert set(local) == set(remote)
    for pair, line in local.items():
        assert remote[pair] == line, pair  # every field but the timings
    assert sum(r["reward"] for r in results) == sum(r["reward"] for r in local_results) > 0
    assert summary["total_simulations"] == 80 and summary["backend"]["workers"] == 2
    # resume of a finished Ray run has nothing left; the summary on disk reads the same file
    resumed = asyncio.run(RayRunner(config.model_copy(update={"resume": True}), workers=2).run())
    assert resumed["simulations_this_session"] == 0 and len(read_results(out)) == 80


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    ray_instance, tasks_file: Path, local_results: list[dict], tmp_path: Path
):
    out = tmp_path / "run"
    config = RunConfig(tasks=tasks_file, out=out, agent="oracle", trials=2, concurrency=4, persona="all")
    killed: list[int] = []

    def on_result(result: dict) -> None:
        if len(read_results(out)) >= 10 and not killed and runner.worker_pids:
            pid = next(iter(runner.worker_pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    runner = RayRunner(config, workers=2, on_result=on_result)
    asyncio.run(runner.run())
    assert killed, "no worker was killed"
    results = read_results(out)
    pairs = [(r["task_id"], r["trial"]) for r in results]
    assert len(pairs) == 80 and len(set(pairs)) == 80  # each (task, trial) exactly once
    assert runner.worker_losses == 1 and runner.requeued, (runner.worker_losses, runner.requeued)
    assert comparable(results) == comparable(local_results)


def test_api_keys_travel_as_names_and_limits_hold_cluster_wide(
    ray_instance, tasks_file: Path, tmp_path: Path
):
    """A tool-calling agent on Ray workers against an HTTP endpoint whose key is named by a variable:
    nothing the driver sends (actor arguments, call arguments) holds the key; at most
    ``max_concurrency`` calls are in flight across both workers."""
    from ray import cloudpickle  # what Ray serialises arguments with

    from casework.bench.sim import EndpointProcess
    from casework.llm import EndpointConfig, LLMClient

    out = tmp_path / "run"
    config = RunConfig(tasks=tasks_file, out=out, trials=1, concurrency=8, task_ids=None)
    with EndpointProcess(tasks_file, 0.01) as endpoint:
        endpoint_config = EndpointConfig(
            model="bench",
            base_url=endpoint.base_url,
            api_key_env=SECRET_ENV,
            max_concurrency=3,
            stream=False,
            max_retries=1,
        )
        runner = RayRunner(config, workers=2, agent_llm=LLMClient(endpoint_config, role="agent"))
        runner.sent = []
        summary = asyncio.run(runner.run())
    results = read_results(out)
    assert len(results) == 40 and summary["success_rate"] == 1.0  # the model path works on the workers
    assert {what for what, _ in runner.sent} == {"limiter", "worker", "pair"}
    for what, args in runner.sent:
        blob = cloudpickle.dumps(args)
        assert SECRET.encode() not in blob, what
        assert SECRET_ENV.encode() in blob or what != "worker"  # the worker gets the variable's name
    assert SECRET not in (out / "results.jsonl").read_text() + (out / "manifest.json").read_text()
    stats = runner.limiter_stats["agent"]
    calls = sum(len(r["model_calls"]) for r in results)
    assert stats["limit"] == 3 and 1 <= stats["peak"] <= 3 and stats["granted"] == calls > 0


def test_cli_run_on_ray_writes_the_same_run_directory(ray_instance, tasks_file: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from casework.cli import app

    cli = CliRunner()
    args = [
        "run",
        "--tasks",
        str(tasks_file),
        "--agent",
        "oracle",
        "--task-ids",
        "templated-3-0,templated-3-1",
    ]
    ray_args = ["--backend", "ray", "--workers", "2", "--tool-choice", "required-first"]
    ray_args += ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "ray")]
    result = cli.invoke(app, [*args, *ray_args])
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "ray" / "manifest.json").read_text())["config"]
    assert recorded["tool_choice"] == "required-first" and recorded["cache"] == str(tmp_path / "cache")
    assert sorted(r["task_id"] for r in read_results(tmp_path / "ray")) == ["templated-3-0", "templated-3-1"]
    assert (tmp_path / "ray" / "summary.json").exists()
    bad = cli.invoke(app, [*args, "--backend", "spark", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--backend 'spark': expected one of local, ray" in bad.output
    bad = cli.invoke(app, [*args, "--workers", "2", "--out", str(tmp_path / "y")])
    assert bad.exit_code == 2 and "--address and --workers need --backend ray" in bad.output


def test_bench_sim_reports_the_same_figures_through_ray(ray_instance):
    from casework.bench.sim_ray import run_sim_bench_ray
    from casework.domains import get_domain
    from casework.generate.templated import generate_templated

    domain = get_domain("retail")
    database = domain.database()
    tasks = generate_templated(domain, database, 8, seed=0)
    bench = run_sim_bench_ray(
        domain, database, tasks, simulations=16, in_flight=4, delay_s=0.05, rounds=2, workers=2
    )
    numbers = bench.to_dict()
    assert numbers["backend"] == "ray"
    assert numbers["overhead"]["simulations"] == 16 and numbers["overhead"]["ms_per_step"] > 0
    t = numbers["throughput"]
    assert t["simulations"] == 8 and t["infrastructure_errors"] == 0 and t["model_calls"] > 8
    assert t["calls_per_s"] > 0 and t["client_cpu_ms_per_call"] > 0 and "ray" in t["transport"]


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("CASEWORK_RAY_SCALE") != "1",
    reason="the 500-task Ray check: set CASEWORK_RAY_SCALE=1 (~30 s)",
)
def test_500_tasks_two_trials_on_ray_match_local_exactly_once_with_a_worker_killed(
    ray_instance, tmp_path: Path
):
    from casework.domains import get_domain
    from casework.generate.templated import generate_templated
    from casework.tasks import save_tasks

    domain = get_domain("retail")
    tasks = tmp_path / "t500.json"
    save_tasks(generate_templated(domain, domain.database(), 500, seed=0), tasks)
    base = RunConfig(tasks=tasks, out=tmp_path / "local", agent="oracle", trials=2, concurrency=8)
    asyncio.run(Runner(base).run())
    local = comparable(read_results(tmp_path / "local"))
    killed: list[int] = []

    def on_result(result: dict) -> None:
        if len(killed) == 0 and runner.worker_pids and len(read_results(tmp_path / "ray")) >= 200:
            killed.append(next(iter(runner.worker_pids.values())))
            os.kill(killed[0], signal.SIGKILL)

    runner = RayRunner(base.model_copy(update={"out": tmp_path / "ray"}), workers=2, on_result=on_result)
    asyncio.run(runner.run())
    results = read_results(tmp_path / "ray")
    assert killed and runner.worker_losses == 1 and runner.requeued
    assert len(results) == 1000 and len({(r["task_id"], r["trial"]) for r in results}) == 1000
    assert comparable(results) == local


# -- casework generate --backend ray ------------------------------------------------------------
def _generation(tmp: Path, name: str, *, ray_workers: int | None = None, on_start=None):
    """The mock domain's templated pipeline (40 slots: de-duplication rejects and regenerates some),
    run locally or with its slots on Ray; (result, out path, the RaySlots runner or None)."""
    import functools

    from casework.generate.methods import worker_pipeline
    from casework.generate.pipeline import write_outputs
    from casework.generate.ray_backend import RaySlots

    settings = {"domain": "mock", "data": None, "method": "templated", "scenarios": None, "seed": 1}
    settings |= {"pipeline": {"num_tasks": 40, "max_iterations": 2}, "multi_intent": 0.2}
    build = functools.partial(worker_pipeline, settings=settings)
    pipeline = build(None, [])
    slots = None
    if ray_workers:
        slots = RaySlots(build, workers=ray_workers)
        pipeline.slots_runner = slots
    if on_start is not None:
        on_start(slots)
    out = tmp / f"{name}.json"
    result = asyncio.run(pipeline.run(out))
    write_outputs(result, out)
    return result, out, slots


def test_generate_on_ray_writes_the_same_files_as_locally(ray_instance, tmp_path: Path):
    local, local_out, _ = _generation(tmp_path, "local")
    remote, remote_out, _ = _generation(tmp_path, "ray", ray_workers=2)
    assert local.stats["pipeline"]["failure_reasons"], "the check needs de-duplication rejects"
    for suffix in ("", ".stats.json", ".rejected.jsonl"):
        assert Path(f"{remote_out}{suffix}").read_bytes() == Path(f"{local_out}{suffix}").read_bytes(), suffix


def test_generate_on_ray_with_a_worker_killed_records_every_slot_once(ray_instance, tmp_path: Path):
    import threading
    import time

    local, local_out, _ = _generation(tmp_path, "local")
    killed: list[int] = []

    def kill_first_worker(slots) -> None:  # as soon as a worker is up (most slots still to do)
        deadline = time.monotonic() + 60
        while not slots.worker_pids and time.monotonic() < deadline:
            time.sleep(0.01)
        if slots.worker_pids:
            killed.append(next(iter(slots.worker_pids.values())))
            os.kill(killed[0], signal.SIGKILL)

    def on_start(slots) -> None:
        threading.Thread(target=kill_first_worker, args=(slots,), daemon=True).start()

    remote, remote_out, slots = _generation(tmp_path, "ray", ray_workers=2, on_start=on_start)
    assert killed and slots.worker_losses == 1 and slots.resent >= 1
    indices = [
        json.loads(line)["index"] for line in Path(f"{remote_out}.progress.jsonl").read_text().splitlines()
    ]
    assert sorted(indices) == list(range(40))  # each slot recorded exactly once
    assert remote_out.read_bytes() == local_out.read_bytes()


def test_cli_generate_on_ray_writes_the_same_task_file(ray_instance, tmp_path: Path):
    from typer.testing import CliRunner

    from casework.cli import app

    cli = CliRunner()
    args = ["generate", "-n", "6", "--seed", "4", "--domain", "mock"]
    local = cli.invoke(app, [*args, "--out", str(tmp_path / "local.json")])
    remote = cli.invoke(
        app, [*args, "--backend", "ray", "--workers", "2", "--out", str(tmp_path / "ray.json")]
    )
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    assert (tmp_path / "ray.json").read_bytes() == (tmp_path / "local.json").read_bytes()


CALL_TIMINGS = {"started_at", "latency_s", "decode_tokens_per_s", "ttft_s", "base_url"}


def _expert_responder(script):
    """An orchestrator endpoint: the first agent step of a simulation consults expert ``e``, then
    the oracle script plays (the expert's round trip is left out of what it reads)."""
    from llm.fake_server import chat_json

    def call(name: str, args: dict, cid: str) -> dict:
        return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}

    def responder(body: dict) -> dict:
        msgs = body["messages"]
        asked = any(m.get("name") == "call_expert" for m in msgs if m["role"] == "tool")
        if not asked and not any(m["role"] == "assistant" for m in msgs):
            return {"json": chat_json(None, [call("call_expert", {"expert": "e", "question": "q"}, "x1")])}
        real = [
            m
            for m in msgs
            if not (m["role"] == "tool" and m.get("name") == "call_expert")
            and not any(tc["function"]["name"] == "call_expert" for tc in m.get("tool_calls") or [])
        ]
        text, calls = script.reply(real)
        tcs = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]
        return {"json": chat_json(text, tcs or None, "tool_calls" if calls else "stop")}

    return responder


def _comparable_calls(results: list[dict], *, cache_hit: bool = True) -> dict:
    out = {}
    for pair, line in comparable(results).items():
        calls = [
            {k: v for k, v in c.items() if k not in CALL_TIMINGS and (cache_hit or k != "cache_hit")}
            for c in line.pop("model_calls")
        ]
        out[pair] = {**line, "model_calls": calls}
    return out


def test_experts_tool_choice_and_cache_on_ray_match_the_local_backend(
    ray_instance, tasks_file: Path, tmp_path: Path
):
    """``--experts``, ``--tool-choice`` and ``--cache`` on Ray workers: every result equals the
    local backend's; a second run over the same cache directory (two workers sharing it) asks no
    model and still gives the same results; the experts are recorded in the manifest, by name,
    model and base URL, with the key's variable name only; no payload holds the key."""
    from ray import cloudpickle

    from casework.bench.sim import OracleScript
    from casework.llm import EndpointConfig, LLMClient
    from casework.llm.cache import ResponseCache
    from casework.runs.endpoints import expert_clients, experts_record
    from casework.tasks import load_tasks
    from llm.fake_server import FakeServer, chat_json

    ids = [f"templated-3-{i}" for i in range(6)]
    script = OracleScript(load_tasks(tasks_file))
    with (
        FakeServer(responder=_expert_responder(script)) as orch,
        FakeServer([{"json": chat_json("advice")}]) as expert,
    ):
        agent = EndpointConfig(model="orch", base_url=orch.base_url, stream=False, max_retries=0)
        expert_url = expert.base_url
        experts = {
            "e": EndpointConfig(model="exp", base_url=expert.base_url, stream=False, api_key_env=SECRET_ENV)
        }
        base = RunConfig(
            tasks=tasks_file,
            out=tmp_path / "local",
            task_ids=ids,
            concurrency=4,
            experts=experts_record(experts),
            tool_choice="required-first",
        )

        async def local() -> None:  # as `casework run` opens the clients: one cache for every client
            cache = ResponseCache(tmp_path / "cache-local")
            llm = LLMClient(agent, role="agent", cache=cache)
            runner = Runner(base.model_copy(update={"cache": tmp_path / "cache-local"}), agent_llm=llm)
            clients = expert_clients(experts, concurrency=4, cache=cache)
            runner.agent_options["experts"] = clients
            try:
                await runner.run()
            finally:
                for client in [llm, *clients.values()]:
                    await client.aclose()

        asyncio.run(local())
        # every simulation consults the expert with the same question: later ones may be cache hits
        requests = len(orch.requests), len(expert.requests)
        assert 1 <= requests[1] <= 6 and requests[0] > 12

        def on_ray(name: str) -> RayRunner:
            config = base.model_copy(update={"out": tmp_path / name, "cache": tmp_path / "cache-ray"})
            runner = RayRunner(config, workers=2, agent_llm=LLMClient(agent, role="agent"))
            runner.sent = []
            asyncio.run(runner.run())
            return runner

        first = on_ray("ray")
        seen = len(orch.requests), len(expert.requests)
        assert seen[0] == 2 * requests[0] and requests[1] + 1 <= seen[1] <= requests[1] + 6
        on_ray("ray-again")  # every answer from the shared cache directory: no request at all
        assert (len(orch.requests), len(expert.requests)) == seen
        # the tool_choice policy reached the orchestrator: required on the first call, then auto
        choices = [r["body"].get("tool_choice") for r in orch.requests[requests[0] :]]
        assert choices.count("required") == 6 and set(choices) == {"required", "auto"}
    local_results = read_results(tmp_path / "local")
    ray_results, cached = read_results(tmp_path / "ray"), read_results(tmp_path / "ray-again")
    assert len(ray_results) == 6 and all(r["reward"] == 1.0 for r in ray_results)
    # every field equal but the timings (and which calls the cache answered: a race of the workers)
    assert _comparable_calls(ray_results, cache_hit=False) == _comparable_calls(
        local_results, cache_hit=False
    )
    assert _comparable_calls(cached, cache_hit=False) == _comparable_calls(local_results, cache_hit=False)
    agent_hits = {c["cache_hit"] for r in ray_results for c in r["model_calls"] if c["role"] == "agent"}
    assert agent_hits == {False}
    assert {c["cache_hit"] for r in cached for c in r["model_calls"]} == {True}
    roles = {c["role"] for r in ray_results for c in r["model_calls"]}
    assert roles == {"agent", "expert:e"}
    for run in ("local", "ray"):
        manifest = json.loads((tmp_path / run / "manifest.json").read_text())
        recorded = manifest["config"]["experts"]["e"]
        assert recorded["model"] == "exp" and recorded["base_url"] == expert_url
        assert recorded["api_key_env"] == SECRET_ENV and SECRET not in json.dumps(manifest)
        assert manifest["config"]["tool_choice"] == "required-first"
    for what, args in first.sent:
        assert SECRET.encode() not in cloudpickle.dumps(args), what
    assert "expert:e" in first.limiter_stats
