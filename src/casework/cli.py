"""The ``casework`` command line. Thin: it parses arguments and calls the packages."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from casework import __version__, aio

app = typer.Typer(
    help="Generate, validate and test multi-turn customer-service tasks for tool-calling LLM agents.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
data_app = typer.Typer(help="Databases: generate synthetic data.", no_args_is_help=True)
tasks_app = typer.Typer(help="Task files: replay, validate, convert, sample.", no_args_is_help=True)
domain_app = typer.Typer(help="Inspect a domain: its tools and policy.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks of the harness itself.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(tasks_app, name="tasks")
app.add_typer(domain_app, name="domain")
app.add_typer(bench_app, name="bench")

console = Console()
err_console = Console(stderr=True)

DomainOpt = Annotated[str, typer.Option("--domain", help="Domain name.")]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Database: a tau-bench layout directory or a db.json file (default: embedded)."
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _load(domain_name: str, data: Path | None, tasks_path: Path | None = None):
    """Domain, database and (optionally) tasks, turning input errors into clear CLI errors."""
    from casework.domains import DataError, get_domain
    from casework.tasks import TaskFormatError, load_tasks

    try:
        domain = get_domain(domain_name)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        database = domain.database(data)
    except (DataError, OSError) as exc:
        raise _fail(str(exc)) from None
    tasks = None
    if tasks_path is not None:
        try:
            tasks = load_tasks(tasks_path, domain=domain_name)
        except (TaskFormatError, OSError) as exc:
            raise _fail(str(exc)) from None
    return domain, database, tasks


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"casework {__version__}")
        raise typer.Exit()


# -- data ------------------------------------------------------------------------------------------
@data_app.command("generate")
def data_generate(
    out: Annotated[Path, typer.Option("--out", help="Directory for users.json, orders.json, products.json.")],
    domain: DomainOpt = "retail",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical bytes.")] = 0,
    users: Annotated[int, typer.Option(min=1)] = 500,
    orders: Annotated[int, typer.Option(min=0)] = 1000,
    products: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Write a synthetic, internally consistent database in tau-bench layout.

    Example: casework data generate --seed 7 --users 2000 --orders 4000 --out data/retail-7
    """
    if domain != "retail":
        raise _fail(f"data generation is available for the retail domain only, not {domain!r}")
    from casework.domains.retail.generator import generate_retail, write_tau_layout

    start = time.perf_counter()
    tables = generate_retail(seed=seed, users=users, orders=orders, products=products)
    write_tau_layout(tables, out)
    elapsed = time.perf_counter() - start
    counts = ", ".join(f"{len(tables[t])} {t}" for t in ("users", "orders", "products"))
    console.print(f"wrote {counts} to {out} in {elapsed:.2f} s")


# -- domain ----------------------------------------------------------------------------------------
@domain_app.command("tools")
def domain_tools(
    domain: DomainOpt = "retail",
    as_json: Annotated[bool, typer.Option("--json", help="Print the OpenAI function schemas.")] = False,
) -> None:
    """List a domain's tools with their kind and arguments.

    Example: casework domain tools --json > tools.json
    """
    from casework.domains import get_domain

    toolbox = get_domain(domain).toolbox
    if as_json:
        print(json.dumps(toolbox.openai_schemas(), indent=2))
        return
    table = Table("tool", "kind", "arguments", title=f"{domain} tools")
    for t in toolbox.tools.values():
        required = set(t.parameters.get("required", []))
        args = ", ".join(a + ("" if a in required else "?") for a in t.parameters.get("properties", {}))
        table.add_row(t.name, t.kind.value, args)
    console.print(table)


@domain_app.command("policy")
def domain_policy(domain: DomainOpt = "retail") -> None:
    """Print a domain's agent policy (replace it at run time with --policy FILE)."""
    from casework.domains import get_domain

    print(get_domain(domain).policy)


