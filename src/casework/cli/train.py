"""The training commands: ``casework export`` and ``casework train sft|grpo``.

Heavy libraries (torch, transformers, TRL, PEFT,
datasets) are imported inside the commands that need them, never at import time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from casework.cli._app import app, bench_app, console, err_console

train_app = typer.Typer(
    help="Train agents on exported runs (needs the train extra of casework).", no_args_is_help=True
)

TRAIN_HINT = "the training commands need the train extra: pip install 'casework[train]'"


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # long paths stay whole
    return typer.Exit(code)


def _need_train_extra(*modules: str) -> None:
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise _fail(f"{module} is not installed; {TRAIN_HINT}")


def export(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories written by `casework run`.")],
    fmt: Annotated[str, typer.Option("--format", help="sft | sharegpt | grpo | tau3")] = "sft",
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("dataset"),
    min_reward: Annotated[
        float | None,
        typer.Option("--min-reward", help="Keep trajectories with reward >= this (default 1; tau3: 0, all)."),
    ] = None,
    dedupe: Annotated[
        bool, typer.Option("--dedupe", help="Drop trajectories identical to a kept one.")
    ] = False,
    split_by: Annotated[str, typer.Option("--split-by", help="task (train/test by task id) | none")] = "task",
    test_fraction: Annotated[
        float, typer.Option("--test-fraction", help="Fraction of task ids held out as test.")
    ] = 0.0,
    per_turn: Annotated[
        bool, typer.Option("--per-turn", help="sft: one prompt-completion example per assistant turn.")
    ] = False,
    hf: Annotated[
        bool, typer.Option("--hf", help="Also write a Hugging Face DatasetDict (hf/) and parquet files.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the task split.")] = 0,
) -> None:
    """Export graded runs as training data: SFT chat JSONL, ShareGPT (APIGen-MT-5k layout) or GRPO prompts;
    or as a τ³-bench results file (--format tau3: results.json, readable by τ³'s tools).

    Writes train.jsonl / test.jsonl (tau3: results.json), dataset_card.json and README.md (counts,
    domains, scenarios, reward filter, source runs, which task ids went to train and test).

    Example: casework export runs/oracle runs/local --format sft --min-reward 1 --dedupe --test-fraction 0.2 --out data/sft

    Example: casework export runs/local --format tau3 --out tau3-results  # tau3-results/results.json
    """
    from casework.train.export import ExportError, export_runs
    from casework.train.records import RecordError
    from casework.train.tau3_export import Tau3ExportError

    if hf:
        _need_train_extra("datasets")
    try:
        result = export_runs(
            run_dirs,
            out,
            fmt=fmt,
            min_reward=min_reward,
            dedupe=dedupe,
            split_by=split_by,
            test_fraction=test_fraction,
            per_turn=per_turn,
            hf=hf,
            seed=seed,
        )
    except (ExportError, RecordError, Tau3ExportError, OSError) as exc:
        raise _fail(str(exc)) from None
    card = result.card
    c = card["counts"]
    console.print(
        f"{fmt}: train {card['examples']['train']} examples, test {card['examples']['test']} "
        f"({c['kept']} of {c['trajectories_read']} trajectories kept; {c['below_min_reward']} below reward "
        f"{card['min_reward']}, {c['duplicates_removed']} duplicates, {c['infrastructure_errors_excluded']} "
        f"infrastructure errors excluded)"
    )
    console.print(f"dataset: {out}  card: {out / 'README.md'}")


def _train(kind: str, **options) -> None:
    _need_train_extra("torch", "transformers", "trl", "peft", "datasets")
    from casework.train.trainers import TrainError, TrainSettings, train_grpo, train_grpo_env, train_sft

    settings = TrainSettings(**options)
    try:
        summary = {"sft": train_sft, "grpo": train_grpo, "grpo-env": train_grpo_env}[kind](settings)
    except (TrainError, OSError) as exc:
        raise _fail(str(exc)) from None
    if summary.first_loss is not None:
        console.print(f"loss: {summary.first_loss:.4f} -> {summary.last_loss:.4f} over {summary.steps} steps")
    if summary.final_loss is not None:
        console.print(f"loss of the trained model on the training rows: {summary.final_loss:.4f}")
    if summary.first_reward is not None:
        console.print(f"reward: {summary.first_reward:.4f} -> {summary.last_reward:.4f}")
    if summary.params_changed is not None:
        console.print(
            f"parameters changed: {summary.params_changed} (max |delta| {summary.max_param_change:.3g})"
        )
    console.print(
        f"{summary.device}: {summary.seconds_per_step:.2f} s/step, peak RSS {summary.peak_rss_mb:.0f} MB; "
        f"model: {settings.out / 'final'}; curves: {settings.out / 'curves.png'}, {settings.out / 'curves.csv'}"
    )
    final = settings.out / "final"
    console.print(
        "next:\n"
        f"  casework train merge --adapter {final} --base {settings.base} --out {settings.out / 'model.gguf'}\n"
        f"  casework train eval --data DATA --model-path {settings.out / 'model.gguf'}\n"
        f"  casework serve --model {settings.out / 'model.gguf'} --port 8080   # serve it\n"
        f"  casework run --tasks TASKS --model-path {settings.out / 'model.gguf'} --out runs/trained\n"
        "  casework compare runs/base runs/trained",
        highlight=False,
    )


DataArg = Annotated[Path, typer.Option("--data", help="Dataset directory from `casework export`.")]
BaseOpt = Annotated[
    str,
    typer.Option(
        "--base",
        help="tiny (random 2-layer model, for smoke tests) | embedded (the embedded GGUF) | a HF model dir/id.",
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", help="Output directory (checkpoints, final/, curves).")]
StepsOpt = Annotated[int, typer.Option("--max-steps", help="Optimizer steps.")]
LoraOpt = Annotated[int, typer.Option("--lora", help="LoRA rank (0 = full fine-tune).")]
LrOpt = Annotated[float, typer.Option("--lr", help="Learning rate.")]
SaveOpt = Annotated[
    int, typer.Option("--save-steps", help="Checkpoint every N steps (0 = only the final model).")
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")]
SeedOpt = Annotated[int, typer.Option("--seed")]


@train_app.command("sft")
def train_sft_command(
    data: DataArg,
    out: OutOpt = Path("train-out/sft"),
    base: BaseOpt = "embedded",
    max_steps: StepsOpt = 20,
    lora: LoraOpt = 8,
    lr: LrOpt = 2e-4,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 1,
    max_length: Annotated[
        int | None, typer.Option("--max-length", help="Truncate sequences (tokens).")
    ] = None,
    save_steps: SaveOpt = 0,
    resume: ResumeOpt = False,
    seed: SeedOpt = 0,
    final_loss: Annotated[
        bool,
        typer.Option("--final-loss", help="At the end, the trained model's loss on the training rows."),
    ] = False,
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer, LoRA by default) with loss on the assistant's tokens only.

    Example: casework train sft --data data/sft --base embedded --max-steps 20 --lora 8 --out train-out/sft
    """
    _train(
        "sft",
        data=data,
        out=out,
        base=base,
        max_steps=max_steps,
        lora_r=lora,
        learning_rate=lr,
        batch_size=batch_size,
        max_length=max_length,
        save_steps=save_steps,
        resume=resume,
        seed=seed,
        final_loss=final_loss,
    )


@train_app.command("grpo")
def train_grpo_command(
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset directory from `casework export --format grpo`.")
    ] = None,
    out: OutOpt = Path("train-out/grpo"),
    base: BaseOpt = "embedded",
    max_steps: StepsOpt = 10,
    lora: LoraOpt = 8,
    lr: LrOpt = 1e-5,
    num_generations: Annotated[int, typer.Option("--num-generations", help="Completions per prompt.")] = 4,
    max_completion_length: Annotated[int, typer.Option("--max-completion-length", help="Tokens.")] = 96,
    reward: Annotated[
        list[str] | None, typer.Option("--reward", help="shaped | execution | similarity (repeatable).")
    ] = None,
    multi_turn: Annotated[
        bool,
        typer.Option(
            "--multi-turn",
            help="Play whole episodes of --tasks with tools (TRL environment_factory over the Gymnasium "
            "environment) instead of scoring single turns of --data.",
        ),
    ] = False,
    tasks: Annotated[Path | None, typer.Option("--tasks", help="--multi-turn: the task file.")] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="--multi-turn: the tasks' domain.")] = None,
    env_data: Annotated[
        Path | None, typer.Option("--env-data", help="--multi-turn: the database (default: the domain's).")
    ] = None,
    max_tool_calls: Annotated[
        int, typer.Option("--max-tool-calls", min=1, help="--multi-turn: tool-calling rounds per rollout.")
    ] = 4,
    save_steps: SaveOpt = 0,
    resume: ResumeOpt = False,
    seed: SeedOpt = 0,
) -> None:
    """GRPO (TRL GRPOTrainer) on exported prompts, scored by the shaped / execution / similarity rewards;
    with --multi-turn, on whole episodes of a task file where the model calls the domain's tools on a
    fork of the database and the environment's shaped reward scores the calls it made.

    Example: casework train grpo --data data/grpo --base embedded --max-steps 10 --reward shaped --reward execution

    Example: casework train grpo --multi-turn --tasks tasks.json --base embedded --max-steps 5 --reward similarity
    """
    if multi_turn:
        if data is not None:
            raise _fail("--multi-turn plays the episodes of --tasks; drop --data")
        if tasks is None:
            raise _fail("--multi-turn needs --tasks TASK_FILE")
    else:
        if data is None:
            raise _fail(
                "--data DIR is needed (a `casework export --format grpo` dataset), or use --multi-turn"
            )
        if tasks is not None or domain is not None or env_data is not None:
            raise _fail("--tasks, --domain and --env-data work with --multi-turn only")
    _train(
        "grpo-env" if multi_turn else "grpo",
        data=data or Path("."),
        out=out,
        base=base,
        max_steps=max_steps,
        lora_r=lora,
        learning_rate=lr,
        num_generations=num_generations,
        max_completion_length=max_completion_length,
        rewards=tuple(reward or (("shaped", "similarity"))),
        save_steps=save_steps,
        resume=resume,
        seed=seed,
        tasks=tasks,
        domain=domain,
        env_data=env_data,
        max_tool_calls=max_tool_calls,
    )


