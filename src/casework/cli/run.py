"""``casework run`` and ``casework regrade``: test an agent on tasks; re-score saved runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from casework import aio
from casework.cli._app import (
    AddressOpt,
    BackendOpt,
    DataOpt,
    JudgeModelOpt,
    JudgeUrlOpt,
    ModelPathOpt,
    ProfileOpt,
    SplitOpt,
    WorkersOpt,
    _fail,
    _split_ids,
    app,
    console,
    err_console,
)
from casework.cli.tasks import tasks_validate
from casework.domains.registry import DEFAULT_DOMAIN


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
    model_path: ModelPathOpt = None,
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
    profile: ProfileOpt = None,
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
    backend: BackendOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    max_in_flight: Annotated[
        int | None,
        typer.Option(
            min=1, help="Cap on model calls in flight per endpoint replica (default: --concurrency)."
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="Response cache directory: identical requests are answered from it (off by default)."
        ),
    ] = None,
    experts: Annotated[
        str | None,
        typer.Option(
            help="Expert models the agent may consult via call_expert(expert, question): "
            "NAME=MODEL@BASE_URL,... (also [[experts]] in --models)."
        ),
    ] = None,
    tool_choice: Annotated[
        str, typer.Option(help="Agent tool_choice: auto | required | required-first (then auto).")
    ] = "auto",
) -> None:
    """Test an agent on a task file; write results.jsonl, manifest.json and summary.{json,csv} to --out.

    With no endpoint configured the embedded local model is started on 127.0.0.1 (casework[local]).
    --backend ray runs the simulations on Ray workers (casework[ray]); results.jsonl is the same.

    Example: casework run --tasks tasks.json --model gpt-4o-mini --api-key-env OPENAI_API_KEY --trials 3 --out runs/mini

    Example: casework run --tasks tasks.json --agent oracle --backend ray --workers 2 --out runs/ray

    Example: casework run --tasks tasks.json --model-path train-out/model.gguf --out runs/trained

    Example: casework run --tasks tasks.json --models models.toml --experts math=qwen3-8b@http://127.0.0.1:8001/v1 --tool-choice required-first --cache .cache/llm --out runs/x
    """

    from casework.llm import ConfigError
    from casework.runs.gates import parse_gates
    from casework.runs.preflight import make_run_config, preflight
    from casework.runs.runner import config_needs_judge, dry_run_report

    if validate_only:
        tasks_validate(
            tasks, domain=domain or DEFAULT_DOMAIN, data=data, out=None, split=split, profile=profile
        )
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
        checked = preflight(
            config, domain_given=domain is not None, validate=not no_validate, profile=profile
        )
        for note in checked.notes:
            err_console.print(note, markup=False, highlight=False)
        config = config.model_copy(update={"domain": checked.domain})
        choice, expert_configs = _choose_run_endpoints(
            config,
            models=models,
            agent_endpoint={"model": model, "base_url": base_url, "api_key_env": api_key_env},
            user_endpoint={"model": user_model, "base_url": user_base_url},
            judge_endpoint={"model": judge_model, "base_url": judge_base_url},
            max_in_flight=max_in_flight,
            experts=experts,
            tool_choice=tool_choice,
            backend=backend,
            cache=cache,
            needs_judge=config_needs_judge(config),
            agent_model_path=model_path,
        )
    except (ConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None

    from casework.runs.endpoints import experts_record

    config = config.model_copy(
        update={
            "agent_endpoint": choice.record("agent"),
            "user_endpoint": choice.record("user"),
            "judge_endpoint": choice.record("judge"),
            "experts": experts_record(expert_configs),
            "tool_choice": None if tool_choice == "auto" else tool_choice,
            "cache": cache,
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
    summary = _execute_run(
        config,
        choice,
        backend=(backend, address, workers),
        experts=expert_configs,
    )
    _print_summary(summary, out)
    _exit_on_infrastructure_errors_or_gates(summary, gates)


def _choose_run_endpoints(
    config,
    *,
    models: Path | None,
    agent_endpoint: dict,
    user_endpoint: dict,
    judge_endpoint: dict,
    max_in_flight: int | None,
    experts: str | None,
    tool_choice: str,
    backend: str,
    cache: Path | None,
    needs_judge: bool,
    agent_model_path: Path | None = None,
):
    """``(endpoint choice, expert configs)`` of a run (``run`` and ``collect``): flags > models file >
    the embedded model (``agent_model_path``: the embedded server on that GGUF for the agent).
    Raises ConfigError/ValueError (one line) for a bad combination."""
    from casework.runs.endpoints import choose_endpoints, load_experts
    from casework.sim.agents import TOOL_CHOICES

    if agent_model_path is not None and config.agent in ("oracle", "noop"):
        raise ValueError(f"--model-path serves the agent's model; --agent {config.agent} uses none")
    choice = choose_endpoints(
        models_file=models,
        agent_overrides={**agent_endpoint, "max_concurrency": max_in_flight},
        user_overrides={**user_endpoint, "max_concurrency": max_in_flight},
        needs_agent=config.agent not in ("oracle", "noop"),
        needs_user=config.user == "llm" and config.mode != "solo",
        judge_overrides=judge_endpoint,
        needs_judge=needs_judge,
        agent_model_path=agent_model_path,
    )
    expert_configs = load_experts(models, experts)
    if expert_configs and config.agent not in ("tool-calling",):
        raise ValueError(f"--experts needs the tool-calling agent, not {config.agent!r}")
    if tool_choice not in TOOL_CHOICES:
        raise ValueError(f"--tool-choice {tool_choice!r}: expected one of {', '.join(TOOL_CHOICES)}")
    return choice, expert_configs


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


def _execute_run(
    config,
    choice,
    backend=("local", None, None),
    *,
    experts=None,
    cache_dir=None,
    tool_choice: str = "auto",
    runner_factory=None,
) -> dict:
    """Open the model clients (starting the local model if needed) and run with live progress.

    A resumed run with nothing left to do only rewrites its summary: no model is started.
    ``runner_factory`` (default :func:`casework.runs.backends.make_runner`) builds the runner. The
    experts, the cache directory and the tool_choice policy are run settings (``config.experts``,
    ``config.cache``, ``config.tool_choice``: recorded in the manifest, read by the Ray workers);
    the arguments fill in what the configuration does not carry."""
    from casework.cli.live import RunDisplay
    from casework.llm import ConfigError
    from casework.llm.cache import ResponseCache
    from casework.llm.local import LocalModelError
    from casework.runs.backends import make_runner
    from casework.runs.endpoints import expert_clients, experts_record, judge_id, open_clients
    from casework.runs.judge import SMALL_JUDGE_WARNING
    from casework.runs.runner import RunAborted, RunStopped
    from casework.runs.signals import Interrupts, sigterm_as_interrupt
    from casework.runs.store import RunDirError, finished_pairs

    # what the configuration does not carry yet comes from the arguments: it is recorded in the
    # manifest and reaches the Ray workers with the configuration
    update = {
        "experts": experts_record(experts or {}) if config.experts is None else config.experts,
        "tool_choice": config.tool_choice or (None if tool_choice == "auto" else tool_choice),
        "cache": config.cache if config.cache is not None else cache_dir,
    }
    config = config.model_copy(update=update)
    out = config.out
    interrupts = Interrupts()
    try:
        kind, address, workers = backend
        # the judge's client is attached below
        runner = (runner_factory or make_runner)(
            config, backend=kind, address=address, workers=workers, require_judge=False
        )
        cache = ResponseCache(config.cache) if config.cache is not None else None
        if runner.finished_already():
            err_console.print(f"every simulation of {out} is finished; no model started")
            return runner.summarize()
        total, already = runner.progress_span(finished_pairs(out) if config.resume else set())
        servers: list = []
        with (
            sigterm_as_interrupt(interrupts),
            RunDisplay(err_console, total=total, done=already) as display,
            open_clients(
                choice,
                parallel=min(config.concurrency, 4),
                concurrency=config.concurrency,
                cache=cache,
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
            # the Ray workers open their own expert clients from config.experts (the tool_choice
            # policy comes from the configuration on both backends)
            local_experts = experts if kind == "local" else None
            expert_llms = expert_clients(local_experts or {}, concurrency=config.concurrency, cache=cache)
            if expert_llms:
                runner.agent_options["experts"] = expert_llms
            if judge_llm is not None:
                runner.set_judge(judge_llm, judge_id(choice))
            runner.on_progress = display.on_progress
            runner.endpoint_failure = (
                (lambda: next((f for s in servers if (f := s.failure())), None)) if servers else None
            )
            return aio.run(runner.run(), closing=[agent_llm, user_llm, judge_llm, *expert_llms.values()])
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
    from casework.runs.endpoints import choose_judge, judge_id, open_judge
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
        choice = choose_judge(
            models_file=models,
            model=judge_model,
            base_url=judge_base_url,
            api_key_env=judge_api_key_env,
            needed=needs,
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


@app.command("review")
def review_command(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by `casework run`.")],
    tasks: Annotated[Path | None, typer.Option("--tasks", help="Task file (default: the run's own).")] = None,
    judge_model: JudgeModelOpt = None,
    judge_base_url: JudgeUrlOpt = None,
    judge_api_key_env: Annotated[
        str | None, typer.Option(help="NAME of the judge's API-key variable.")
    ] = None,
    no_judge: Annotated[bool, typer.Option("--no-judge", help="Deterministic checks only.")] = False,
) -> None:
    """Attribute each failed simulation to the agent, the user simulator, the task or the infrastructure.

    Deterministic checks first (termination, judge errors, golden replay, abnormal user ends, facts
    the user revealed), then the judge (default: the embedded model) for the rest. Writes
    RUN_DIR/review.jsonl and review.json; `casework report` shows them.

    Example: casework review runs/local --judge-model gpt-4.1 --judge-base-url https://api.openai.com/v1
    """
    from casework.llm import ConfigError
    from casework.runs.review import review_run
    from casework.runs.store import RunDirError

    try:
        if no_judge:
            verdicts, summary = aio.run(review_run(run_dir, tasks_path=tasks))
        else:
            from casework.runs.endpoints import choose_judge, open_judge

            choice = choose_judge(model=judge_model, base_url=judge_base_url, api_key_env=judge_api_key_env)
            with open_judge(choice) as judge_llm:
                if "judge" in choice.local_roles:
                    err_console.print("[yellow]warning:[/] the embedded 0.5B model reviews the failures")
                verdicts, summary = aio.run(
                    review_run(run_dir, judge_llm=judge_llm, tasks_path=tasks), closing=[judge_llm]
                )
    except (RunDirError, ConfigError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    for v in verdicts:
        console.print(
            f"{v.task_id} trial {v.trial}: {v.category} ({v.source}) {'; '.join(v.reasons) or v.judge_reasoning or ''}"
        )
    without = summary["pass_rate_without_user_simulator_errors"]
    console.print(
        f"reviewed {summary['failures']} failures of {summary['simulations']} simulations: "
        + ", ".join(f"{k} {n}" for k, n in summary["by_category"].items())
        + f"; pass rate {summary['pass_rate'] or 0:.1%}, without user-simulator errors "
        + (f"{without:.1%}" if without is not None else "n/a")
        + f" -> {run_dir / 'review.jsonl'}"
    )
