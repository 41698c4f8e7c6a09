"""``casework tasks``: replay, validate, convert, sample and describe task files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from casework.cli._app import (
    DataOpt,
    DomainOpt,
    ProfileOpt,
    SplitOpt,
    _fail,
    _load,
    console,
    err_console,
    tasks_app,
)
from casework.domains.registry import DEFAULT_DOMAIN


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
    profile: ProfileOpt = None,
) -> None:
    """Replay each task's ground-truth actions on a fresh fork; write observations, errors, hash and diff.

    Example: casework tasks replay tasks.json --data ../data/retail --out replay.jsonl --dump-states states/
    """
    from casework.tasks.replay import replay_task

    dom, database, loaded = _load(domain, data, tasks, split, profile)
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
    profile: ProfileOpt = None,
) -> None:
    """Check tasks: unknown tools, schema violations, ids that do not exist or are not the user's,
    actions that error when replayed, write tasks that change nothing, policy violations. Exit code 1
    if any task is invalid.

    Example: casework tasks validate tasks.json --data ../data/retail
    """
    from casework.validation.stages import validate_all

    dom, database, loaded = _load(domain, data, tasks, split, profile)
    assert loaded is not None
    results = validate_all(dom, database, loaded, check_user_id=not no_user_id_validation)
    problems = [p for r in results for p in r.problems]
    for problem in problems:
        print(problem.line())
    from casework.validation.profiles import profile_warnings

    warnings = profile_warnings(dom, database, loaded)  # verdicts that depend on a reproduced defect
    for line in warnings:
        print(line)
    if out is not None:
        out.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems), encoding="utf-8")
    invalid = sum(not r.valid for r in results)
    colour = "green" if not invalid else "red"
    ungraded = sum(not r.task.has_ground_truth for r in results)
    err_console.print(
        f"[{colour}]{len(results) - invalid}/{len(results)} tasks valid[/], {len(problems)} problems"
        + (f", {ungraded} without ground truth (cannot be graded)" if ungraded else "")
        + (f", {len(warnings)} warnings" if warnings else "")
    )
    if invalid:
        raise typer.Exit(1)


@tasks_app.command("audit")
def tasks_audit(
    tasks: Annotated[Path, typer.Argument(help="Task file to audit (any supported format).")],
    out: Annotated[Path, typer.Option("--out", help="Markdown report to write.")],
    domain: DomainOpt = DEFAULT_DOMAIN,
    data: DataOpt = None,
    split: SplitOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Replay and validate every task and write a markdown report to file upstream: per task what
    fails, at which action, the observation, the rule broken, whether the verdict depends on the
    order of items or on a reproduced defect, and whether a do-nothing agent would pass it.

    Example: casework tasks audit tau3/retail/tasks_train.json --data tau3/retail/db.json --out audit.md
    """
    from casework.validation.audit import audit_tasks, render_markdown

    dom, database, loaded = _load(domain, data, tasks, split, profile)
    assert loaded is not None
    report = audit_tasks(dom, database, loaded, source=str(tasks), data=str(data) if data else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_markdown(report), encoding="utf-8")
    counts = report.counts()
    console.print(
        f"audited {counts['tasks']} tasks ({dom.name}@{dom.profile}): {counts['clean']} clean, "
        f"{counts['with_problems']} with problems, {counts['order_dependent']} order-dependent, "
        f"{counts['profile_dependent']} profile-dependent, {counts['do_nothing_passes']} pass by doing nothing "
        f"-> {out}"
    )


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
    profile: ProfileOpt = None,
    refusals: Annotated[
        str, typer.Option(help="grounded (a refused request needs the refusal said, as judged) | state-only.")
    ] = "grounded",
) -> None:
    """Write a small set of templated tasks sampled from the database (no LLM).

    Example: casework tasks sample -n 20 --seed 3 --out tasks.json

    Example: casework tasks sample -n 20 --refusals state-only --out no-judge.json
    """
    from casework.generate.templated import generate_templated
    from casework.tasks import save_tasks
    from casework.tasks.refusal import check_mode

    try:
        check_mode(refusals)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    dom, database, _ = _load(domain, data, profile=profile)
    sampled = generate_templated(dom, database, num_tasks, seed=seed, refusals=refusals)
    try:
        save_tasks(sampled, out)
    except OSError as exc:
        raise _fail(f"--out {out}: cannot write the task file ({exc.filename}: {exc.strerror})") from None
    console.print(f"wrote {len(sampled)} tasks to {out}")


@tasks_app.command("stats")
def tasks_stats(
    tasks: Annotated[Path, typer.Argument(help="Task file in any supported format.")],
    domain: DomainOpt = DEFAULT_DOMAIN,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
    split: SplitOpt = None,
    profile: ProfileOpt = None,
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
    from casework.tasks.profiles import domain_spec

    stats = task_stats(loaded, get_domain(domain_spec(domain, profile, tasks)))
    print(json.dumps(stats, indent=2) if as_json else format_stats(stats))
