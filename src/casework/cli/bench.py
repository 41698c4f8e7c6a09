"""``casework bench``: benchmarks of the harness itself."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from casework.cli._app import (
    AddressOpt,
    BackendOpt,
    DataOpt,
    DomainOpt,
    ProfileOpt,
    WorkersOpt,
    _fail,
    _load,
    bench_app,
    console,
    err_console,
)
from casework.domains.registry import DEFAULT_DOMAIN


@bench_app.command("generate")
def bench_generate(
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 2000,
    seed: int = 0,
    data: DataOpt = None,
    domain: DomainOpt = DEFAULT_DOMAIN,
    profile: ProfileOpt = None,
) -> None:
    """Templated generation throughput: generate and validate (stages 1-4 + de-duplication) on one core.

    Example: casework bench generate -n 5000
    """
    from casework.generate.pipeline import PipelineConfig, TemplatedGenerator, run_pipeline

    dom, database, _ = _load(domain, data, profile=profile)
    database.canonical_hash()  # build the base index outside the timing
    generator = TemplatedGenerator(dom, database, seed=seed)
    start = time.perf_counter()
    result = run_pipeline(dom, database, generator, PipelineConfig(num_tasks=num_tasks, store_diff=True))
    elapsed = time.perf_counter() - start
    valid = sum(bool(t.validation_report and t.validation_report.valid) for t in result.tasks)
    print(
        f"templated: {valid} validated tasks in {elapsed:.2f} s = {valid / elapsed:.0f} validated tasks/s "
        f"(entropy {result.stats['action_entropy_bits']:.3f} bits, {len(result.rejected)} rejected)"
    )


@bench_app.command("replay")
def bench_replay(
    tasks: Annotated[
        Path | None, typer.Option("--tasks", help="Task file (default: 200 sampled tasks).")
    ] = None,
    data: DataOpt = None,
    domain: DomainOpt = DEFAULT_DOMAIN,
    profile: ProfileOpt = None,
    repeats: Annotated[int, typer.Option(help="Time each task this many times; keep the best.")] = 3,
    naive_tasks: Annotated[
        int, typer.Option(help="Tasks to time with the naive reload-and-rehash reference.")
    ] = 30,
    forks: Annotated[int, typer.Option(help="Live forks for the memory measurement.")] = 1000,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the numbers as JSON.")] = None,
) -> None:
    """Time grading one task: fork, replay the ground truth, canonical hash of the result.

    Example: casework bench replay --tasks tasks_train.json --data ../shared/data/tau-bench-v1/retail
    """
    from casework.bench.replay import run_replay_bench
    from casework.generate.templated import generate_templated

    dom, database, loaded = _load(domain, data, tasks, profile=profile)
    if loaded is None:
        loaded = generate_templated(dom, database, 200, seed=0)
    result = run_replay_bench(
        dom, database, loaded, data_dir=data, naive_tasks=naive_tasks, repeats=repeats, forks=forks
    )
    numbers = result.to_dict()
    if result.naive is not None:
        console.print(
            f"naive reference (reload JSON + full hash): median {result.naive.median:.2f} ms/task over "
            f"{len(result.naive.per_task_ms)} tasks; speedup {numbers['speedup_median']:.0f}x; "
            f"hashes identical: {result.hashes_identical}"
        )
    console.print(f"peak memory of {result.forks} live forks: {numbers['live_forks_peak_mib']:.2f} MiB")
    if json_out is not None:
        json_out.write_text(json.dumps(numbers, indent=2), encoding="utf-8")
    print(
        f"replay: median {result.fast.median:.3f} ms/task, p95 {result.fast.p95:.3f} ms/task "
        f"over {len(result.fast.per_task_ms)} tasks"
    )


@bench_app.command("sim")
def bench_sim(
    simulations: Annotated[
        int, typer.Option(min=1, help="Simulations for the overhead measurement (instant in-process model).")
    ] = 2000,
    in_flight: Annotated[
        int, typer.Option(min=1, help="Simulations in flight for the throughput run.")
    ] = 256,
    delay: Annotated[float, typer.Option(min=0.0, help="Seconds the local endpoint waits per call.")] = 0.2,
    rounds: Annotated[int, typer.Option(min=1, help="Throughput run: rounds x in-flight simulations.")] = 6,
    stream: Annotated[bool, typer.Option(help="Stream the endpoint's answers (SSE).")] = False,
    throughput: Annotated[bool, typer.Option(help="Run the HTTP throughput measurement.")] = True,
    transport: Annotated[
        str, typer.Option(help="Client transport: aiohttp (the lean default) | sdk (the openai SDK).")
    ] = "aiohttp",
    num_tasks: Annotated[
        int, typer.Option("--num-tasks", "-n", min=1, help="Templated tasks to cycle.")
    ] = 50,
    seed: int = 0,
    data: DataOpt = None,
    domain: DomainOpt = DEFAULT_DOMAIN,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the numbers as JSON.")] = None,
    backend: BackendOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Harness overhead per agent step (instant model) and throughput against a delayed local endpoint.

    Prints calls/s against the ideal (in flight / delay) and the CPU per model call of the harness
    and of the endpoint, over the whole run and over its steady window (saturated: what limits
    calls/s). Measured with the defaults on a shared, loaded 2-core machine, harness CPU per call
    before/after the issue-14 speed-ups: whole run 0.98-1.03 ms -> 0.69-0.70 ms, steady window
    0.72-0.77 ms -> 0.57 ms; the endpoint 0.16-0.19 ms.

    Example: casework bench sim --simulations 2000 --in-flight 256 --delay 0.2

    Example: casework bench sim --no-throughput  # or --transport sdk to measure the openai SDK's client

    Example: casework bench sim --backend ray --workers 2 --simulations 500 --in-flight 64
    """
    from casework.bench.sim import run_sim_bench
    from casework.generate.templated import generate_templated
    from casework.runs.backends import check_backend

    try:
        check_backend(backend, address, workers)
        if transport not in ("aiohttp", "sdk"):
            raise ValueError(f"--transport {transport!r}: expected aiohttp or sdk")
    except ValueError as exc:
        raise _fail(str(exc)) from None
    dom, database, _ = _load(domain, data)
    # state-only refusals: the bench measures the harness and the agent's endpoint, not a judge
    tasks = generate_templated(dom, database, num_tasks, seed=seed, refusals="state-only")
    if backend == "ray":
        from casework.bench.sim_ray import run_sim_bench_ray as run_sim_bench  # noqa: F811

    options = {"address": address, "workers": workers} if backend == "ray" else {"transport": transport}
    result = run_sim_bench(
        dom,
        database,
        tasks,
        simulations=simulations,
        in_flight=in_flight,
        delay_s=delay,
        rounds=rounds,
        stream=stream,
        throughput=throughput,
        **options,
    )
    numbers = result.to_dict()
    console.print_json(json.dumps(numbers))
    if json_out is not None:
        json_out.write_text(json.dumps(numbers, indent=2), encoding="utf-8")
    print(result.line())