# -- tasks -----------------------------------------------------------------------------------------
@tasks_app.command("replay")
def tasks_replay(
    tasks: Annotated[
        Path, typer.Argument(help="Task file (casework JSON/JSONL, blueprint, tau-bench v1, tau2).")
    ],
    out: Annotated[Path, typer.Option("--out", help="JSONL file: one line per task.")],
    domain: DomainOpt = "retail",
    data: DataOpt = None,
    dump_states: Annotated[
        Path | None, typer.Option("--dump-states", help="Also write DIR/<n>.json with each final database.")
    ] = None,
) -> None:
    """Replay each task's ground-truth actions on a fresh fork; write observations, errors, hash and diff.

    Example: casework tasks replay tasks.json --data ../data/retail --out replay.jsonl --dump-states states/
    """
    from casework.tasks.replay import replay_task

    dom, database, loaded = _load(domain, data, tasks)
    assert loaded is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    if dump_states is not None:
        dump_states.mkdir(parents=True, exist_ok=True)
    with_errors = 0
    with out.open("w", encoding="utf-8") as handle:
        for position, task in enumerate(loaded):
            result = replay_task(dom, database, task)
            with_errors += bool(result.errors)
            handle.write(json.dumps(result.to_dict()) + "\n")
            if dump_states is not None:
                (dump_states / f"{position}.json").write_text(
                    json.dumps(result.state.to_dict()), encoding="utf-8"
                )
    console.print(f"replayed {len(loaded)} tasks ({with_errors} with errors) -> {out}")


@tasks_app.command("validate")
def tasks_validate(
    tasks: Annotated[Path, typer.Argument(help="Task file to check.")],
    domain: DomainOpt = "retail",
    data: DataOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the problems as JSONL.")] = None,
    no_user_id_validation: Annotated[bool, typer.Option("--no-user-id-validation")] = False,
) -> None:
    """Check tasks: unknown tools, schema violations, ids that do not exist or are not the user's,
    actions that error when replayed, write tasks that change nothing, policy violations. Exit code 1
    if any task is invalid.

    Example: casework tasks validate tasks.json --data ../data/retail
    """
    from casework.generate.stages import validate_all

    dom, database, loaded = _load(domain, data, tasks)
    assert loaded is not None
    results = validate_all(dom, database, loaded, check_user_id=not no_user_id_validation)
    problems = [p for r in results for p in r.problems]
    for problem in problems:
        print(problem.line())
    if out is not None:
        out.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems), encoding="utf-8")
    invalid = sum(not r.valid for r in results)
    colour = "green" if not invalid else "red"
    err_console.print(
        f"[{colour}]{len(results) - invalid}/{len(results)} tasks valid[/], {len(problems)} problems"
    )
    if invalid:
        raise typer.Exit(1)


@tasks_app.command("convert")
def tasks_convert(
    source: Annotated[Path, typer.Argument(help="Task file in any supported format.")],
    target: Annotated[Path, typer.Argument(help="Output file.")],
    to: Annotated[
        str, typer.Option("--to", help="casework (json/jsonl by extension) | blueprint | tau2")
    ] = "casework",
    domain: DomainOpt = "retail",
) -> None:
    """Convert a task file between formats.

    Example: casework tasks convert tasks_dev.json dev.tau2.json --to tau2
    """
    from casework.tasks import TaskFormatError, export_tau2, load_tasks, save_blueprints, save_tasks

    writers = {"casework": save_tasks, "blueprint": save_blueprints, "tau2": export_tau2}
    if to not in writers:
        raise _fail(f"--to must be one of {', '.join(writers)}, got {to!r}")
    try:
        loaded = load_tasks(source, domain=domain)
    except (TaskFormatError, OSError) as exc:
        raise _fail(str(exc)) from None
    writers[to](loaded, target)
    console.print(f"wrote {len(loaded)} tasks to {target} ({to})")