@train_app.command("merge")
def train_merge_command(
    adapter: Annotated[
        Path, typer.Option("--adapter", help="The final/ folder of `casework train` (a LoRA adapter).")
    ],
    out: Annotated[Path, typer.Option("--out", help="The GGUF file to write.")] = Path(
        "train-out/model.gguf"
    ),
    base: BaseOpt = "embedded",
    template: Annotated[
        Path | None,
        typer.Option(
            "--template",
            help="GGUF whose metadata (tokenizer, chat template) to keep; default: the embedded model's.",
        ),
    ] = None,
    qtype: Annotated[str, typer.Option("--type", help="Q8_0 | F16 | F32 for the 2-D weights.")] = "Q8_0",
) -> None:
    """Merge a LoRA adapter into its base model and write a GGUF the embedded llama.cpp server loads.

    Example: casework train merge --adapter train-out/sft/final --out train-out/model.gguf
    """
    _need_train_extra("torch", "transformers", "peft", "gguf")
    from casework.train.gguf_export import GGUFExportError, merge_adapter, write_gguf

    if template is None:
        if base != "embedded":
            raise _fail(
                "--template GGUF is needed for a base other than the embedded model (its tokenizer metadata)"
            )
        from casework.train.models import embedded_paths

        directory, name = embedded_paths()
        template = directory / name
    try:
        model, _ = merge_adapter(adapter, base)
        out.parent.mkdir(parents=True, exist_ok=True)
        written = write_gguf(model, out, template=template, qtype=qtype)
    except (GGUFExportError, OSError) as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"wrote {out} ({written['bytes'] / 2**20:.0f} MiB, {written['tensors']} tensors, {'/'.join(written['types'])})"
    )
    console.print(
        f"serve it:   casework serve --model {out} --port 8080\n"
        f"re-test it: casework train eval --data DATA --model-path {out}\n"
        f"            casework run --tasks TASKS --model-path {out} --out runs/trained"
    )


