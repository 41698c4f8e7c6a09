"""``casework train sft|grpo``: TRL trainers with LoRA (PEFT) on an exported dataset.

SFT reads ``DATA/train.jsonl`` from ``casework export --format sft`` (whole trajectories with
assistant-only loss, or ``--per-turn`` prompt-completion rows with completion-only loss). GRPO reads
``--format grpo`` rows: each prompt is rendered with the training chat template and its tools, the
model samples ``num_generations`` turns, and the rewards of :mod:`casework.train.rewards` score them.

Runs on the GPU when torch sees one, else on the CPU. Writes checkpoints (``checkpoint-N``, resumable
with ``resume=True``), the final adapter (or full model) and tokenizer in ``OUT/final``, the log
history as ``OUT/curves.csv`` and loss / reward curves as ``OUT/curves.png``, and ``OUT/train_summary.json``.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SFT_COLUMNS = ("messages", "prompt", "completion", "tools")


class TrainError(ValueError):
    """Training cannot start as asked (missing data, wrong dataset format, bad option)."""


@dataclass
class TrainSettings:
    data: Path
    out: Path
    base: str = "tiny"
    max_steps: int = 20
    lora_r: int = 8  # 0: full fine-tune
    learning_rate: float = 2e-4
    batch_size: int = 1
    grad_accum: int = 1
    max_length: int | None = None
    save_steps: int = 0  # 0: only at the end
    seed: int = 0
    resume: bool = False
    final_loss: bool = False  # SFT: evaluate the trained model's loss on the training rows at the end
    # GRPO
    num_generations: int = 4
    max_completion_length: int = 48
    rewards: tuple[str, ...] = ("shaped", "similarity")
    beta: float = 0.0
    temperature: float = 1.0
    # multi-turn GRPO with tools (TRL environment_factory): the tasks, their domain and database
    tasks: Path | None = None
    domain: str | None = None
    env_data: Path | None = None
    max_tool_calls: int = 4


@dataclass
class TrainSummary:
    kind: str
    base: str
    out: str
    device: str
    steps: int
    examples: int
    seconds: float
    seconds_per_step: float
    peak_rss_mb: float
    lora_r: int
    first_loss: float | None = None
    last_loss: float | None = None
    #: the trained model's loss on the training rows (SFT with ``final_loss``): the loss "after"
    final_loss: float | None = None
    first_reward: float | None = None
    last_reward: float | None = None
    params_changed: bool | None = None
    max_param_change: float | None = None
    tokens_per_second: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _check_resume(settings: TrainSettings) -> None:
    if settings.resume and not any(settings.out.glob("checkpoint-*")):
        raise TrainError(
            f"--resume: no checkpoint-N folder in {settings.out} (train with --save-steps to write them)"
        )


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise TrainError(f"{path}: missing (make the dataset with `casework export ... --out {path.parent}`)")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise TrainError(f"{path}:{number}: not a JSON object") from None
    if not rows:
        raise TrainError(f"{path}: no examples")
    return rows


def _corpus(rows: list[dict[str, Any]]) -> list[str]:
    """Every text of the dataset, for the tiny model's tokenizer."""
    texts: list[str] = []
    for row in rows:
        texts.append(row.get("tools") or "")
        for key in ("messages", "prompt", "completion"):
            for m in row.get(key) or []:
                texts.append(m.get("content") or "")
                texts.extend(json.dumps(c["function"]) for c in m.get("tool_calls") or [])
        texts.append(row.get("reference_calls") or "")
    return texts


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _peft_config(lora_r: int) -> Any:
    if lora_r <= 0:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _common_args(settings: TrainSettings, device: str) -> dict[str, Any]:
    return {
        "output_dir": str(settings.out),
        "max_steps": settings.max_steps,
        "learning_rate": settings.learning_rate,
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.grad_accum,
        "logging_steps": 1,
        "save_strategy": "steps" if settings.save_steps else "no",
        "save_steps": settings.save_steps or 500,
        "report_to": "none",
        "seed": settings.seed,
        "use_cpu": device == "cpu",
        "bf16": device == "cuda",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
    }


def _grpo_config(settings: TrainSettings, device: str, **extra: Any) -> Any:
    """TRL's GRPOConfig for these settings (a batch holds at least one group of generations)."""
    from trl import GRPOConfig

    args = _common_args(settings, device)
    args["per_device_train_batch_size"] = max(settings.batch_size, settings.num_generations)
    return GRPOConfig(
        **args,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        beta=settings.beta,
        temperature=settings.temperature,
        remove_unused_columns=False,
        **extra,
    )