@tasks_app.command("sample")
def tasks_sample(
    out: Annotated[Path, typer.Option("--out", help="Task file to write (.json or .jsonl).")],
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 8,
    seed: int = 0,
    domain: DomainOpt = "retail",
    data: DataOpt = None,
) -> None:
    """Write a small set of templated tasks sampled from the database (no LLM).

    Example: casework tasks sample -n 20 --seed 3 --out tasks.json
    """
    from casework.generate.templated import generate_templated
    from casework.tasks import save_tasks

    dom, database, _ = _load(domain, data)
    sampled = generate_templated(dom, database, num_tasks, seed=seed)
    save_tasks(sampled, out)
    console.print(f"wrote {len(sampled)} tasks to {out}")


# -- run -----------------------------------------------------------------------------------------
def _split_ids(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command("run")
def run_command(
    tasks: Annotated[
        Path, typer.Option("--tasks", help="Task file (casework JSON/JSONL, blueprint, tau-bench v1, tau2).")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Run directory (results.jsonl, manifest.json, summary.*).")
    ],
    model: Annotated[
        str | None, typer.Option(help="Agent model name (default: the embedded local model).")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="Agent endpoint, OpenAI-compatible (…/v1).")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="NAME of the environment variable holding the API key.")
    ] = None,
    models: Annotated[
        Path | None,
        typer.Option(
            "--models", help="Models file (TOML/YAML/JSON) with agent/user/reviewers/judge sections."
        ),
    ] = None,
    user: Annotated[str, typer.Option(help="User simulator: scripted | llm.")] = "scripted",
    user_model: Annotated[
        str | None, typer.Option(help="User simulator model (default: the agent's).")
    ] = None,
    user_base_url: Annotated[str | None, typer.Option(help="User simulator endpoint.")] = None,
    persona: Annotated[
        str | None, typer.Option(help="control | frustration | anxiety | anger | confusion | all | FILE.")
    ] = None,
    enhance_query: Annotated[
        bool, typer.Option(help="LLM user rewrites the terse task into a natural first message.")
    ] = False,
    mode: Annotated[str, typer.Option(help="interactive | solo | oracle-plan.")] = "interactive",
    agent: Annotated[
        str, typer.Option(help="tool-calling | text | oracle | package.module:ClassName.")
    ] = "tool-calling",
    trials: Annotated[int, typer.Option(min=1, help="Trials per task (for pass^k).")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Simulations in flight.")] = 4,
    task_ids: Annotated[str | None, typer.Option(help="Comma-separated task ids to run.")] = None,
    seed: int = 0,
    max_steps: Annotated[int, typer.Option(min=1, help="Agent model calls per simulation.")] = 30,
    max_errors: Annotated[int, typer.Option(min=0, help="Tool errors allowed before giving up.")] = 10,
    parallel_tool_calls: Annotated[
        bool, typer.Option(help="Execute every tool call of a turn, not just the first.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Wall-clock seconds per simulation.")] = 900.0,
    policy: Annotated[Path | None, typer.Option(help="Replace the domain's policy with this file.")] = None,
    domain: DomainOpt = "retail",
    data: DataOpt = None,
    resume: Annotated[
        bool, typer.Option(help="Continue a run directory: skip finished (task, trial) pairs.")
    ] = False,
    exclude_infrastructure: Annotated[
        bool, typer.Option(help="Leave infrastructure errors out of the metrics.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="No model calls: check config and tasks, render prompts, estimate tokens.")
    ] = False,
    validate_only: Annotated[bool, typer.Option(help="Only replay the ground truth of each task.")] = False,
) -> None:
    """Test an agent on a task file; write results.jsonl, manifest.json and summary.{json,csv} to --out.

    With no endpoint configured the embedded local model is started on 127.0.0.1 (casework[local]).

    Example: casework run --tasks tasks.json --model gpt-4o-mini --api-key-env OPENAI_API_KEY --trials 3 --out runs/mini
    """

    from casework.llm import ConfigError
    from casework.runs.endpoints import choose_endpoints
    from casework.runs.runner import RunConfig, dry_run_report

    if validate_only:
        tasks_validate(tasks, domain=domain, data=data, out=None)
        return
    try:
        config = RunConfig(
            tasks=tasks,
            out=out,
            domain=domain,
            data=data,
            policy=policy,
            agent=agent,
            mode=mode,
            user=user,
            enhance_query=enhance_query,
            persona=persona,
            trials=trials,
            concurrency=concurrency,
            task_ids=_split_ids(task_ids),
            seed=seed,
            max_steps=max_steps,
            max_errors=max_errors,
            parallel_tool_calls=parallel_tool_calls,
            simulation_timeout_s=timeout,
            exclude_infrastructure=exclude_infrastructure,
            resume=resume,
        )
        needs_agent = agent not in ("oracle",)
        choice = choose_endpoints(
            models_file=models,
            agent_overrides={"model": model, "base_url": base_url, "api_key_env": api_key_env},
            user_overrides={"model": user_model, "base_url": user_base_url},
            needs_agent=needs_agent,
            needs_user=user == "llm" and mode != "solo",
        )
    except (ConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None

    config = config.model_copy(
        update={"agent_endpoint": choice.record("agent"), "user_endpoint": choice.record("user")}
    )
    if dry_run:
        try:
            report = dry_run_report(config)
        except (ValueError, OSError) as exc:
            raise _fail(str(exc)) from None
        console.rule("system prompt")
        console.print(report.pop("system_prompt"), markup=False)
        console.rule("dry run")
        for problem in report.pop("problems"):
            err_console.print(f"[yellow]warning:[/] {problem}")
        console.print_json(json.dumps(report))
        return
    summary = _execute_run(config, choice)
    _print_summary(summary, out)


def _execute_run(config, choice) -> dict:
    """Open the model clients (starting the local model if needed), run with a live progress bar."""

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from casework.llm import ConfigError
    from casework.runs.endpoints import open_clients
    from casework.runs.runner import Runner
    from casework.runs.store import RunDirError, finished_pairs

    out = config.out
    try:
        with open_clients(
            choice,
            parallel=min(config.concurrency, 4),
            on_local_start=lambda url: err_console.print(f"embedded local model at {url}"),
        ) as (agent_llm, user_llm):
            counts = {"done": 0, "passed": 0, "infra": 0, "tool_errors": 0}
            with Progress(
                TextColumn("[bold]run"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=False,
            ) as progress:
                runner = Runner(config, agent_llm=agent_llm, user_llm=user_llm)
                total = len(runner.tasks) * config.trials
                already = total - len(runner.pending(finished_pairs(out))) if config.resume else 0
                bar = progress.add_task("run", total=total, completed=already, stats="")

                def update(result: dict) -> None:
                    counts["done"] += 1
                    counts["passed"] += bool(result.get("success"))
                    counts["infra"] += result.get("termination_reason") == "infrastructure_error"
                    counts["tool_errors"] += result.get("tool_errors", 0)
                    rate = counts["passed"] / counts["done"]
                    stats = f"pass {rate:.0%} · infra errors {counts['infra']} · tool errors {counts['tool_errors']}"
                    progress.update(bar, advance=1, stats=stats)

                runner.on_result = update
                return aio.run(runner.run(), closing=[agent_llm, user_llm])
    except (RunDirError, ConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        err_console.print(
            f"interrupted: finished simulations are kept in {out / 'results.jsonl'}; continue with --resume"
        )
        raise typer.Exit(130) from None


def _print_summary(summary: dict, out: Path) -> None:
    table = Table("metric", "value", title=f"run summary ({out})")
    table.add_row("simulations", str(summary["total_simulations"]))
    table.add_row("success rate", f"{summary['success_rate']:.1%} ({summary['successful']})")
    for k, p in summary["pass_k"].items():
        table.add_row(f"pass^{k}", f"{p['value']:.3f} [{p['wilson_low']:.3f}, {p['wilson_high']:.3f}]")
    for key in ("avg_action_precision", "avg_action_recall", "avg_action_f1"):
        value = summary.get(key)
        table.add_row(key.removeprefix("avg_").replace("_", " "), "-" if value is None else f"{value:.3f}")
    table.add_row("exact action matches", str(summary["exact_action_matches"]))
    table.add_row("infrastructure errors", str(summary["infrastructure_errors"]))
    table.add_row("terminations", ", ".join(f"{k}: {v}" for k, v in summary["termination_reasons"].items()))
    console.print(table)


# -- generate --------------------------------------------------------------------------------------
generate_app = typer.Typer(
    help="Generate validated task sets (templated; direct and AgentFlow need a model endpoint).",
    invoke_without_command=True,
)
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
):
    """Run the pipeline. direct/agentflow (and a committee) need a model: --model/--base-url,
    --models (agent section; reviewers from its reviewers section), else the embedded local model."""
    from contextlib import ExitStack

    from casework.generate.committee import required_criteria
    from casework.generate.pipeline import Pipeline, PipelineConfig, TemplatedGenerator
    from casework.generate.templated import parse_weights

    if method not in ("templated", "direct", "agentflow"):
        raise _fail(f"unknown --method {method!r}; use templated, direct or agentflow")
    dom, database, _ = _load(domain, data)
    try:
        weights = parse_weights(scenarios)
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
        if method == "direct":
            from casework.generate.direct import DirectGenerator

            generator = DirectGenerator(dom, database, client, seed=seed, weights=weights)
        elif method == "agentflow":
            from casework.generate.agentflow import AgentFlowGenerator

            generator = AgentFlowGenerator(
                dom, database, client, seed=seed, weights=weights, max_turns=agentflow_turns
            )
        else:
            generator = TemplatedGenerator(
                dom,
                database,
                seed=seed,
                weights=weights,
                multi_intent=multi_intent,
                min_actions=min_actions,
                max_actions=max_actions,
            )
        bar = stack.enter_context(Progress(console=err_console, transient=True))
        job = bar.add_task(f"generating ({method})", total=num_tasks)
        pipeline = Pipeline(
            dom, database, generator, config, reviewers=reviewers, progress=lambda k: bar.advance(job, k)
        )
        try:
            return aio.run(pipeline.run(out), closing=[client, *reviewers])
        except (LLMError, ConfigError) as exc:
            kept = f"; finished slots are kept in {out}.progress.jsonl, rerun to continue" if out else ""
            raise _fail(f"model endpoint failed: {exc}{kept}") from None


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
    method: Annotated[str, typer.Option(help="templated | direct | agentflow")] = "templated",
    out: Annotated[
        Path | None, typer.Option("--out", help="Task file (blueprint format; .jsonl for JSONL).")
    ] = None,
    seed: int = 0,
    scenarios: Annotated[
        str | None, typer.Option(help="Scenario weights k=w,... (unnamed keys get 0).")
    ] = None,
    multi_intent: Annotated[float, typer.Option(help="Share of multi-intent tasks.", min=0, max=1)] = 0.2,
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
    domain: DomainOpt = "retail",
    data: DataOpt = None,
) -> None:
    """Generate a validated task set and its statistics report (OUT.stats.json); resumable.

    --method direct and agentflow use a model (--model/--base-url or --models; with none, the
    embedded local model is started); reviewers of --committee-size come from the models file's
    reviewers section or default to the generator's endpoint.

    Example: casework generate --num-tasks 1000 --method templated --seed 7 --out tasks.json
    """
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise _fail("--out is required")
    from casework.generate.pipeline import write_outputs
    from casework.generate.stats import format_stats

    start = time.perf_counter()
    result = _generate_result(
        domain,
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
    )
    stats_path = write_outputs(result, out)
    console.print(format_stats(result.stats), highlight=False)
    console.print(
        f"wrote {len(result.tasks)} tasks to {out} and statistics to {stats_path} "
        f"in {time.perf_counter() - start:.2f} s ({len(result.rejected)} slots rejected)"
    )


@generate_app.command("compare")
def generate_compare(
    methods: Annotated[
        str, typer.Option(help="Two or more methods, comma-separated.")
    ] = "templated,templated",
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 200,
    seed: int = 0,
    seeds: Annotated[str | None, typer.Option(help="Or compare seeds of one method: '0,1'.")] = None,
    domain: DomainOpt = "retail",
    data: DataOpt = None,
) -> None:
    """Run methods (or seeds) on the same settings and print their statistics side by side.

    Example: casework generate compare --methods templated,templated --seeds 0,1 -n 300
    """
    from casework.generate.stats import format_comparison

    names = [m.strip() for m in methods.split(",") if m.strip()]
    runs = [(m, int(s)) for m in names[:1] for s in seeds.split(",")] if seeds else [(m, seed) for m in names]
    reports = {}
    for method, run_seed in runs:
        result = _generate_result(
            domain, data, method, num_tasks, run_seed, None, 0.2, None, None, 3, 0, None
        )
        reports[f"{method} (seed {run_seed})"] = result.stats
    print(format_comparison(reports))


@tasks_app.command("stats")
def tasks_stats(
    tasks: Annotated[Path, typer.Argument(help="Task file in any supported format.")],
    domain: DomainOpt = "retail",
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
) -> None:
    """Coverage and diversity of a task file: scenarios, action counts, read/write mixes, tool usage, entropy.

    Example: casework tasks stats tasks.json
    """
    from casework.domains import get_domain
    from casework.generate.stats import format_stats, task_stats
    from casework.tasks import TaskFormatError, load_tasks

    try:
        loaded = load_tasks(tasks, domain=domain)
    except (TaskFormatError, OSError) as exc:
        raise _fail(str(exc)) from None
    stats = task_stats(loaded, get_domain(domain))
    print(json.dumps(stats, indent=2) if as_json else format_stats(stats))


@bench_app.command("generate")
def bench_generate(
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 2000,
    seed: int = 0,
    data: DataOpt = None,
    domain: DomainOpt = "retail",
) -> None:
    """Templated generation throughput: generate and validate (stages 1-4 + de-duplication) on one core.

    Example: casework bench generate -n 5000
    """
    from casework.generate.pipeline import PipelineConfig, TemplatedGenerator, run_pipeline

    dom, database, _ = _load(domain, data)
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


# -- bench -----------------------------------------------------------------------------------------
@bench_app.command("replay")
def bench_replay(
    tasks: Annotated[
        Path | None, typer.Option("--tasks", help="Task file (default: 200 sampled tasks).")
    ] = None,
    data: DataOpt = None,
    domain: DomainOpt = "retail",
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

    dom, database, loaded = _load(domain, data, tasks)
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


# -- reports ---------------------------------------------------------------------------------------
@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `casework run`.")],
    tasks: Annotated[Path | None, typer.Option("--tasks", help="Task file (adds instructions).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report directory (default: RUN_DIR).")] = None,
) -> None:
    """Write report.md, report.html, profile.json and charts/*.png for a run.

    Example: casework report runs/gpt-4o --tasks tasks.json --out reports/gpt-4o
    """
    from casework.reports import ReportError, write_report
    from casework.tasks import TaskFormatError

    try:
        paths = write_report(run_dir, tasks_path=tasks, out_dir=out)
    except (ReportError, TaskFormatError, OSError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"report: {paths.markdown}\nhtml:   {paths.html}\ncharts: {paths.out_dir / 'charts'}")


@app.command("compare")
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run directories; first = baseline.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("comparison"),
) -> None:
    """Compare runs: success, pass^k, exact match, F1, cost, flipping tasks and a paired sign test.

    Example: casework compare runs/baseline runs/candidate --out comparison/
    """
    from casework.reports import ReportError, write_comparison

    try:
        paths = write_comparison(run_dirs, out)
    except (ReportError, OSError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"comparison: {paths['markdown']}\nhtml:       {paths['html']}")


# -- serve ---------------------------------------------------------------------------------------
@app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: pick a free one).")] = 8080,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads.")] = 2,
    ctx: Annotated[int, typer.Option(min=1024, help="Context size per slot, in tokens.")] = 8192,
    parallel: Annotated[int, typer.Option(min=1, help="Requests decoded together (slots).")] = 1,
) -> None:
    """Serve the embedded local model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M) behind an OpenAI-compatible
    API on 127.0.0.1 and print its base URL; Ctrl-C stops it. Needs the 'local' extra of casework.

    Example: casework serve --port 8080  # then: casework run --base-url http://127.0.0.1:8080/v1 --model local …
    """
    import signal
    import threading

    from casework.llm.local import MODEL_NAME, LocalModelError, LocalModelServer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with LocalModelServer(port=port, threads=threads, ctx=ctx, parallel=parallel) as server:
            print(server.base_url, flush=True)
            err_console.print(f"serving {MODEL_NAME} at {server.base_url} (Ctrl-C to stop)")
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
    except LocalModelError as exc:
        raise _fail(str(exc)) from None


