"""``casework generate``: validated task sets (templated, direct LLM, AgentFlow), and comparisons."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from casework import aio
from casework.cli._app import (
    AddressOpt,
    BackendOpt,
    DataOpt,
    DomainOpt,
    ProfileOpt,
    WorkersOpt,
    _fail,
    _load,
    app,
    console,
    err_console,
)
from casework.domains.registry import DEFAULT_DOMAIN
from casework.tasks.profiles import domain_spec

generate_app = typer.Typer(invoke_without_command=True)  # help: the generate callback's docstring


app.add_typer(generate_app, name="generate")


def _generate_result(
    domain: str,
    data: Path | None,
    method: str,
    num_tasks: int,
    seed: int,
    scenarios: str | None,
    multi_intent: float,
    min_actions: int | None,
    max_actions: int | None,
    max_iterations: int,
    recombine: int,
    out: Path | None,
    check_user_id: bool = True,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    models: Path | None = None,
    committee_size: int = 0,
    committee_rule: str = "core",
    agentflow_turns: int = 6,
    backend: tuple[str, str | None, int | None] = ("local", None, None),
    intents: int | None = None,
    refusals: str = "grounded",
):
    """Run the pipeline. direct/agentflow (and a committee) need a model: --model/--base-url,
    --models (agent section; reviewers from its reviewers section), else the embedded local model."""
    from contextlib import ExitStack

    from casework.generate.methods import check_method, make_generator, method_weights
    from casework.generate.pipeline import Pipeline, PipelineConfig
    from casework.runs.backends import check_backend
    from casework.tasks.refusal import check_mode
    from casework.validation.committee import required_criteria

    try:
        check_method(method)
        check_backend(*backend)
        check_mode(refusals)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    dom, database, _ = _load(domain, data)
    try:
        weights = method_weights(dom, method, scenarios)
        required_criteria(committee_rule)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    config = PipelineConfig(
        num_tasks=num_tasks,
        max_iterations=max_iterations,
        recombine=recombine,
        check_user_id=check_user_id,
        committee_rule=committee_rule,
    )
    needs_model = method != "templated" or committee_size > 0
    from rich.progress import Progress

    from casework.llm import ConfigError, LLMError

    with ExitStack() as stack:
        client = None
        reviewers: list = []
        if needs_model:
            client, reviewers = _generation_clients(
                stack, model, base_url, api_key_env, models, committee_size
            )
        options = {"seed": seed, "multi_intent": multi_intent, "min_actions": min_actions}
        options |= {"max_actions": max_actions, "agentflow_turns": agentflow_turns, "intents": intents}
        if method == "templated":
            options["refusals"] = refusals
        generator = make_generator(method, dom, database, client, weights=weights, **options)
        bar = stack.enter_context(Progress(console=err_console, transient=True))
        job = bar.add_task(f"generating ({method})", total=num_tasks)
        pipeline = Pipeline(
            dom, database, generator, config, reviewers=reviewers, progress=lambda k: bar.advance(job, k)
        )
        if backend[0] == "ray":  # the slots run on Ray workers, which rebuild all this by name
            pipeline.slots_runner = _ray_slots(
                backend, client, reviewers, options, domain, data, method, scenarios, config
            )
        try:
            return aio.run(pipeline.run(out), closing=[client, *reviewers])
        except (LLMError, ConfigError) as exc:
            kept = f"; finished slots are kept in {out}.progress.jsonl, rerun to continue" if out else ""
            raise _fail(f"model endpoint failed: {exc}{kept}") from None


def _ray_slots(backend, client, reviewers, options, domain, data, method, scenarios, config):
    """The Ray runner of the pipeline's slots (``--backend ray``; casework[ray])."""
    import dataclasses
    import functools

    from casework.generate.methods import worker_pipeline
    from casework.generate.ray_backend import RaySlots

    settings = {"domain": domain, "data": str(data) if data else None, "method": method}
    settings |= {"scenarios": scenarios, "pipeline": dataclasses.asdict(config), **options}
    build = functools.partial(worker_pipeline, settings=settings)
    runner = RaySlots(build, client=client, reviewers=reviewers, address=backend[1], workers=backend[2])
    runner.on_note = lambda text: err_console.print(text, markup=False, highlight=False)
    return runner


