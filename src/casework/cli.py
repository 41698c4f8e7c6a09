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

from casework import __version__

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
    typer.Option("--data", help="Database: a tau-bench layout directory or a db.json file (default: embedded)."),
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
    tasks: Annotated[Path, typer.Argument(help="Task file (casework JSON/JSONL, blueprint, tau-bench v1, tau2).")],
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
                (dump_states / f"{position}.json").write_text(json.dumps(result.state.to_dict()), encoding="utf-8")
    console.print(f"replayed {len(loaded)} tasks ({with_errors} with errors) -> {out}")


@tasks_app.command("validate")
def tasks_validate(
    tasks: Annotated[Path, typer.Argument(help="Task file to check.")],
    domain: DomainOpt = "retail",
    data: DataOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the problems as JSONL.")] = None,
) -> None:
    """Check tasks: unknown tools, schema violations, ids that do not exist or are not the user's,
    actions that error when replayed, write tasks that change nothing. Exit code 1 if any task is invalid.

    Example: casework tasks validate tasks.json --data ../data/retail
    """
    from casework.tasks.validate import validate_tasks

    dom, database, loaded = _load(domain, data, tasks)
    assert loaded is not None
    results = validate_tasks(dom, database, loaded)
    problems = [p for r in results for p in r.problems]
    for problem in problems:
        print(problem.line())
    if out is not None:
        out.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems), encoding="utf-8")
    invalid = sum(not r.valid for r in results)
    colour = "green" if not invalid else "red"
    err_console.print(f"[{colour}]{len(results) - invalid}/{len(results)} tasks valid[/], {len(problems)} problems")
    if invalid:
        raise typer.Exit(1)


@tasks_app.command("convert")
def tasks_convert(
    source: Annotated[Path, typer.Argument(help="Task file in any supported format.")],
    target: Annotated[Path, typer.Argument(help="Output file.")],
    to: Annotated[str, typer.Option("--to", help="casework (json/jsonl by extension) | blueprint | tau2")] = "casework",
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


# -- bench -----------------------------------------------------------------------------------------
@bench_app.command("replay")
def bench_replay(
    tasks: Annotated[Path | None, typer.Option("--tasks", help="Task file (default: 200 sampled tasks).")] = None,
    data: DataOpt = None,
    domain: DomainOpt = "retail",
    repeats: Annotated[int, typer.Option(help="Time each task this many times; keep the best.")] = 3,
    naive_tasks: Annotated[int, typer.Option(help="Tasks to time with the naive reload-and-rehash reference.")] = 30,
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


# -- demo ------------------------------------------------------------------------------------------
@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Directory for the demo's files.")] = Path("demo-out"),
    num_tasks: Annotated[int, typer.Option("--num-tasks", "-n", min=1)] = 8,
    seed: int = 0,
) -> None:
    """The main job on the embedded defaults: build the retail database, write a small task file,
    replay and validate it, print a summary.

    Example: casework demo --out demo-out
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
    table = Table("task", "scenario", "actions", "valid", "changes", "final state", title="replay and validation")
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


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
