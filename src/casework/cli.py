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
from casework.domains.registry import DEFAULT_DOMAIN


class _UserErrorsAsOneLine(typer.core.TyperGroup):
    """Turns a user error raised anywhere below a command into one line on stderr and exit code 2."""

    def invoke(self, ctx):
        from rich.markup import escape

        from casework.errors import one_line, user_error_types

        try:
            return super().invoke(ctx)
        except OSError as exc:  # a file the user named cannot be read or written
            where = f"{exc.filename}: " if exc.filename else ""
            err_console.print(
                f"[bold red]error:[/] {escape(where + (exc.strerror or str(exc)))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None
        except user_error_types() as exc:
            err_console.print(
                f"[bold red]error:[/] {escape(one_line(str(exc)))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None


app = typer.Typer(
    help="Generate, validate and test multi-turn customer-service tasks for tool-calling LLM agents.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=_UserErrorsAsOneLine,
)
data_app = typer.Typer(help="Databases: generate synthetic data.", no_args_is_help=True)
tasks_app = typer.Typer(help="Task files: replay, validate, convert, sample.", no_args_is_help=True)
domain_app = typer.Typer(
    help="Domains: list them, inspect tools and policy, check a domain, write a new one.",
    no_args_is_help=True,
)
bench_app = typer.Typer(help="Benchmarks of the harness itself.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(tasks_app, name="tasks")
app.add_typer(domain_app, name="domain")
app.add_typer(bench_app, name="bench")

console = Console()
err_console = Console(stderr=True)

DomainOpt = Annotated[
    str,
    typer.Option(
        "--domain",
        help="Domain: a name from `casework domain list`, or package.module:OBJECT. "
        "NAME@PROFILE picks a tool profile.",
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Database: a tau-bench layout directory or a db.json file (default: embedded)."
    ),
]
SplitOpt = Annotated[
    str | None,
    typer.Option(
        "--split", help="τ³ split (train | test | base) from split_tasks.json beside the task file."
    ),
]
JudgeModelOpt = Annotated[
    str | None, typer.Option(help="Judge model for NL assertions (default: the embedded local model).")
]
JudgeUrlOpt = Annotated[str | None, typer.Option(help="Judge endpoint, OpenAI-compatible (…/v1).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _load(domain_name: str, data: Path | None, tasks_path: Path | None = None, split: str | None = None):
    """Domain, database and (optionally) tasks, turning input errors into clear CLI errors."""
    from casework.domains import DataError, get_domain
    from casework.tasks import TaskFormatError
    from casework.tasks.splits import SplitError, load_split_tasks

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
            tasks = load_split_tasks(tasks_path, domain=domain_name, split=split)
        except (TaskFormatError, SplitError, OSError) as exc:
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
    out: Annotated[Path, typer.Option("--out", help="Directory for the database, in the domain's layout.")],
    domain: DomainOpt = DEFAULT_DOMAIN,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical bytes.")] = 0,
    size: Annotated[
        list[str] | None,
        typer.Option(
            "--size",
            help="TABLE=N, repeatable (the domain's sizes: see `casework domain list`); default sizes otherwise.",
        ),
    ] = None,
) -> None:
    """Write a synthetic, internally consistent database in the domain's native layout.

    Example: casework data generate --seed 7 --size users=2000 --size orders=4000 --out data/retail-7
    """
    from casework.domains import get_domain

    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out}: is a file; expected a directory (new or existing) for the tables")

    try:
        dom = get_domain(domain)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if dom.generate_data is None or dom.write_data is None:
        raise _fail(f"domain {dom.name!r} has no synthetic data generator")
    sizes: dict[str, int] = {}
    for item in size or []:
        name, _, value = item.partition("=")
        if name not in dom.data_sizes or not value.strip().isdigit():
            known = ", ".join(f"{k}={v}" for k, v in dom.data_sizes.items())
            raise _fail(f"--size {item!r}: expected TABLE=N with TABLE one of {known}")
        sizes[name] = int(value)
    start = time.perf_counter()
    database = dom.generate_data(seed, **sizes)
    dom.write_data(database, out)
    elapsed = time.perf_counter() - start
    tables = database.to_dict()
    counts = ", ".join(f"{len(tables[t])} {t}" for t in dom.tables)
    console.print(f"wrote {counts} to {out} in {elapsed:.2f} s")


# -- domain ----------------------------------------------------------------------------------------
@domain_app.command("tools")
def domain_tools(
    domain: DomainOpt = DEFAULT_DOMAIN,
    as_json: Annotated[bool, typer.Option("--json", help="Print the OpenAI function schemas.")] = False,
) -> None:
    """List a domain's tools with their kind and arguments.

    Example: casework domain tools --json > tools.json
    """
    from casework.domains import get_domain

    try:
        toolbox = get_domain(domain).toolbox
    except ValueError as exc:
        raise _fail(str(exc)) from None
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
def domain_policy(
    domain: DomainOpt = DEFAULT_DOMAIN,
    variant: Annotated[
        str, typer.Option(help="Policy variant: default, or solo where the domain has one.")
    ] = "default",
) -> None:
    """Print a domain's agent policy (replace it at run time with --policy FILE).

    Example: casework domain policy > policy.md  # edit, then: casework run --policy policy.md …
    """
    from casework.domains import get_domain

    try:
        print(get_domain(domain).policy_text(variant))
    except ValueError as exc:
        raise _fail(str(exc)) from None


@domain_app.command("list")
def domain_list() -> None:
    """List the domains casework can load: built-in, installed plugins (entry points), registered.

    Example: casework domain list
    """
    from casework.domains import available, get_domain

    table = Table("domain", "source", "tools", "profiles", "description", title="domains")
    for name, source in available().items():
        try:
            dom = get_domain(name)
        except ValueError as exc:
            table.add_row(name, source, "", "", f"[red]cannot load: {exc}[/]")
            continue
        tools = str(len(dom.toolbox.tools))
        if dom.user_toolbox is not None:
            tools += f" + {len(dom.user_toolbox.tools)} user"
        table.add_row(name, source, tools, ", ".join(dom.profile_names), dom.description)
    console.print(table)


@domain_app.command("check")
def domain_check(
    domain: Annotated[str, typer.Argument(help="A domain name or package.module:OBJECT.")],
) -> None:
    """Check a domain end to end: schemas, every tool, data, sample tasks, an oracle run, templated tasks.

    Exits 1 when a check fails.

    Example: casework domain check mock
    """
    from casework.domains import get_domain
    from casework.runs.domain_check import check_domain

    try:
        dom = get_domain(domain)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    checks = check_domain(dom, domain)
    table = Table("check", "result", "detail", title=f"domain {dom.name}")
    for check in checks:
        table.add_row(check.name, "[green]pass[/]" if check.passed else "[red]FAIL[/]", check.detail)
    console.print(table)
    if not all(c.passed for c in checks):
        raise typer.Exit(1)


@domain_app.command("new")
def domain_new(
    name: Annotated[str, typer.Argument(help="The new domain's name (lower case, digits, _).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the plugin package (new or empty).")],
) -> None:
    """Write a small, installable domain plugin (a copy of the built-in mock help desk) to edit.

    Example: casework domain new helpdesk --out ./casework-helpdesk && pip install -e ./casework-helpdesk
    """
    from casework.domains.scaffold import write_plugin

    try:
        written = write_plugin(name, out)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {len(written)} files to {out}")
    console.print(f"next: pip install -e {out} && casework domain check {name}")


# -- tasks -----------------------------------------------------------------------------------------
@tasks_app.command("replay")
def tasks_replay(
    tasks: Annotated[
        Path, typer.Argument(help="Task file (casework JSON/JSONL, blueprint, tau-bench v1, tau2).")
    ],
    out: Annotated[Path, typer.Option("--out", help="JSONL file: one line per task.")],
    domain: DomainOpt = DEFAULT_DOMAIN,
    data: DataOpt = None,
    dump_states: Annotated[
        Path | None, typer.Option("--dump-states", help="Also write DIR/<n>.json with each final database.")
    ] = None,
    split: SplitOpt = None,
) -> None:
    """Replay each task's ground-truth actions on a fresh fork; write observations, errors, hash and diff.

    Example: casework tasks replay tasks.json --data ../data/retail --out replay.jsonl --dump-states states/
    """
    from casework.tasks.replay import replay_task

    dom, database, loaded = _load(domain, data, tasks, split)
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
    domain: DomainOpt = DEFAULT_DOMAIN,
    data: DataOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the problems as JSONL.")] = None,
    no_user_id_validation: Annotated[bool, typer.Option("--no-user-id-validation")] = False,
    split: SplitOpt = None,
) -> None:
    """Check tasks: unknown tools, schema violations, ids that do not exist or are not the user's,
    actions that error when replayed, write tasks that change nothing, policy violations. Exit code 1
    if any task is invalid.

    Example: casework tasks validate tasks.json --data ../data/retail
    """
    from casework.validation.stages import validate_all

    dom, database, loaded = _load(domain, data, tasks, split)
    assert loaded is not None
    results = validate_all(dom, database, loaded, check_user_id=not no_user_id_validation)
    problems = [p for r in results for p in r.problems]
    for problem in problems:
        print(problem.line())
    if out is not None:
        out.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems), encoding="utf-8")
    invalid = sum(not r.valid for r in results)
    colour = "green" if not invalid else "red"
    ungraded = sum(not r.task.has_ground_truth for r in results)
    err_console.print(
        f"[{colour}]{len(results) - invalid}/{len(results)} tasks valid[/], {len(problems)} problems"
        + (f", {ungraded} without ground truth (cannot be graded)" if ungraded else "")
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
    domain: DomainOpt = DEFAULT_DOMAIN,
    split: SplitOpt = None,
) -> None:
    """Convert a task file between formats.

    Example: casework tasks convert tasks_dev.json dev.tau2.json --to tau2
    """
    from casework.tasks import TaskFormatError, export_tau2, save_blueprints, save_tasks
    from casework.tasks.splits import SplitError, load_split_tasks

    writers = {"casework": save_tasks, "blueprint": save_blueprints, "tau2": export_tau2}
    if to not in writers:
        raise _fail(f"--to must be one of {', '.join(writers)}, got {to!r}")
    try:
        loaded = load_split_tasks(source, domain=domain, split=split)
    except (TaskFormatError, SplitError, OSError) as exc:
        raise _fail(str(exc)) from None
    writers[to](loaded, target)
    console.print(f"wrote {len(loaded)} tasks to {target} ({to})")