def _generation_clients(stack, model, base_url, api_key_env, models, committee_size):
    """(generator client, reviewer clients) for generate; starts the embedded model if needed."""
    from casework.llm import ConfigError, LLMClient, ModelsConfig, load_models_config
    from casework.runs.endpoints import choose_endpoints, open_clients

    try:
        choice = choose_endpoints(
            models_file=models,
            agent_overrides={"model": model, "base_url": base_url, "api_key_env": api_key_env},
            user_overrides={},
            needs_agent=True,
            needs_user=False,
        )
        configured = load_models_config(models) if models else ModelsConfig()
        reviewer_configs = configured.resolve("reviewers") if committee_size else []
    except (ConfigError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    client, _ = stack.enter_context(
        open_clients(choice, on_local_start=lambda url: err_console.print(f"embedded local model at {url}"))
    )
    if not committee_size:
        return client, []
    if reviewer_configs:
        pool = [LLMClient(c, role="reviewer") for c in reviewer_configs]
        return client, [pool[i % len(pool)] for i in range(committee_size)]
    return client, [client] * committee_size


@generate_app.callback()
def generate(
    ctx: typer.Context,
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 100,
    method: Annotated[str, typer.Option(help="templated | direct | agentflow | safety")] = "templated",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Task file (blueprint format, safety: casework; .jsonl: JSONL)."),
    ] = None,
    seed: int = 0,
    scenarios: Annotated[
        str | None, typer.Option(help="Scenario weights k=w,... (unnamed keys get 0).")
    ] = None,
    multi_intent: Annotated[float, typer.Option(help="Share of multi-intent tasks.", min=0, max=1)] = 0.2,
    intents: Annotated[
        int | None, typer.Option(min=2, help="Long-horizon tasks: this many requests in every task.")
    ] = None,
    refusals: Annotated[
        str,
        typer.Option(
            help="Requests the policy forbids: grounded (the reward needs the refusal with its rule, "
            "or the transfer) | state-only (the unchanged state alone, tau-bench v1)."
        ),
    ] = "grounded",
    min_actions: Annotated[int | None, typer.Option("--min-actions")] = None,
    max_actions: Annotated[int | None, typer.Option("--max-actions")] = None,
    max_iterations: Annotated[
        int, typer.Option("--max-iterations", min=1, help="Attempts per task slot.")
    ] = 3,
    recombine: Annotated[int, typer.Option(help="Extra multi-intent tasks merged from validated ones.")] = 0,
    no_user_id_validation: Annotated[bool, typer.Option("--no-user-id-validation")] = False,
    committee_size: Annotated[
        int, typer.Option("--committee-size", min=0, help="Model reviewers per task (0: no committee).")
    ] = 0,
    committee_rule: Annotated[
        str, typer.Option(help="Criteria that must pass: core | all | a,b,...")
    ] = "core",
    agentflow_turns: Annotated[
        int, typer.Option("--agentflow-turns", min=1, help="Planner turns per AgentFlow task.")
    ] = 6,
    model: Annotated[
        str | None, typer.Option(help="Generator model (default: the embedded local model).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Generator endpoint, OpenAI-compatible (…/v1).")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="NAME of the environment variable holding the API key.")
    ] = None,
    models: Annotated[
        Path | None,
        typer.Option("--models", help="Models file: agent section = generator, reviewers = committee."),
    ] = None,
    domain: DomainOpt = DEFAULT_DOMAIN,
    data: DataOpt = None,
    profile: ProfileOpt = None,
    backend: BackendOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Generate a validated task set (templated; direct and AgentFlow use a model) with statistics.

    Writes OUT, OUT.stats.json and OUT.rejected.jsonl (every rejected candidate with its reasons);
    resumable from OUT.progress.jsonl. Exit code 1 when fewer tasks than asked were produced.
    --method direct and agentflow use a model (--model/--base-url or --models; with none, the
    embedded local model is started); reviewers of --committee-size come from the models file's
    reviewers section or share the generator's endpoint (each member with its own lens,
    temperature and seed).

    Example: casework generate -n 200 --seed 1 --out tasks.json

    Example: casework generate -n 200 --refusals state-only --out tau-style.json

    Example: casework generate -n 500 --backend ray --workers 4 --out tasks.json
    """
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise _fail("--out is required")
    from casework.generate.pipeline import shortfall, write_outputs
    from casework.generate.stats import format_stats

    start = time.perf_counter()
    result = _generate_result(
        domain_spec(domain, profile),
        data,
        method,
        num_tasks,
        seed,
        scenarios,
        multi_intent,
        min_actions,
        max_actions,
        max_iterations,
        recombine,
        out,
        not no_user_id_validation,
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        models=models,
        committee_size=committee_size,
        committee_rule=committee_rule,
        agentflow_turns=agentflow_turns,
        backend=(backend, address, workers),
        intents=intents,
        refusals=refusals,
    )
    # safety probes carry τ³ fields (nl_assertions, reward_basis) that the blueprint format has not
    stats_path = write_outputs(result, out, fmt="casework" if method == "safety" else "blueprint")
    console.print(format_stats(result.stats), highlight=False)
    console.print(
        f"wrote {len(result.tasks)} tasks to {out} and statistics to {stats_path} "
        f"in {time.perf_counter() - start:.2f} s ({len(result.rejected)} slots rejected)"
    )
    missing = shortfall(result, num_tasks, out)
    if missing:
        err_console.print(f"[red]{missing}[/]", highlight=False)
        raise typer.Exit(1)


@generate_app.command("compare")
def generate_compare(
    methods: Annotated[
        str | None,
        typer.Option(help="Methods to compare, comma-separated (default: every method available)."),
    ] = None,
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 200,
    seed: int = 0,
    seeds: Annotated[str | None, typer.Option(help="Or compare seeds of one method: '0,1'.")] = None,
    model: Annotated[str | None, typer.Option(help="Model for direct/agentflow.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Endpoint for direct/agentflow (…/v1).")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="NAME of the API key's variable.")] = None,
    models: Annotated[Path | None, typer.Option("--models", help="Models file (agent section).")] = None,
    domain: DomainOpt = DEFAULT_DOMAIN,
    data: DataOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Run generation methods (or seeds) on the same settings and print their statistics side by side.

    By default every method the domain supports: templated, and direct and agentflow when a model
    is given (--model/--base-url/--models); a single method is compared across two seeds.

    Example: casework generate compare -n 200 --models models.toml
    """
    from casework.domains import DomainError, get_domain
    from casework.generate.methods import compare_plan
    from casework.generate.stats import format_comparison

    domain = domain_spec(domain, profile)
    try:
        runs, note = compare_plan(
            get_domain(domain), methods, seeds, seed, model_available=bool(model or base_url or models)
        )
    except (ValueError, DomainError) as exc:
        raise _fail(str(exc)) from None
    if note:
        err_console.print(note)
    reports = {}
    for method, run_seed in runs:
        result = _generate_result(
            domain,
            data,
            method,
            num_tasks,
            run_seed,
            None,
            0.2,
            None,
            None,
            3,
            0,
            None,
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            models=models,
        )
        reports[f"{method} (seed {run_seed})"] = result.stats
    print(format_comparison(reports))
