"""``casework bench train``: the whole loop on the real embedded model, timed.

An oracle run of a few templated tasks is exported as per-turn SFT rows; the embedded model (read
from its GGUF) is fine-tuned with LoRA for a few steps on the first rows that call a tool; the adapter
is merged and written as a GGUF; the embedded llama.cpp server is started on that file and
``casework run`` plays one task with it. Reports seconds per step, training tokens per second, peak
RSS, the loss before and after, the GGUF's size, and what the trained model answered.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from pathlib import Path
from typing import Any


def _dataset(out: Path, rows: int, seed: int) -> tuple[Path, Path, str]:
    from casework.domains import get_domain
    from casework.domains.registry import DEFAULT_DOMAIN
    from casework.generate.templated import generate_templated
    from casework.runs.runner import RunConfig, Runner
    from casework.tasks import save_tasks
    from casework.train.export import export_runs

    domain = get_domain(DEFAULT_DOMAIN)
    tasks = out / "tasks.json"
    generated = generate_templated(domain, domain.database(), 3, seed=seed)
    save_tasks(generated, tasks)
    asyncio.run(Runner(RunConfig(tasks=tasks, out=out / "oracle", agent="oracle", concurrency=1)).run())
    export_runs([out / "oracle"], out / "export", fmt="sft", per_turn=True, dedupe=True)
    lines = (out / "export" / "train.jsonl").read_text().splitlines()
    with_calls = [line for line in lines if json.loads(line)["completion"][0].get("tool_calls")]
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "train.jsonl").write_text("\n".join(with_calls[:rows]) + "\n")
    return data, tasks, generated[0].id


def bench_train(
    out: Path, *, steps: int = 3, rows: int = 1, lr: float = 1e-3, seed: int = 1
) -> dict[str, Any]:
    from casework.train.gguf_export import merge_adapter, write_gguf
    from casework.train.models import embedded_paths
    from casework.train.trainers import TrainSettings, train_sft

    out.mkdir(parents=True, exist_ok=True)
    data, tasks, task_id = _dataset(out, rows, seed)
    summary = train_sft(
        TrainSettings(
            data=data, out=out / "sft", base="embedded", max_steps=steps, lora_r=8, learning_rate=lr
        )
    )
    started = time.perf_counter()
    model, _ = merge_adapter(out / "sft" / "final", "embedded")
    directory, name = embedded_paths()
    written = write_gguf(model, out / "model.gguf", template=directory / name)
    del model
    gc.collect()
    gguf_s = time.perf_counter() - started
    answer = _run_one(out, tasks, task_id)
    result = {
        "steps": summary.steps,
        "rows": rows,
        "seconds_per_step": summary.seconds_per_step,
        "tokens_per_second": summary.tokens_per_second,
        "peak_rss_mb": summary.peak_rss_mb,
        "first_loss": summary.first_loss,
        "last_loss": summary.last_loss,
        "merge_and_gguf_s": round(gguf_s, 1),
        "gguf_mib": round(written["bytes"] / 2**20, 1),
        "gguf_types": written["types"],
        **answer,
    }
    (out / "bench_train.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def _run_one(out: Path, tasks: Path, task_id: str) -> dict[str, Any]:
    """Serve the written GGUF with the embedded server and play one task with ``casework run``."""
    from casework import aio
    from casework.llm import LLMClient
    from casework.llm.local import LocalModelServer
    from casework.runs.endpoints import local_endpoint
    from casework.runs.runner import RunConfig, Runner
    from casework.runs.store import read_results

    started = time.perf_counter()
    with LocalModelServer(model_path=out / "model.gguf", verbosity=-1) as server:
        load_s = time.perf_counter() - started
        endpoint = local_endpoint(server.base_url)
        client = LLMClient(endpoint, role="agent")
        config = RunConfig(
            tasks=tasks,
            out=out / "run",
            task_ids=[task_id],
            concurrency=1,
            max_steps=3,
            agent_endpoint=endpoint.model_dump(mode="json"),
        )
        aio.run(Runner(config, agent_llm=client).run(), closing=[client])
    (result,) = read_results(out / "run")
    return {
        "server_load_s": round(load_s, 1),
        "run_termination": result["termination_reason"],
        "run_tool_calls": [c["name"] for c in result["tool_calls"]],
        "run_reward": result["reward"],
    }
