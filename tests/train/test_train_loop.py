"""The train -> serve -> re-test loop: the loss "after" SFT, and the whole loop on the real embedded
model (marked ``train_loop``: tens of minutes and ~12 GB RAM on a CPU; it runs only with
CASEWORK_SLOW_TESTS=1 or ``-m train_loop``, never in the default suite or ``make test``)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from casework.train.export import export_runs  # noqa: E402
from casework.train.trainers import TrainSettings, train_sft  # noqa: E402


def test_sft_final_loss_is_the_trained_models_loss_on_the_rows(oracle_run: Path, tmp_path: Path):
    export_runs([oracle_run], tmp_path / "all", fmt="sft", dedupe=True)
    first_row = (tmp_path / "all" / "train.jsonl").read_text().splitlines()[0]
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "train.jsonl").write_text(first_row + "\n")
    summary = train_sft(
        TrainSettings(
            data=tmp_path / "one",
            out=tmp_path / "sft",
            base="tiny",
            max_steps=2,
            learning_rate=1e-2,
            final_loss=True,
        )
    )
    assert summary.first_loss is not None and summary.final_loss is not None
    assert math.isfinite(summary.final_loss)
    assert summary.final_loss < summary.first_loss  # the same row, before and after two updates
    saved = json.loads((tmp_path / "sft" / "train_summary.json").read_text())
    assert saved["final_loss"] == pytest.approx(summary.final_loss)


@pytest.mark.train_loop
def test_the_whole_loop_on_the_embedded_model(tmp_path: Path):
    """export -> LoRA SFT (1 step) -> merge -> GGUF -> `casework serve --model` answers with a tool
    call -> `casework run --model-path` plays a task and records the GGUF's sha256 -> GRPO (1 step,
    shaped + similarity reward) changes the parameters."""
    from casework.llm.local import local_extra_missing

    if reason := local_extra_missing():
        pytest.skip(reason)
    from casework.train.bench import bench_train

    out = tmp_path / "loop"
    result = bench_train(out, steps=1, grpo_steps=1, rows=1, num_generations=2, max_completion_length=16)
    sft = result["sft"]
    assert sft["steps"] == 1 and math.isfinite(sft["first_loss"])
    assert sft["final_loss"] < sft["first_loss"]
    gguf = out / "model.gguf"
    assert gguf.read_bytes()[:4] == b"GGUF" and result["gguf_mib"] > 100
    serve = result["serve"]
    assert serve["served_name"] == "model" and serve["models_listed"] == ["model"]
    assert serve["tool_calls"], serve  # the trained model answered the tool request with a call
    run = result["run"]
    assert run["tool_calls"], run  # and called tools in a `casework run` task
    assert run["manifest_agent_endpoint"]["model_sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
    grpo = result["grpo"]
    assert grpo["steps"] == 1 and grpo["params_changed"] is True and grpo["max_param_change"] > 0
    assert json.loads((out / "bench_train.json").read_text()) == result
