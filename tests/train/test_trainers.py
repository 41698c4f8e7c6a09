"""TRL trainers on a tiny randomly initialised Qwen2 (built from a config, tokenizer trained here)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from typer.testing import CliRunner  # noqa: E402

from casework.cli import app  # noqa: E402
from casework.train.export import calls_of, export_runs  # noqa: E402
from casework.train.rewards import render_turn  # noqa: E402
from casework.train.trainers import TrainSettings, train_grpo, train_sft  # noqa: E402


@pytest.fixture(scope="module")
def sft_dir(oracle_run: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sft")
    export_runs([oracle_run], out, fmt="sft", dedupe=True)
    return out


@pytest.fixture(scope="module")
def grpo_dir(oracle_run: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("grpo")
    export_runs([oracle_run], out, fmt="grpo", dedupe=True)
    return out


def test_trl_prepares_the_sft_file_with_masks_on_exactly_the_assistant_tokens(sft_dir: Path):
    import datasets
    from trl import SFTConfig, SFTTrainer

    from casework.train.models import tiny_model, tiny_tokenizer
    from casework.train.trainers import _corpus, _rows

    rows = _rows(sft_dir / "train.jsonl")
    tokenizer = tiny_tokenizer(_corpus(rows))
    dataset = datasets.Dataset.from_list([{"messages": r["messages"], "tools": r["tools"]} for r in rows])
    trainer = SFTTrainer(
        model=tiny_model(tokenizer),
        args=SFTConfig(
            output_dir="unused", assistant_only_loss=True, max_length=None, report_to="none", use_cpu=True
        ),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    prepared = trainer.train_dataset
    assert len(prepared) == len(rows)
    for row, example in zip(rows, prepared, strict=True):
        ids = example["input_ids"]
        mask = [label != -100 for label in example["labels"]]  # TRL folds the assistant mask into the labels
        masked = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
        assistant = [m for m in row["messages"] if m["role"] == "assistant"]
        expected = "".join(render_turn(m["content"], calls_of(m)) + "<|im_end|>" for m in assistant)
        assert masked == expected
        # and the unmasked part holds the system prompt, the tools and the user and tool turns
        rest = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if not m])
        assert row["messages"][1]["content"] in rest and '"name": "get_user_details"' in rest


def test_sft_with_lora_lowers_the_loss_and_writes_curves(sft_dir: Path, tmp_path: Path):
    settings = TrainSettings(
        data=sft_dir, out=tmp_path / "sft", base="tiny", max_steps=6, learning_rate=5e-3, lora_r=8
    )
    summary = train_sft(settings)
    losses = [h["loss"] for h in summary.history if "loss" in h]
    assert len(losses) == 6 and summary.steps == 6
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert summary.last_loss < summary.first_loss
    assert (tmp_path / "sft" / "final" / "adapter_config.json").exists()  # LoRA adapter, not a full model
    assert (tmp_path / "sft" / "curves.png").stat().st_size > 1000
    rows = list(csv.DictReader((tmp_path / "sft" / "curves.csv").open()))
    assert [float(r["loss"]) for r in rows] == pytest.approx(losses)
    saved = json.loads((tmp_path / "sft" / "train_summary.json").read_text())
    assert saved["device"] == "cpu" and saved["seconds_per_step"] > 0 and saved["peak_rss_mb"] > 0


def test_grpo_with_the_shaped_and_similarity_rewards_changes_the_parameters(grpo_dir: Path, tmp_path: Path):
    settings = TrainSettings(
        data=grpo_dir,
        out=tmp_path / "grpo",
        base="tiny",
        max_steps=2,
        learning_rate=1e-2,
        num_generations=4,
        max_completion_length=16,
        rewards=("shaped", "similarity"),
    )
    summary = train_grpo(settings)
    assert summary.steps == 2
    assert summary.params_changed and summary.max_param_change > 0
    assert summary.first_reward is not None
    keys = set().union(*(h.keys() for h in summary.history))
    assert {"rewards/shaped_reward_func/mean", "rewards/similarity_reward_func/mean"} <= keys


def test_cli_train_sft_per_turn_and_wrong_dataset_errors(oracle_run: Path, sft_dir: Path, tmp_path: Path):
    runner = CliRunner()
    turns = tmp_path / "turns"  # prompt-completion rows: completion-only loss
    assert (
        runner.invoke(
            app, ["export", str(oracle_run), "--per-turn", "--dedupe", "--out", str(turns)]
        ).exit_code
        == 0
    )
    out = tmp_path / "cli"
    result = runner.invoke(
        app,
        [
            "train",
            "sft",
            "--data",
            str(turns),
            "--base",
            "tiny",
            "--max-steps",
            "2",
            "--save-steps",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "loss:" in result.output and (out / "final" / "adapter_config.json").exists()
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    resumed = runner.invoke(
        app,
        [
            "train",
            "sft",
            "--data",
            str(turns),
            "--base",
            "tiny",
            "--max-steps",
            "3",
            "--out",
            str(out),
            "--resume",
        ],
    )
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 3
    fresh = runner.invoke(
        app,
        ["train", "sft", "--data", str(turns), "--base", "tiny", "--out", str(tmp_path / "new"), "--resume"],
    )
    assert fresh.exit_code == 2 and "no checkpoint-N folder" in fresh.output
    wrong = runner.invoke(app, ["train", "grpo", "--data", str(sft_dir), "--base", "tiny", "--out", str(out)])
    assert wrong.exit_code == 2 and "not a GRPO dataset" in wrong.output
    missing = runner.invoke(app, ["train", "sft", "--data", str(tmp_path / "none"), "--base", "tiny"])
    assert missing.exit_code == 2 and "train.jsonl: missing" in missing.output