# -- doctor ----------------------------------------------------------------------------------------
@app.command("doctor")
def doctor(
    model: Annotated[
        str | None, typer.Option(help="Model name (default: the one the endpoint lists first).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Endpoint, OpenAI-compatible (…/v1); default: the embedded model.")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="NAME of the environment variable holding the API key.")
    ] = None,
    prompts: Annotated[int, typer.Option(min=1, max=5, help="Tool prompts per tool_choice.")] = 3,
    timeout: Annotated[float | None, typer.Option(min=1, help="Seconds per model call.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the results to FILE.")] = None,
) -> None:
    """Check that an endpoint is usable for `casework run`: models list, chat, tool calls with
    tool_choice auto and required, streaming time to first token, parallel calls, JSON arguments.
    Exit code 0 when usable, 1 otherwise. With no --model/--base-url the embedded model is checked.

    Example: casework doctor --model gpt-4o-mini --api-key-env OPENAI_API_KEY --json doctor.json
    """
    from contextlib import ExitStack

    from casework.llm import ConfigError, EndpointConfig
    from casework.llm.doctor import diagnose

    with ExitStack() as stack:
        try:
            if model is None and base_url is None:
                from casework.llm.local import LocalModelError, LocalModelServer
                from casework.runs.endpoints import local_endpoint

                err_console.print("starting the embedded local model…")
                try:
                    server = stack.enter_context(LocalModelServer(verbosity=-1))
                except LocalModelError as exc:
                    raise _fail(str(exc)) from None
                config = local_endpoint(server.base_url)
            else:
                config = EndpointConfig(model=model or "default", base_url=base_url, api_key_env=api_key_env)
            if timeout is not None:
                config = config.model_copy(update={"timeout_s": timeout})
        except (ConfigError, ValueError) as exc:
            raise _fail(str(exc)) from None
        discover = model is None and base_url is not None
        target = "the model it lists" if discover else config.model
        err_console.print(
            f"checking {target} at {config.base_url or 'https://api.openai.com/v1'}…", markup=False
        )
        report = aio.run(diagnose(config, prompts=prompts, discover_model=discover))

    from rich.markup import escape

    colors = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
    where = report.base_url or "https://api.openai.com/v1"
    table = Table("check", "result", "detail", "time", title=escape(f"doctor: {report.model} at {where}"))
    table.columns[0].no_wrap = True
    table.columns[1].no_wrap = True
    for check in report.checks:
        color = colors[check.status]
        table.add_row(
            check.label,
            f"[{color}]{check.result}[/]",
            escape(check.detail),
            "-" if check.time_s is None else f"{check.time_s:.2f}s",
        )
    console.print(table)
    mark = "[bold green]usable[/]" if report.usable else "[bold red]not usable[/]"
    console.print(f"verdict: {mark}: {escape(report.verdict)}", highlight=False)
    for line in report.advice:
        console.print(f"  - {escape(line)}", highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    raise typer.Exit(report.exit_code)


# -- bench sim -------------------------------------------------------------------------------------
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
    num_tasks: Annotated[
        int, typer.Option("--num-tasks", "-n", min=1, help="Templated tasks to cycle.")
    ] = 50,
    seed: int = 0,
    data: DataOpt = None,
    domain: DomainOpt = "retail",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the numbers as JSON.")] = None,
) -> None:
    """Harness overhead per agent step (instant model) and throughput against a delayed local endpoint.

    Example: casework bench sim --simulations 2000 --in-flight 256 --delay 0.2
    """
    from casework.bench.sim import run_sim_bench
    from casework.generate.templated import generate_templated

    dom, database, _ = _load(domain, data)
    tasks = generate_templated(dom, database, num_tasks, seed=seed)
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
    )
    numbers = result.to_dict()
    console.print_json(json.dumps(numbers))
    if json_out is not None:
        json_out.write_text(json.dumps(numbers, indent=2), encoding="utf-8")
    print(result.line())