@train_app.command("eval")
def train_eval_command(
    data: DataArg,
    split: Annotated[str, typer.Option("--split", help="Which file of --data: test | train.")] = "test",
    model: Annotated[str | None, typer.Option("--model", help="Model name at --base-url.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Environment variable holding the API key.")
    ] = None,
    model_path: Annotated[
        Path | None,
        typer.Option("--model-path", help="A GGUF file to serve with the embedded llama.cpp server."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Evaluate the first N prefixes only.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency")] = 1,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the report (with per-item scores).")
    ] = None,
) -> None:
    """Step-level evaluation: the model's next agent turn for each exported prefix, scored without a user.

    Reports JSON-valid rate of tool calls, tool-name accuracy, argument exact match (normalised),
    shaped reward, and text answers where a tool was expected. Temperature 0. With neither --base-url
    nor --model-path the embedded model is used.

    Example: casework train eval --data data/grpo --model-path train-out/sft/model.gguf --limit 50 --json eval.json
    """
    from contextlib import ExitStack

    from casework import aio
    from casework.llm import EndpointConfig, LLMClient
    from casework.train.evaluate import EvalError, evaluate_endpoint, load_items, report_dict

    try:
        items = load_items(data, split, limit)
    except EvalError as exc:
        raise _fail(str(exc)) from None
    if not items:
        raise _fail(f"{data}: no prefixes to evaluate")
    with ExitStack() as stack:
        if base_url is None:
            from casework.llm.local import LocalModelError, LocalModelServer
            from casework.runs.endpoints import local_endpoint

            if model_path is not None and not model_path.exists():
                raise _fail(f"--model-path {model_path}: no such file")
            err_console.print(f"starting the embedded server on {model_path or 'the embedded model'}…")
            try:
                server = stack.enter_context(LocalModelServer(model_path=model_path, verbosity=-1))
            except LocalModelError as exc:
                raise _fail(str(exc)) from None
            config = local_endpoint(server.base_url)
        else:
            config = EndpointConfig(
                model=model or "default",
                base_url=base_url,
                api_key_env=api_key_env,
                temperature=0.0,
                parse_text_tool_calls=True,
            )
        client = LLMClient(config, role="agent")
        report = aio.run(evaluate_endpoint(items, client, concurrency=concurrency), closing=[client])

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    console.print(
        f"{report.items} prefixes ({report.expected_call_items} expecting a call, {report.expected_text_items} text)\n"
        f"  JSON-valid tool calls:      {pct(report.json_valid_rate)} of {report.tool_calls_made}\n"
        f"  tool-name accuracy:         {pct(report.tool_name_accuracy)}\n"
        f"  argument exact match:       {pct(report.argument_exact_match)}\n"
        f"  shaped reward (normalised): {report.shaped_reward:.3f}\n"
        f"  text when a tool expected:  {pct(report.text_when_tool_expected)}\n"
        f"  tool when text expected:    {pct(report.tool_when_text_expected)}",
        highlight=False,
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report_dict(report), indent=2), encoding="utf-8")


