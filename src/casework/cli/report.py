"""``casework report`` and ``casework compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casework.cli._app import (
    _fail,
    app,
    console,
    err_console,
)


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