# -- demo ------------------------------------------------------------------------------------------
@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Directory for the demo's files.")] = Path("demo-out"),
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 8,
    run_tasks: Annotated[
        int, typer.Option(min=0, help="Tasks to test the model on (0: skip the model run).")
    ] = 3,
    model: Annotated[
        str | None, typer.Option(help="Agent model (default: the embedded local model).")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="Agent endpoint, OpenAI-compatible (…/v1).")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="NAME of the variable holding the API key.")] = None,
    seed: int = 0,
) -> None:
    """The main job on the embedded defaults: build the retail database, write a small task file,
    replay and validate it, test the model on a few tasks with the scripted user (the embedded local
    model unless --model is given), and write the run's report.

    Re-running continues the same run directory (finished simulations are kept).

    Example: casework demo --out demo-out --run-tasks 2
    """
    from casework.domains import get_domain
    from casework.generate.templated import generate_templated
    from casework.tasks import save_tasks
    from casework.tasks.validate import validate_tasks

    out.mkdir(parents=True, exist_ok=True)
    dom = get_domain("retail")
    start = time.perf_counter()
    database = dom.database()
    built = time.perf_counter() - start
    tables = database.to_dict()
    console.print(
        f"embedded retail database: {len(tables['users'])} users, {len(tables['orders'])} orders, "
        f"{len(tables['products'])} products (built in {built:.2f} s, sha256 {database.canonical_hash()[:12]}…)"
    )
    tasks = generate_templated(dom, database, num_tasks, seed=seed)
    task_file = out / "tasks.json"
    save_tasks(tasks, task_file)
    results = validate_tasks(dom, database, tasks)
    table = Table(
        "task", "scenario", "actions", "valid", "changes", "final state", title="replay and validation"
    )
    for result in results:
        table.add_row(
            result.task.id,
            str(result.task.scenario),
            " → ".join(a.name for a in result.task.actions),
            "[green]yes[/]" if result.valid else "[red]no[/]",
            str(len(result.replay.diff())),
            result.replay.final_hash[:12],
        )
    console.print(table)
    replay_file = out / "replay.jsonl"
    replay_file.write_text("".join(json.dumps(r.replay.to_dict()) + "\n" for r in results), encoding="utf-8")
    valid = sum(r.valid for r in results)
    console.print(f"{valid}/{len(results)} tasks valid; tasks: {task_file}; replay: {replay_file}")
    if valid != len(results):
        for problem in (p for r in results for p in r.problems):
            err_console.print(problem.line())
        raise typer.Exit(1)
    if run_tasks == 0:
        return
    from casework.reports import write_report
    from casework.runs.endpoints import choose_endpoints
    from casework.runs.runner import RunConfig

    run_dir = out / "run"
    config = RunConfig(
        tasks=task_file,
        out=run_dir,
        task_ids=[t.id for t in tasks[:run_tasks]],
        concurrency=1,
        max_steps=12,
        seed=seed,
        resume=True,
    )
    choice = choose_endpoints(
        models_file=None,
        agent_overrides={"model": model, "base_url": base_url, "api_key_env": api_key_env},
        user_overrides={},
        needs_agent=True,
        needs_user=False,
    )
    config = config.model_copy(update={"agent_endpoint": choice.record("agent")})
    summary = _execute_run(config, choice)
    _print_summary(summary, run_dir)
    paths = write_report(run_dir, tasks_path=task_file)
    console.print(f"report: {paths.html}")


from casework.cli_train import register as _register_train  # noqa: E402 - export, train

_register_train(app)


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