def bench_train_command(
    out: Annotated[Path, typer.Option("--out", help="Working directory.")] = Path("bench-train"),
    steps: Annotated[int, typer.Option("--steps", min=1, help="LoRA SFT steps on the embedded model.")] = 3,
    grpo_steps: Annotated[
        int, typer.Option("--grpo-steps", min=0, help="GRPO steps on the embedded model (0: skip GRPO).")
    ] = 1,
    rows: Annotated[
        int, typer.Option("--rows", min=1, help="Training rows (agent turns that call a tool).")
    ] = 1,
    num_generations: Annotated[
        int, typer.Option("--num-generations", min=2, help="GRPO completions per prompt.")
    ] = 2,
    max_completion_length: Annotated[
        int, typer.Option("--max-completion-length", min=1, help="GRPO completion tokens.")
    ] = 16,
    reuse: Annotated[
        bool, typer.Option("--reuse", help="Skip the training phases whose outputs are already in --out.")
    ] = False,
) -> None:
    """The train -> serve -> re-test loop on the real embedded model, timed: export, LoRA SFT, merge to
    GGUF, GRPO with the shaped reward, `casework serve --model`, `casework run --model-path`.

    Prints seconds per step, tokens/s, peak RSS and loss before/after (SFT), reward before/after and
    whether the parameters changed (GRPO), the GGUF's size, what the served model called for a tool
    request and in one `casework run` task. Each phase is the real command in a child process; the
    figures go to OUT/bench_train.json as each phase ends. Tens of minutes and ~8 GB RAM on a 2-core CPU.

    Example: casework bench train --steps 1 --grpo-steps 1 --out bench-train
    """
    _need_train_extra("torch", "transformers", "trl", "peft", "gguf")
    from casework.llm.local import LocalModelError
    from casework.train.bench import BenchError, bench_train

    try:
        result = bench_train(
            out,
            steps=steps,
            grpo_steps=grpo_steps,
            rows=rows,
            num_generations=num_generations,
            max_completion_length=max_completion_length,
            reuse=reuse,
            on_phase=lambda message: err_console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}"),
        )
    except (BenchError, LocalModelError, OSError) as exc:
        raise _fail(f"{exc} (figures so far: {out / 'bench_train.json'})") from None
    console.print_json(json.dumps(result))
    console.print(bench_lines(result), highlight=False, markup=False)


