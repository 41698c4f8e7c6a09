"""``casework bench train``: the whole train -> serve -> re-test loop on the real embedded model, timed.

1. data: an oracle run of a few templated tasks, exported as per-turn SFT rows and as GRPO prompts
   (``casework export``); the first ``rows`` agent turns that call a tool are kept;
2. SFT: ``casework train sft --base embedded`` (LoRA) for ``steps`` steps;
3. merge: ``casework train merge`` writes the merged model as a GGUF;
4. GRPO: ``casework train grpo --base embedded`` for ``grpo_steps`` steps with the shaped reward (plus
   the similarity reward, so that two completions of equal shaped reward still differ in advantage),
   ``num_generations`` completions of at most ``max_completion_length`` tokens;
5. serve: ``casework serve --model OUT/model.gguf`` (its printed line, ``/v1/models`` and one chat
   request with tools);
6. run: ``casework run --model-path OUT/model.gguf`` plays one task.

Every phase runs the real command as a child process (so each one's peak RSS is its own) and its
figures are written to ``OUT/bench_train.json`` as soon as the phase ends. ``reuse=True`` skips the
training phases whose outputs are already in ``OUT``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


class BenchError(RuntimeError):
    """A phase of the benchmark failed (its command's exit code and output tail)."""


def _casework(*args: str) -> list[str]:
    return [sys.executable, "-m", "casework.cli", *args]


def _call(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` (output to ``log``); its wall seconds, or a :class:`BenchError` with the log's tail."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        code = subprocess.call(cmd, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if code != 0:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
        raise BenchError(f"{' '.join(cmd[2:4])} failed (exit code {code}; log {log}): {tail}")
    return time.perf_counter() - started


def _dataset(out: Path, rows: int, seed: int) -> tuple[Path, Path, Path, str]:
    from casework.domains import get_domain
    from casework.domains.registry import DEFAULT_DOMAIN
    from casework.generate.templated import generate_templated
    from casework.runs.runner import RunConfig, Runner
    from casework.tasks import save_tasks
    from casework.train.export import export_runs

    domain = get_domain(DEFAULT_DOMAIN)
    tasks = out / "tasks.json"
    # state-only refusals: the oracle run that feeds the export needs no judge
    generated = generate_templated(domain, domain.database(), 3, seed=seed, refusals="state-only")
    save_tasks(generated, tasks)
    if not (out / "oracle" / "results.jsonl").exists():
        asyncio.run(Runner(RunConfig(tasks=tasks, out=out / "oracle", agent="oracle", concurrency=1)).run())
    export_runs([out / "oracle"], out / "export-sft", fmt="sft", per_turn=True, dedupe=True)
    export_runs([out / "oracle"], out / "export-grpo", fmt="grpo", dedupe=True)

    def first_rows_with_calls(source: Path, target: Path, has_call: Callable[[dict], bool]) -> Path:
        lines = (source / "train.jsonl").read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if has_call(json.loads(line))][:rows]
        target.mkdir(parents=True, exist_ok=True)
        (target / "train.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")
        return target

    sft = first_rows_with_calls(
        out / "export-sft", out / "data-sft", lambda r: bool(r["completion"][0].get("tool_calls"))
    )
    grpo = first_rows_with_calls(
        out / "export-grpo", out / "data-grpo", lambda r: bool(json.loads(r["reference_calls"]))
    )
    return sft, grpo, tasks, generated[0].id


def bench_train(
    out: Path,
    *,
    steps: int = 3,
    grpo_steps: int = 1,
    rows: int = 1,
    lr: float = 1e-3,
    grpo_lr: float = 1e-4,
    num_generations: int = 2,
    max_completion_length: int = 16,
    seed: int = 1,
    reuse: bool = False,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the phases (see the module docstring); the figures of every phase, also in ``OUT/bench_train.json``."""
    say = on_phase or (lambda message: None)
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    result: dict[str, Any] = {"rows": rows}

    def save() -> None:
        (out / "bench_train.json").write_text(json.dumps(result, indent=2), encoding="utf-8")

    say("data: oracle run and export")
    sft_data, grpo_data, tasks, task_id = _dataset(out, rows, seed)
    gguf = out / "model.gguf"

    sft_summary = out / "sft" / "train_summary.json"
    if not (reuse and sft_summary.exists()):
        say(f"sft: LoRA on the embedded model, {steps} step(s)")
        # `--lr` is a rate: typer reads 1e-3 as written
        wall = _call(
            _casework(
                "train", "sft", "--data", str(sft_data), "--out", str(out / "sft"), "--base", "embedded"
            )
            + [
                "--max-steps",
                str(steps),
                "--lora",
                "8",
                "--lr",
                str(lr),
                "--seed",
                str(seed),
                "--final-loss",
            ],
            logs / "sft.log",
        )
        result["sft_wall_s"] = round(wall, 1)
    summary = json.loads(sft_summary.read_text(encoding="utf-8"))
    result["sft"] = _train_figures(summary)
    save()

    if not (reuse and gguf.exists()):
        say("merge: adapter into the embedded model, written as a GGUF")
        wall = _call(
            _casework("train", "merge", "--adapter", str(out / "sft" / "final"), "--out", str(gguf)),
            logs / "merge.log",
        )
        result["merge_and_gguf_s"] = round(wall, 1)
    result["gguf_mib"] = round(gguf.stat().st_size / 2**20, 1)
    save()

    grpo_summary = out / "grpo" / "train_summary.json"
    if grpo_steps > 0:
        if not (reuse and grpo_summary.exists()):
            say(
                f"grpo: {grpo_steps} step(s), {num_generations} generations of <= {max_completion_length} tokens"
            )
            wall = _call(
                _casework("train", "grpo", "--data", str(grpo_data), "--out", str(out / "grpo"))
                + ["--base", "embedded", "--max-steps", str(grpo_steps), "--lora", "8", "--lr", str(grpo_lr)]
                + ["--num-generations", str(num_generations)]
                + ["--max-completion-length", str(max_completion_length)]
                + ["--reward", "shaped", "--reward", "similarity", "--seed", str(seed)],
                logs / "grpo.log",
            )
            result["grpo_wall_s"] = round(wall, 1)
        result["grpo"] = _train_figures(json.loads(grpo_summary.read_text(encoding="utf-8")))
        save()

    say(f"serve: casework serve --model {gguf}")
    result["serve"] = serve_check(gguf, logs / "serve.log")
    save()

    say(f"run: casework run --model-path {gguf}")
    result["run"] = run_check(gguf, tasks, task_id, out / "run", logs / "run.log")
    save()
    return result


def _train_figures(summary: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "steps",
        "seconds",
        "seconds_per_step",
        "tokens_per_second",
        "peak_rss_mb",
        "first_loss",
        "last_loss",
        "final_loss",
        "first_reward",
        "last_reward",
        "params_changed",
        "max_param_change",
    )
    return {k: summary.get(k) for k in keys if summary.get(k) is not None}


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    line: dict[str, str] = {}

    def read() -> None:
        assert proc.stdout is not None
        line["text"] = proc.stdout.readline().strip()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return line.get("text", "")


def serve_check(gguf: Path, log: Path, timeout: float = 600.0) -> dict[str, Any]:
    """Start ``casework serve --model GGUF --port 0``; read its line, ``/v1/models`` and one tool call."""
    from casework.llm.local import parse_serve_line

    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as errors:
        proc = subprocess.Popen(
            _casework("serve", "--model", str(gguf), "--port", "0"),
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "COLUMNS": "400"},
        )
    try:
        line = _read_line(proc, timeout)
        parsed = parse_serve_line(line)
        if parsed is None:
            raise BenchError(f"casework serve --model printed {line!r} (exit code {proc.poll()}; log {log})")
        name, base_url = parsed
        load_s = time.perf_counter() - started
        with urllib.request.urlopen(base_url + "/models", timeout=30) as response:
            listed = [m["id"] for m in json.load(response)["data"]]
        body = {
            "model": name,
            "messages": [{"role": "user", "content": "What is the weather in Paris? Use the tool."}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "The weather in a city.",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        },
                    },
                }
            ],
            "tool_choice": "required",
            "temperature": 0,
            "max_tokens": 64,
        }
        request = urllib.request.Request(
            base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.load(response)
        chat_s = time.perf_counter() - t0
        message = answer["choices"][0]["message"]
        return {
            "printed_line": line,
            "served_name": name,
            "models_listed": listed,
            "load_s": round(load_s, 1),
            "chat_s": round(chat_s, 1),
            "tool_calls": [
                {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                for c in message.get("tool_calls") or []
            ],
            "completion_tokens": answer.get("usage", {}).get("completion_tokens"),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_check(gguf: Path, tasks: Path, task_id: str, run_dir: Path, log: Path) -> dict[str, Any]:
    """``casework run --model-path GGUF`` on one task; what the trained model called and earned."""
    import shutil

    from casework.runs.store import read_manifest, read_results

    shutil.rmtree(run_dir, ignore_errors=True)
    wall = _call(
        _casework("run", "--tasks", str(tasks), "--task-ids", task_id, "--model-path", str(gguf))
        + ["--out", str(run_dir), "--max-steps", "3", "--concurrency", "1"],
        log,
    )
    (record,) = read_results(run_dir)
    endpoint = (read_manifest(run_dir) or {}).get("config", {}).get("agent_endpoint") or {}
    return {
        "wall_s": round(wall, 1),
        "termination": record["termination_reason"],
        "tool_calls": [c["name"] for c in record["tool_calls"]],
        "reward": record["reward"],
        "manifest_agent_endpoint": endpoint,
    }
