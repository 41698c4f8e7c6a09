"""``casework collect``: rejection sampling of agent trajectories (APIGen-MT phase 2).

The command shares ``casework run``'s option declarations: its signature is built from
:func:`casework.cli.run.run_command`'s parameters (those in :data:`SHARED_OPTIONS`, same names, help
and defaults) plus the options of its own, so the two commands cannot drift apart. The work is done
by :mod:`casework.runs.collect` through ``run``'s own helpers (endpoint choice, execution with live
progress, exit codes).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from casework.cli import run as run_cli
from casework.cli._app import _fail, _split_ids, app, console, err_console
from casework.domains.registry import DEFAULT_DOMAIN

#: the options of ``casework run`` that ``collect`` takes too, in this order
SHARED_OPTIONS = (
    "tasks",
    "out",
    "model",
    "base_url",
    "api_key_env",
    "model_path",
    "models",
    "user",
    "user_model",
    "user_base_url",
    "persona",
    "enhance_query",
    "mode",
    "agent",
    "concurrency",
    "task_ids",
    "split",
    "judge_model",
    "judge_base_url",
    "seed",
    "max_steps",
    "max_errors",
    "parallel_tool_calls",
    "timeout",
    "policy",
    "domain",
    "data",
    "profile",
    "resume",  # accepted for the messages that say "continue with --resume"; a collection always continues
    "retry_infrastructure",
    "no_validate",
    "backend",
    "address",
    "workers",
    "max_in_flight",
    "experts",
    "tool_choice",
)

OWN_OPTIONS: dict[str, tuple[Any, Any]] = {  # name -> (annotation, default)
    "attempts": (
        Annotated[int, typer.Option("--attempts", help="Attempts per task at most (trials 0..N-1).")],
        inspect.Parameter.empty,
    ),
    "successes": (
        Annotated[
            int,
            typer.Option(help="Stop a task at this many accepted (unique reward-1) trajectories."),
        ],
        1,
    ),
    "best_of_n": (
        Annotated[
            int,
            typer.Option(
                "--best-of-n",
                help="Best-of-N user turns: the LLM user samples N candidate messages per turn and the "
                "judge (--judge-model) scores their fidelity to the task 0-10; the best is sent.",
            ),
        ],
        1,
    ),
}


def collect_command(**options: Any) -> None:
    """Rejection sampling: attempt each task up to --attempts times, keep the unique reward-1 trajectories.

    A task stops at its first accepted trajectory (--successes K: at the K-th). Accepted = reward 1
    and a signature (the agent's tool calls with normalised arguments + the final state's hash) not
    seen among the task's accepted ones. Every attempt is a result line of --out (a normal run
    directory: `casework report`, `casework export --min-reward 1 --dedupe` read it); collect.json
    holds per task attempts/accepted, per scenario the acceptance rate with a Wilson interval, and
    totals. Re-running with the same --out continues the collection (nothing finished runs again).

    Example: casework collect --tasks tasks.json --attempts 3 --out runs/collect --model gpt-4o-mini --api-key-env OPENAI_API_KEY --user llm

    Example: casework collect --tasks tasks.json --attempts 4 --successes 2 --out runs/c2 --user llm --best-of-n 3 --judge-model gpt-4.1 --judge-base-url https://api.openai.com/v1

    Example: casework collect --tasks tasks.json --attempts 1 --agent oracle --out runs/oracle-collect
    """
    o = options
    problem = _check_counts(o["attempts"], o["successes"], o["best_of_n"], o["user"], o["mode"])
    if problem:
        raise _fail(problem)
    best_of_n = o["best_of_n"] if o["best_of_n"] > 1 else None
    if best_of_n and o["judge_model"] is None and not _models_have_judge(o["models"]):
        raise _fail("--best-of-n needs a judge endpoint: pass --judge-model (and --judge-base-url) or a [judge] "
                    "section in --models")  # fmt: skip
    config, choice, expert_configs = _configure(o, best_of_n)
    from casework.runs.collect import make_collect_runner

    summary = run_cli._execute_run(
        config,
        choice,
        backend=(o["backend"], o["address"], o["workers"]),
        experts=expert_configs,
        tool_choice=o["tool_choice"],
        runner_factory=make_collect_runner,
    )
    print_acceptance(summary["collect"], config.out)
    run_cli._exit_on_infrastructure_errors_or_gates(summary, {})


def _check_counts(attempts: int, successes: int, best_of_n: int, user: str, mode: str) -> str | None:
    if attempts < 1:
        return f"--attempts {attempts}: expected at least 1"
    if successes < 1:
        return f"--successes {successes}: expected at least 1"
    if successes > attempts:
        return f"--successes {successes} is more than --attempts {attempts}: a task cannot succeed more often than it is attempted"
    if best_of_n < 1:
        return f"--best-of-n {best_of_n}: expected at least 1"
    if best_of_n > 1 and (user != "llm" or mode == "solo"):
        return f"--best-of-n {best_of_n} needs the LLM user (--user llm, not solo mode); the {user} user has no candidates to sample"
    return None


def _models_have_judge(models: Path | None) -> bool:
    if models is None:
        return False
    from casework.llm import ConfigError, load_models_config

    try:
        return load_models_config(models).judge is not None
    except (ConfigError, OSError, ValueError):
        return False  # the models file's own error is reported when the endpoints are chosen


def _configure(o: dict[str, Any], best_of_n: int | None):
    """The collection's RunConfig (attempts are trials; it always continues its --out) and endpoints."""
    from casework.llm import ConfigError
    from casework.runs.collect import check_collect_directory
    from casework.runs.preflight import make_run_config, preflight
    from casework.runs.runner import config_needs_judge
    from casework.runs.store import RunDirError

    try:
        config = make_run_config(
            tasks=o["tasks"],
            out=o["out"],
            domain=o["domain"] or DEFAULT_DOMAIN,
            data=o["data"],
            policy=o["policy"],
            agent=o["agent"],
            mode=o["mode"],
            user=o["user"],
            enhance_query=o["enhance_query"],
            persona=o["persona"],
            trials=o["attempts"],
            concurrency=o["concurrency"],
            task_ids=_split_ids(o["task_ids"]),
            split=o["split"],
            seed=o["seed"],
            max_steps=o["max_steps"],
            max_errors=o["max_errors"],
            parallel_tool_calls=o["parallel_tool_calls"],
            simulation_timeout_s=o["timeout"],
            resume=True,  # a collection always continues its directory
            retry_infrastructure=o["retry_infrastructure"],
            collect_successes=o["successes"],
            best_of_n=best_of_n,
        )
        checked = preflight(
            config, domain_given=o["domain"] is not None, validate=not o["no_validate"], profile=o["profile"]
        )
        for note in checked.notes:
            err_console.print(note, markup=False, highlight=False)
        config = config.model_copy(update={"domain": checked.domain})
        if best_of_n:
            from casework.domains import get_domain

            if get_domain(config.domain).user_toolbox is not None:
                raise ValueError(
                    f"--best-of-n: the {config.domain} domain's user acts on a device (dual control); "
                    "sampled candidates would each change the state, which best-of-N cannot undo"
                )
        choice, expert_configs = run_cli._choose_run_endpoints(
            config,
            models=o["models"],
            agent_endpoint={"model": o["model"], "base_url": o["base_url"], "api_key_env": o["api_key_env"]},
            user_endpoint={"model": o["user_model"], "base_url": o["user_base_url"]},
            judge_endpoint={"model": o["judge_model"], "base_url": o["judge_base_url"]},
            max_in_flight=o["max_in_flight"],
            experts=o["experts"],
            tool_choice=o["tool_choice"],
            backend=o["backend"],
            cache=None,
            needs_judge=config_needs_judge(config) or best_of_n is not None,
            agent_model_path=o["model_path"],
        )
    except (ConfigError, ValueError, RunDirError) as exc:
        raise _fail(str(exc)) from None
    config = config.model_copy(
        update={
            "agent_endpoint": choice.record("agent"),
            "user_endpoint": choice.record("user"),
            "judge_endpoint": choice.record("judge"),
        }
    )
    try:
        check_collect_directory(config)
    except RunDirError as exc:
        raise _fail(str(exc)) from None
    return config, choice, expert_configs