def _snapshot(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _param_change(model: Any, before: dict[str, Any]) -> float:
    changed = 0.0
    for n, p in model.named_parameters():
        if n in before:
            changed = max(changed, float((p.detach().float() - before[n].float()).abs().max()))
    return changed


def write_curves(out: Path, history: list[dict[str, Any]], kind: str) -> None:
    """``curves.csv`` (every logged step) and ``curves.png`` (loss, and reward for GRPO)."""
    steps = [h for h in history if "step" in h and ("loss" in h or "reward" in h)]
    keys = sorted({k for h in steps for k in h if isinstance(h[k], int | float)})
    with (out / "curves.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        for h in steps:
            writer.writerow({k: h.get(k) for k in keys})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("loss", "reward") if any(k in h for h in steps)]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5 * max(len(panels), 1), 3.5), squeeze=False)
    for ax, key in zip(axes[0], panels, strict=False):
        xs = [h["step"] for h in steps if key in h]
        ys = [h[key] for h in steps if key in h]
        ax.plot(xs, ys, marker="o", markersize=3)
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.set_title(f"{kind} {key}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)


def _finish(
    kind: str,
    settings: TrainSettings,
    trainer: Any,
    tokenizer: Any,
    device: str,
    started: float,
    examples: int,
    tokens: int | None = None,
    change: float | None = None,
    final_loss: float | None = None,
) -> TrainSummary:
    final = settings.out / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    history = trainer.state.log_history
    write_curves(settings.out, history, kind)
    seconds = time.perf_counter() - started
    steps = trainer.state.global_step
    losses = [h["loss"] for h in history if "loss" in h]
    rewards = [h["reward"] for h in history if "reward" in h]
    summary = TrainSummary(
        kind=kind,
        base=settings.base,
        out=str(settings.out),
        device=device,
        steps=steps,
        examples=examples,
        seconds=round(seconds, 2),
        seconds_per_step=round(seconds / max(steps, 1), 3),
        peak_rss_mb=round(_peak_rss_mb(), 1),
        lora_r=settings.lora_r,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        final_loss=final_loss,
        first_reward=rewards[0] if rewards else None,
        last_reward=rewards[-1] if rewards else None,
        params_changed=None if change is None else change > 0,
        max_param_change=change,
        tokens_per_second=round(tokens / seconds, 1) if tokens else None,
        history=[{k: v for k, v in h.items() if isinstance(v, int | float)} for h in history],
    )
    (settings.out / "train_summary.json").write_text(json.dumps(asdict(summary), indent=2), encoding="utf-8")
    return summary


def _quiet() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()


def train_sft(settings: TrainSettings) -> TrainSummary:
    """Supervised fine-tuning with assistant-only (or completion-only) loss."""
    _quiet()
    _check_resume(settings)
    rows = _rows(settings.data / "train.jsonl")
    if not ({"messages"} <= rows[0].keys() or {"prompt", "completion"} <= rows[0].keys()):
        raise TrainError(
            f"{settings.data / 'train.jsonl'}: not an SFT dataset (expected 'messages' or 'prompt'+'completion'; "
            "export with --format sft)"
        )
    import datasets
    from trl import SFTConfig, SFTTrainer

    from casework.train.models import load_base

    device = _device()
    model, tokenizer = load_base(settings.base, _corpus(rows), seed=settings.seed)
    per_turn = "prompt" in rows[0]
    dataset = datasets.Dataset.from_list([{k: r[k] for k in SFT_COLUMNS if k in r} for r in rows])
    config = SFTConfig(
        **_common_args(settings, device),
        max_length=settings.max_length,
        assistant_only_loss=not per_turn,
        completion_only_loss=True if per_turn else None,
        packing=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=_peft_config(settings.lora_r),
    )
    tokens = sum(len(x) for x in trainer.train_dataset["input_ids"])
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if settings.resume else None)
    steps_tokens = (
        tokens * trainer.state.global_step * settings.batch_size * settings.grad_accum // max(len(rows), 1)
    )
    final = None
    if settings.final_loss:  # one forward pass over the rows, after the seconds per step are taken
        elapsed = time.perf_counter() - started
        final = float(trainer.evaluate(eval_dataset=trainer.train_dataset)["eval_loss"])
        started = time.perf_counter() - elapsed
    return _finish(
        "sft", settings, trainer, tokenizer, device, started, len(rows), tokens=steps_tokens, final_loss=final
    )