@bench_app.command("local")
def bench_local(
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads (default: the idle cores, 1 or 2).")
    ] = None,
    ctx: Annotated[int, typer.Option(min=1024, help="Context size per slot, in tokens.")] = 8192,
    max_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated per call (decode speed).")] = 32,
    policy: Annotated[Path | None, typer.Option(help="Replace the domain's policy with this file.")] = None,
    domain: DomainOpt = DEFAULT_DOMAIN,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the numbers as JSON.")] = None,
) -> None:
    """The embedded model's speed: prefill and decode tokens/s, the first call's latency cold and with
    the prompt cache restored (what every run after the first gets), and a cached call's latency.
    Starts the server twice; the cold call reads the whole policy + tools prompt (minutes on 2 cores).

    Example: casework bench local --threads 2 --json bench-local.json
    """
    from casework.bench.local import agent_prefix, run_local_bench
    from casework.domains import get_domain
    from casework.llm.local import LocalModelError
    from casework.llm.prompt_cache import PromptCacheError

    try:
        dom = get_domain(domain)
        text = policy.read_text(encoding="utf-8") if policy else dom.policy
        messages, tools = agent_prefix(text, dom.toolbox.openai_schemas())
        result = run_local_bench(
            messages, tools, threads=threads, ctx=ctx, max_tokens=max_tokens, say=err_console.print
        )
    except (LocalModelError, PromptCacheError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    table = Table("measure", "before (cold)", "after (restored cache)", title="embedded model: first call")
    table.add_row(
        "first-call latency", f"{result.cold.latency_s:.2f} s", f"{result.restored.latency_s:.2f} s"
    )
    table.add_row(
        "prompt tokens read",
        str(result.cold.prompt_tokens - result.cold.cached_tokens),
        str(result.restored.prompt_tokens - result.restored.cached_tokens),
    )
    console.print(table)
    console.print(
        f"cached call {result.cached.latency_s:.2f} s; restore {result.restore_s * 1000:.0f} ms; "
        f"server start {result.server_start_s:.1f} s"
    )
    if json_out is not None:
        json_out.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    print(result.line())