@tasks_app.command("sample")
def tasks_sample(
    out: Annotated[Path, typer.Option("--out", help="Task file to write (.json or .jsonl).")],
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 8,
    seed: int = 0,
    domain: DomainOpt = DEFAULT_DOMAIN,
    data: DataOpt = None,
) -> None:
    """Write a small set of templated tasks sampled from the database (no LLM).

    Example: casework tasks sample -n 20 --seed 3 --out tasks.json
    """
    from casework.generate.templated import generate_templated
    from casework.tasks import save_tasks

    dom, database, _ = _load(domain, data)
    sampled = generate_templated(dom, database, num_tasks, seed=seed)
    try:
        save_tasks(sampled, out)
    except OSError as exc:
        raise _fail(f"--out {out}: cannot write the task file ({exc.filename}: {exc.strerror})") from None
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
        str, typer.Option(help="tool-calling | text | oracle | noop | package.module:ClassName.")
    ] = "tool-calling",
    trials: Annotated[int, typer.Option(min=1, help="Trials per task (for pass^k).")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Simulations in flight.")] = 4,
    task_ids: Annotated[str | None, typer.Option(help="Comma-separated task ids to run.")] = None,
    split: SplitOpt = None,
    judge_model: JudgeModelOpt = None,
    judge_base_url: JudgeUrlOpt = None,
    seed: int = 0,
    max_steps: Annotated[int, typer.Option(min=1, help="Agent model calls per simulation.")] = 30,
    max_errors: Annotated[int, typer.Option(min=0, help="Tool errors allowed before giving up.")] = 10,
    parallel_tool_calls: Annotated[
        bool, typer.Option(help="Execute every tool call of a turn, not just the first.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Wall-clock seconds per simulation.")] = 900.0,
    policy: Annotated[Path | None, typer.Option(help="Replace the domain's policy with this file.")] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            help="Domain: a name from `casework domain list` or package.module:OBJECT; NAME@PROFILE picks "
            "a tool profile (default: the one the task file names, else the default domain).",
        ),
    ] = None,
    data: DataOpt = None,
    resume: Annotated[
        bool, typer.Option(help="Continue a run directory: skip finished (task, trial) pairs.")
    ] = False,
    retry_infrastructure: Annotated[
        bool, typer.Option(help="With --resume, re-run simulations that ended in infrastructure errors.")
    ] = True,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="Skip the format and grounding checks of the tasks.")
    ] = False,
    fail_under: Annotated[
        str | None,
        typer.Option(help="Quality gates, e.g. success=0.7,recall=0.6,precision=0.6: exit 1 when missed."),
    ] = None,
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
    from casework.runs.gates import parse_gates
    from casework.runs.preflight import make_run_config, preflight
    from casework.runs.runner import config_needs_judge, dry_run_report

    if validate_only:
        tasks_validate(tasks, domain=domain or DEFAULT_DOMAIN, data=data, out=None, split=split)
        return
    gates = parse_gates(fail_under)
    try:
        config = make_run_config(
            tasks=tasks,
            out=out,
            domain=domain or DEFAULT_DOMAIN,
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
            split=split,
            seed=seed,
            max_steps=max_steps,
            max_errors=max_errors,
            parallel_tool_calls=parallel_tool_calls,
            simulation_timeout_s=timeout,
            exclude_infrastructure=exclude_infrastructure,
            resume=resume,
            retry_infrastructure=retry_infrastructure,
        )
        checked = preflight(config, domain_given=domain is not None, validate=not no_validate)
        for note in checked.notes:
            err_console.print(note, markup=False, highlight=False)
        config = config.model_copy(update={"domain": checked.domain})
        needs_agent = agent not in ("oracle", "noop")
        choice = choose_endpoints(
            models_file=models,
            agent_overrides={"model": model, "base_url": base_url, "api_key_env": api_key_env},
            user_overrides={"model": user_model, "base_url": user_base_url},
            needs_agent=needs_agent,
            needs_user=user == "llm" and mode != "solo",
            judge_overrides={"model": judge_model, "base_url": judge_base_url},
            needs_judge=config_needs_judge(config),
        )
    except (ConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None

    config = config.model_copy(
        update={
            "agent_endpoint": choice.record("agent"),
            "user_endpoint": choice.record("user"),
            "judge_endpoint": choice.record("judge"),
        }
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
    _exit_on_infrastructure_errors_or_gates(summary, gates)


def _exit_on_infrastructure_errors_or_gates(summary: dict, gates: dict[str, float]) -> None:
    from casework.runs.gates import GATE_EXIT_CODE, infrastructure_line, missed_gates

    line = infrastructure_line(summary)
    if line is not None:
        err_console.print(f"[bold red]error:[/] {line}", highlight=False)
        raise typer.Exit(3)
    missed = missed_gates(summary, gates)
    if missed:
        err_console.print(f"[bold red]quality gate missed:[/] {'; '.join(missed)}", highlight=False)
        raise typer.Exit(GATE_EXIT_CODE)


def _execute_run(config, choice) -> dict:
    """Open the model clients (starting the local model if needed) and run with live progress.

    A resumed run with nothing left to do only rewrites its summary: no model is started."""
    from casework.cli_live import RunDisplay
    from casework.llm import ConfigError
    from casework.llm.local import LocalModelError
    from casework.runs.endpoints import judge_id, open_clients
    from casework.runs.judge import SMALL_JUDGE_WARNING
    from casework.runs.runner import RunAborted, Runner, RunStopped
    from casework.runs.signals import Interrupts, sigterm_as_interrupt
    from casework.runs.store import RunDirError, finished_pairs

    out = config.out
    interrupts = Interrupts()
    try:
        runner = Runner(config, require_judge=False)  # the judge's client is attached below
        if runner.finished_already():
            err_console.print(f"every simulation of {out} is finished; no model started")
            return runner.summarize()
        total = len(runner.tasks) * config.trials
        already = total - len(runner.pending(finished_pairs(out))) if config.resume else 0
        servers: list = []
        with (
            sigterm_as_interrupt(interrupts),
            RunDisplay(err_console, total=total, done=already) as display,
            open_clients(
                choice,
                parallel=min(config.concurrency, 4),
                on_server=servers.append,
                on_local_start=lambda url: display.note(
                    f"embedded local model at {url} ({servers[-1].threads} threads; log: {servers[-1].log_path})"
                ),
                prompt_prefix=runner.prompt_prefix() if "agent" in choice.local_roles else None,
                on_status=display.note,
                with_judge=True,
            ) as (agent_llm, user_llm, judge_llm),
            sigterm_as_interrupt(interrupts),  # again: the embedded server may have set its own
        ):
            if "judge" in choice.local_roles:
                display.note(f"warning: {SMALL_JUDGE_WARNING}")
            runner.agent_llm, runner.user_llm = agent_llm, user_llm
            if judge_llm is not None:
                runner.set_judge(judge_llm, judge_id(choice))
            runner.on_progress = display.on_progress
            runner.endpoint_failure = servers[0].failure if servers else None
            return aio.run(runner.run(), closing=[agent_llm, user_llm, judge_llm])
    except (RunDirError, ConfigError, ValueError, LocalModelError) as exc:
        raise _fail(str(exc)) from None
    except RunStopped as exc:
        raise _fail(str(exc), code=3) from None
    except RunAborted as exc:
        raise _fail(
            f"{exc}; finished simulations are kept in {out / 'results.jsonl'}, continue with --resume", 3
        ) from None
    except KeyboardInterrupt:
        what = "terminated (SIGTERM)" if interrupts.terminated else "interrupted"
        err_console.print(
            f"{what}: finished simulations are kept in {out / 'results.jsonl'}; continue with --resume"
        )
        raise typer.Exit(interrupts.exit_code) from None


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
    for key in ("avg_user_action_precision", "avg_user_action_recall", "avg_user_action_f1"):
        if summary.get(key) is not None:  # dual control: the user's device actions
            table.add_row(key.removeprefix("avg_").replace("_", " "), f"{summary[key]:.3f}")
    table.add_row("infrastructure errors", str(summary["infrastructure_errors"]))
    for name, c in (summary.get("components") or {}).items():  # τ³-graded runs
        extra = "".join(f", {k.replace('_', ' ')} {c[k]}" for k in ("not_evaluated", "judge_error") if c[k])
        table.add_row(f"{name} passed", f"{c['passed']}/{c['evaluated']}{extra}")
    table.add_row("terminations", ", ".join(f"{k}: {v}" for k, v in summary["termination_reasons"].items()))
    console.print(table)


# -- generate --------------------------------------------------------------------------------------
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
):
    """Run the pipeline. direct/agentflow (and a committee) need a model: --model/--base-url,
    --models (agent section; reviewers from its reviewers section), else the embedded local model."""
    from contextlib import ExitStack

    from casework.generate.methods import check_method, method_weights
    from casework.generate.pipeline import Pipeline, PipelineConfig, TemplatedGenerator
    from casework.validation.committee import required_criteria

    try:
        check_method(method)
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
    domain: DomainOpt = DEFAULT_DOMAIN,
    data: DataOpt = None,
) -> None:
    """Generate a validated task set (templated; direct and AgentFlow use a model) with statistics.

    Writes OUT, OUT.stats.json and OUT.rejected.jsonl (every rejected candidate with its reasons);
    resumable from OUT.progress.jsonl. Exit code 1 when fewer tasks than asked were produced.
    --method direct and agentflow use a model (--model/--base-url or --models; with none, the
    embedded local model is started); reviewers of --committee-size come from the models file's
    reviewers section or share the generator's endpoint (each member with its own lens,
    temperature and seed).

    Example: casework generate -n 200 --seed 1 --out tasks.json
    """
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise _fail("--out is required")
    from casework.generate.pipeline import shortfall, write_outputs
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
) -> None:
    """Run generation methods (or seeds) on the same settings and print their statistics side by side.

    By default every method the domain supports: templated, and direct and agentflow when a model
    is given (--model/--base-url/--models); a single method is compared across two seeds.

    Example: casework generate compare -n 200 --models models.toml
    """
    from casework.domains import DomainError, get_domain
    from casework.generate.methods import compare_plan
    from casework.generate.stats import format_comparison

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


