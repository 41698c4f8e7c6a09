"""``casework demo``: the main job on the embedded defaults."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from casework.cli._app import (
    ModelPathOpt,
    _fail,
    app,
    console,
    err_console,
)
from casework.cli.run import _execute_run, _print_summary
from casework.domains.registry import DEFAULT_DOMAIN


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
    model_path: ModelPathOpt = None,
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
    from casework.runs.runner import RunConfig, config_needs_judge

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
    try:
        choice = choose_endpoints(
            models_file=None,
            agent_overrides={"model": model, "base_url": base_url, "api_key_env": api_key_env},
            user_overrides={},
            needs_agent=True,
            needs_user=False,
            # a refusal the policy demands is graded by a judge: the embedded model, as in `casework run`
            needs_judge=config_needs_judge(config),
            agent_model_path=model_path,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    config = config.model_copy(
        update={"agent_endpoint": choice.record("agent"), "judge_endpoint": choice.record("judge")}
    )
    summary = _execute_run(config, choice)
    _print_summary(summary, run_dir)
    paths = write_report(run_dir, tasks_path=task_file)
    console.print(f"report: {paths.html}")