def train_grpo(settings: TrainSettings) -> TrainSummary:
    """GRPO on exported prompts with the shaped and/or execution reward."""
    _quiet()
    _check_resume(settings)
    rows = _rows(settings.data / "train.jsonl")
    if "reference_calls" not in rows[0]:
        raise TrainError(f"{settings.data / 'train.jsonl'}: not a GRPO dataset (export with --format grpo)")
    from casework.train.rewards import REWARD_FUNCS

    unknown = [r for r in settings.rewards if r not in REWARD_FUNCS]
    if unknown:
        raise TrainError(f"--reward {unknown[0]!r}: expected one of {', '.join(REWARD_FUNCS)}")
    import datasets
    from trl import GRPOTrainer

    from casework.train.models import load_base

    device = _device()
    model, tokenizer = load_base(settings.base, _corpus(rows), seed=settings.seed)
    # Prompts are rendered here with each row's own tools (TRL's `tools` argument takes callables).
    for row in rows:
        row["prompt"] = tokenizer.apply_chat_template(
            row["prompt"], tools=json.loads(row["tools"]), add_generation_prompt=True, tokenize=False
        )
    dataset = datasets.Dataset.from_list(rows)
    config = _grpo_config(settings, device)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[REWARD_FUNCS[r] for r in settings.rewards],
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=_peft_config(settings.lora_r),
    )
    before = _snapshot(trainer.model)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if settings.resume else None)
    change = _param_change(trainer.model, before)
    return _finish("grpo", settings, trainer, tokenizer, device, started, len(rows), change=change)


def train_grpo_env(settings: TrainSettings) -> TrainSummary:
    """Multi-turn GRPO with tools: TRL's ``environment_factory`` over the Gymnasium environment.

    Each rollout starts the episode of a task (the scripted user's opening message), the model calls
    the domain's tools (run on the episode's fork) until it answers in text or ``max_tool_calls``
    rounds pass, and the environment's reward (the shaped reward of the calls made) scores it, with
    the ``settings.rewards`` functions added (``similarity`` to the task's first expected call gives a
    dense signal to a model that does not yet write calls)."""
    _quiet()
    _check_resume(settings)
    if settings.tasks is None:
        raise TrainError("--multi-turn needs --tasks: the task file whose episodes the model plays")
    from casework.domains.registry import DEFAULT_DOMAIN
    from casework.tasks import TaskFormatError, load_tasks
    from casework.train.rewards import REWARD_FUNCS
    from casework.train.trl_env import RESPONSE_TEMPLATE, environment_factory, environment_rows

    domain = settings.domain or DEFAULT_DOMAIN
    try:
        tasks = load_tasks(settings.tasks, domain=domain)
    except (TaskFormatError, OSError) as exc:
        raise TrainError(f"--tasks {settings.tasks}: {exc}") from None
    if not tasks:
        raise TrainError(f"--tasks {settings.tasks}: no tasks")
    unknown = [r for r in settings.rewards if r not in REWARD_FUNCS or r == "execution"]
    if unknown:
        raise TrainError(f"--reward {unknown[0]!r}: with --multi-turn expected shaped or similarity")
    import datasets
    from trl import GRPOTrainer

    from casework.train.models import load_base

    rows = environment_rows(tasks, domain)
    device = _device()
    model, tokenizer = load_base(
        settings.base, _corpus(rows) + [t.instruction for t in tasks], seed=settings.seed
    )
    if "<|im_start|>" in tokenizer.get_vocab():  # the embedded model's ```json tool calls
        tokenizer.response_template = RESPONSE_TEMPLATE
    config = _grpo_config(settings, device, max_tool_calling_iterations=settings.max_tool_calls)
    # the environment's own reward (get_reward) is the shaped one; the others are added
    extra = [REWARD_FUNCS[r] for r in settings.rewards if r != "shaped"]
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=extra or None,
        args=config,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=_peft_config(settings.lora_r),
        environment_factory=environment_factory(tasks, domain=domain, data=settings.env_data),
    )
    before = _snapshot(trainer.model)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if settings.resume else None)
    change = _param_change(trainer.model, before)
    return _finish("grpo", settings, trainer, tokenizer, device, started, len(rows), change=change)