@tasks_app.command("stats")
def tasks_stats(
    tasks: Annotated[Path, typer.Argument(help="Task file in any supported format.")],
    domain: DomainOpt = DEFAULT_DOMAIN,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
    split: SplitOpt = None,
) -> None:
    """Coverage and diversity of a task file: scenarios, action counts, read/write mixes, tool usage, entropy.

    Example: casework tasks stats tasks.json
    """
    from casework.domains import get_domain
    from casework.generate.stats import format_stats, task_stats
    from casework.tasks import TaskFormatError
    from casework.tasks.splits import SplitError, load_split_tasks

    try:
        loaded = load_split_tasks(tasks, domain=domain, split=split)
    except (TaskFormatError, SplitError, OSError) as exc:
        raise _fail(str(exc)) from None
    stats = task_stats(loaded, get_domain(domain))
    print(json.dumps(stats, indent=2) if as_json else format_stats(stats))


@bench_app.command("generate")
def bench_generate(
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 2000,
    seed: int = 0,
    data: DataOpt = None,
    domain: DomainOpt = DEFAULT_DOMAIN,
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
    domain: DomainOpt = DEFAULT_DOMAIN,
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
@app.command("perturb")
def perturb(
    tasks: Annotated[Path, typer.Argument(help="Task file (any supported format).")],
    out: Annotated[
        Path, typer.Option("--out", help="Output task file: the base tasks, then their variants.")
    ],
    kinds: Annotated[
        str,
        typer.Option(
            help="Comma-separated: paraphrase,typos,shuffle,verbosity,politeness,distractor,id-format."
        ),
    ] = "typos,shuffle,verbosity,politeness,distractor,id-format",
    variants: Annotated[int, typer.Option(min=1, help="Variants per base task and kind.")] = 3,
    seed: int = 0,
    typo_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of words misspelt.")] = 0.08,
    domain: DomainOpt = DEFAULT_DOMAIN,
    data: DataOpt = None,
    model: Annotated[str | None, typer.Option(help="Paraphrasing model (default: embedded).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Paraphrasing endpoint, OpenAI-compatible.")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="NAME of the variable holding the API key.")] = None,
    models: Annotated[
        Path | None, typer.Option("--models", help="Models file: the 'user' role paraphrases.")
    ] = None,
) -> None:
    """Write perturbed variants of tasks (same golden actions and outputs, another wording), linked to
    their base tasks, to measure whether verdicts survive rephrasing (`casework run` on the output
    adds `robustness` to summary.json).

    Example: casework perturb tasks.json --kinds typos,shuffle,id-format --variants 3 --seed 1 --out variants.json
    """
    from casework.generate.perturb import KINDS, paraphrase_task, perturb_tasks
    from casework.tasks import save_tasks

    chosen = [k.strip() for k in kinds.split(",") if k.strip()]
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise _fail(
            f"--kinds {kinds!r}: unknown {', '.join(unknown) or 'none given'}; expected some of {', '.join(KINDS)}"
        )
    dom, database, loaded = _load(domain, data, tasks)
    paraphrases = None
    if "paraphrase" in chosen:
        from casework.runs.endpoints import choose_endpoints, open_clients

        choice = choose_endpoints(
            models_file=models,
            agent_overrides={},
            user_overrides={
                k: v
                for k, v in {"model": model, "base_url": base_url, "api_key_env": api_key_env}.items()
                if v
            },
            needs_agent=False,
            needs_user=True,
        )

        async def make(client) -> dict:
            return {
                t.id: await paraphrase_task(t, variants, client, domain=dom, database=database)
                for t in loaded
            }

        with open_clients(choice) as (_, user_client):
            paraphrases = aio.run(make(user_client), closing=[user_client])
    result = perturb_tasks(
        loaded,
        chosen,
        variants,
        seed=seed,
        domain=dom,
        database=database,
        paraphrases=paraphrases,
        typo_rate=typo_rate,
    )
    save_tasks(result.tasks, out)
    bases = len(result.tasks) - result.variants
    console.print(f"wrote {bases} base tasks and {result.variants} variants to {out}")
    for where, reason in list(result.skipped.items())[:10]:
        console.print(f"  [yellow]fewer variants[/] {where}: {reason}")
    if len(result.skipped) > 10:
        console.print(f"  … and {len(result.skipped) - 10} more")


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `casework run`.")],
    tasks: Annotated[Path | None, typer.Option("--tasks", help="Task file (adds instructions).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report directory (default: RUN_DIR).")] = None,
    fail_under: Annotated[
        str | None,
        typer.Option(help="Quality gates, e.g. success=0.7,recall=0.6,precision=0.6: exit 1 when missed."),
    ] = None,
) -> None:
    """Write report.md, report.html, profile.json and charts/*.png for a run.

    Example: casework report runs/gpt-4o --tasks tasks.json --out reports/gpt-4o --fail-under success=0.7
    """
    from casework.reports import ReportError, write_report
    from casework.runs.gates import GATE_EXIT_CODE, missed_gates, parse_gates, run_summary
    from casework.runs.store import unreadable_lines
    from casework.tasks import TaskFormatError

    gates = parse_gates(fail_under)
    try:
        paths = write_report(run_dir, tasks_path=tasks, out_dir=out)
    except (ReportError, TaskFormatError, OSError) as exc:
        raise _fail(str(exc)) from None
    for line in unreadable_lines(run_dir):
        err_console.print(f"[yellow]warning:[/] unreadable result line left out: {line}", soft_wrap=True)
    console.print(f"report: {paths.markdown}\nhtml:   {paths.html}\ncharts: {paths.out_dir / 'charts'}")
    missed = missed_gates(run_summary(run_dir), gates)
    if missed:
        err_console.print(f"[bold red]quality gate missed:[/] {'; '.join(missed)}", highlight=False)
        raise typer.Exit(GATE_EXIT_CODE)