def print_acceptance(collect: dict[str, Any], out: Path) -> None:
    """The acceptance rate per scenario (and in total) as a table: tasks collected / tasks, attempts,
    accepted trajectories, duplicates, acceptance rate per attempt and its Wilson 95 % interval."""
    from rich import box

    table = Table(
        title=f"collection ({out}): up to {collect['attempts_per_task']} attempts, "
        f"{collect['successes_per_task']} success(es) per task",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("scenario", no_wrap=True)
    for name in ("tasks", "attempts", "accepted", "dup", "rate", "95% CI"):
        table.add_column(name, justify="right", no_wrap=True)

    def row(name: str, r: dict[str, Any], **style: Any) -> None:
        rate = r.get("acceptance_rate")
        table.add_row(
            name,
            f"{r['tasks_collected']}/{r['tasks']}",
            str(r["attempts"]),
            str(r["accepted"]),
            str(r["duplicates"]),
            "-" if rate is None else f"{rate:.0%}",
            "-" if rate is None else f"{r['wilson_low']:.0%}-{r['wilson_high']:.0%}",
            **style,
        )

    for name, r in collect["scenarios"].items():
        row(name, r)
    totals = collect["totals"]
    table.add_section()
    row("total", totals, style="bold")
    console.print(table)
    extra = [
        f"{totals[k]} {k.removeprefix('tasks_')}" for k in ("tasks_exhausted", "tasks_pending") if totals[k]
    ]
    if totals["infrastructure_errors"]:
        extra.append(f"{totals['infrastructure_errors']} infrastructure error(s), not counted as attempts")
    console.print(
        f"{totals['accepted']} trajectories accepted from {totals['attempts']} attempts"
        + (f" ({'; '.join(extra)})" if extra else "")
        + f" -> {Path(out) / 'collect.json'}",
        highlight=False,
    )


def _signature() -> inspect.Signature:
    """``run``'s shared parameters (same annotations and defaults) with collect's own after ``out``."""
    shared = inspect.signature(run_cli.run_command, eval_str=True).parameters
    params = [shared[name] for name in SHARED_OPTIONS[:2]]
    params += [
        inspect.Parameter(
            name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default
        )
        for name, (annotation, default) in OWN_OPTIONS.items()
    ]
    params += [shared[name] for name in SHARED_OPTIONS[2:]]
    return inspect.Signature(params)


collect_command.__signature__ = _signature()  # type: ignore[attr-defined]
collect_command.__annotations__ = {
    p.name: p.annotation for p in collect_command.__signature__.parameters.values()
}  # type: ignore[attr-defined]
app.command("collect")(collect_command)