def bench_lines(result: dict) -> str:
    """The benchmark's figures as a few lines of text."""

    def num(value, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    sft = result["sft"]
    lines = [
        f"sft:   {num(sft.get('seconds_per_step'), '.1f')} s/step, {num(sft.get('tokens_per_second'), '')} tokens/s, "
        f"peak RSS {num(sft.get('peak_rss_mb'), '.0f')} MB, loss {num(sft.get('first_loss'), '.3f')} -> "
        f"{num(sft.get('final_loss', sft.get('last_loss')), '.3f')} (the trained model on the same rows)",
        f"gguf:  {result.get('gguf_mib')} MiB (merge + write {result.get('merge_and_gguf_s', '-')} s)",
    ]
    if "grpo" in result:
        grpo = result["grpo"]
        lines.append(
            f"grpo:  {num(grpo.get('seconds_per_step'), '.1f')} s/step, peak RSS {num(grpo.get('peak_rss_mb'), '.0f')} MB, "
            f"reward {num(grpo.get('first_reward'), '.3f')} -> {num(grpo.get('last_reward'), '.3f')}, "
            f"parameters changed: {grpo.get('params_changed')} (max |delta| {num(grpo.get('max_param_change'), '.3g')})"
        )
    serve, run = result["serve"], result["run"]
    lines.append(
        f"serve: {serve['served_name']} loaded in {serve['load_s']} s; tool calls for a tool request: "
        f"{[c['name'] for c in serve['tool_calls']]}"
    )
    lines.append(
        f"run:   {run['termination']}, tool calls {run['tool_calls']}, reward {run['reward']} ({run['wall_s']} s)"
    )
    return "\n".join(lines)


app.command("export")(export)
app.add_typer(train_app, name="train")
bench_app.command("train")(bench_train_command)