@app.command("regrade")
def regrade_command(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `casework run`.")],
    tasks: Annotated[
        Path | None, typer.Option("--tasks", help="Task file to grade against (default: the run's own).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="New run directory (default: RUN_DIR/results.regraded.jsonl + summary)."),
    ] = None,
    judge_model: JudgeModelOpt = None,
    judge_base_url: JudgeUrlOpt = None,
    judge_api_key_env: Annotated[
        str | None, typer.Option(help="NAME of the environment variable holding the judge's API key.")
    ] = None,
    models: Annotated[
        Path | None, typer.Option("--models", help="Models file with a [judge] section.")
    ] = None,
) -> None:
    """Recompute every score of a run from its saved trajectories; no agent or user model is called.

    NL assertions are judged again only where the judge cache (RUN_DIR/judge_cache.jsonl) has no
    verdict of the same judge for the same conversation. Prints how many verdicts changed.

    Example: casework regrade runs/tau3 --tasks fixed_tasks.json --judge-model gpt-4.1 --out runs/tau3-fixed
    """
    from casework.llm import ConfigError
    from casework.runs.endpoints import choose_endpoints, judge_id, open_judge
    from casework.runs.judge import SMALL_JUDGE_WARNING
    from casework.runs.regrade import regrade, run_needs_judge
    from casework.runs.store import RunDirError, read_manifest

    try:
        needs = run_needs_judge(run_dir, tasks)
        if judge_model is None and models is None:  # default: the judge the run used
            used = ((read_manifest(run_dir) or {}).get("config") or {}).get("judge_endpoint") or {}
            if used.get("model") not in (None, "embedded-local"):
                judge_model, judge_base_url = used["model"], judge_base_url or used.get("base_url")
                judge_api_key_env = judge_api_key_env or used.get("api_key_env")
        choice = choose_endpoints(
            models_file=models,
            agent_overrides={},
            user_overrides={},
            needs_agent=False,
            needs_user=False,
            judge_overrides={
                "model": judge_model,
                "base_url": judge_base_url,
                "api_key_env": judge_api_key_env,
            },
            needs_judge=needs,
        )
        with open_judge(choice) as judge_llm:
            if "judge" in choice.local_roles:
                err_console.print(f"[yellow]warning:[/] {SMALL_JUDGE_WARNING}")
            report = aio.run(
                regrade(run_dir, tasks_path=tasks, judge_llm=judge_llm, judge_id=judge_id(choice), out=out),
                closing=[judge_llm],
            )
    except (RunDirError, ConfigError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    for change in report.changes:
        before, after = change["reward"]
        console.print(
            f"task {change['task_id']} trial {change['trial']}: reward {before} -> {after}"
            + (f" ({', '.join(change['changed'])})" if change["changed"] else "")
        )
    if report.state_mismatches:
        err_console.print(
            f"[yellow]warning:[/] {len(report.state_mismatches)} saved final state(s) did not rebuild to the "
            f"saved hash (tools changed since the run?): {', '.join(report.state_mismatches[:5])}"
        )
    console.print(
        f"regraded {report.simulations} simulations: {report.rewards_changed} rewards and "
        f"{report.verdicts_changed} of {report.verdicts_compared} verdicts changed; judge calls "
        f"{report.judge_calls} ({report.judge_cached} verdicts from the cache); "
        f"success rate {report.summary.get('success_rate', 0.0):.1%} -> {report.results_path}"
    )


@app.command("compare")
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run directories; first = baseline.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("comparison"),
) -> None:
    """Compare runs: success, pass^k, exact match, F1, cost, flipping tasks and a paired sign test.

    Example: casework compare runs/baseline runs/candidate --out comparison/
    """
    from casework.reports import ReportError, write_comparison
    from casework.runs.store import unreadable_lines

    try:
        paths = write_comparison(run_dirs, out)
    except (ReportError, OSError) as exc:
        raise _fail(str(exc)) from None
    for run_dir in dict.fromkeys(run_dirs):
        for line in unreadable_lines(run_dir):
            err_console.print(f"[yellow]warning:[/] unreadable result line left out: {line}", soft_wrap=True)
    console.print(f"comparison: {paths['markdown']}\nhtml:       {paths['html']}")


# -- serve ---------------------------------------------------------------------------------------
@app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: pick a free one).")] = 8080,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads (default: the idle cores, 1 or 2).")
    ] = None,
    ctx: Annotated[int, typer.Option(min=1024, help="Context size per slot, in tokens.")] = 8192,
    parallel: Annotated[int, typer.Option(min=1, help="Requests decoded together (slots).")] = 1,
) -> None:
    """Serve the embedded local model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M) behind an OpenAI-compatible
    API on 127.0.0.1. Prints one line with its base URL and the log file (llama.cpp's own log goes
    there, under the user cache directory); Ctrl-C or SIGTERM stops it. Needs the 'local' extra.

    Example: casework serve --port 8080  # then: casework run --base-url http://127.0.0.1:8080/v1 --model local …
    """
    import signal

    from casework.llm.local import MODEL_NAME, LocalModelError, LocalServerProcess

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    server = LocalServerProcess(port=port, threads=threads, ctx=ctx, parallel=parallel)
    try:
        server.start()
        print(f"serving {MODEL_NAME} at {server.base_url} (log: {server.log_path}); Ctrl-C stops", flush=True)
        while server.exit_code() is None:
            time.sleep(0.5)
        raise _fail(server.failure() or "the embedded model server stopped", 1)
    except LocalModelError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


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
    domain: DomainOpt = DEFAULT_DOMAIN,
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


# -- bench local -----------------------------------------------------------------------------------
@bench_app.command("local")
def bench_local(
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads (default: the idle cores, 1 or 2).")
    ] = None,
    ctx: Annotated[int, typer.Option(min=1024, help="Context size per slot, in tokens.")] = 8192,
    max_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated per call (decode speed).")] = 32,
    policy: Annotated[Path | None, typer.Option(help="Replace the domain's policy with this file.")] = None,
    domain: DomainOpt = "retail",
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
    """The main job on the embedded defaults: build the default domain's database, write a small task file,
    replay and validate it, test the model on a few tasks with the scripted user (the embedded local
    model unless --model is given), and write the run's report.

    Re-running continues the same run directory (finished simulations are kept).

    Example: casework demo --out demo-out --run-tasks 2
    """
    from casework.domains import get_domain
    from casework.generate.templated import generate_templated
    from casework.tasks import save_tasks
    from casework.validation.replay import validate_tasks

    out.mkdir(parents=True, exist_ok=True)
    dom = get_domain(DEFAULT_DOMAIN)
    start = time.perf_counter()
    database = dom.database()
    built = time.perf_counter() - start
    tables = database.to_dict()
    counts = ", ".join(f"{len(tables[t])} {t}" for t in dom.tables)
    console.print(
        f"embedded {dom.name} database: {counts} "
        f"(built in {built:.2f} s, sha256 {database.canonical_hash()[:12]}…)"
    )
    tasks = generate_templated(dom, database, num_tasks, seed=seed)
    task_file = out / "tasks.json"
    save_tasks(tasks, task_file)
    results = validate_tasks(dom, database, tasks)
    table = Table(
        "task", "scenario", "actions", "valid", "changes", "final state", title="replay and validation"
    )
    table.columns[0].no_wrap = True  # whole task ids, even at 80 columns
    table.columns[0].min_width = max((len(t.id) for t in tasks), default=4)
    for column in table.columns[1:]:
        column.overflow = "fold"  # wrap long scenario and tool names rather than cut them
    for result in results:
        table.add_row(
            result.task.id,
            result.task.scenario_text,
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


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
