"""``casework bench local``: how fast the embedded model answers, and what the saved prompt cache buys.

Three model calls that all start with the agent's fixed prefix (instructions, policy, tool schemas):

1. **cold**: the first call of a fresh server, which reads the whole prefix (prefill);
2. **cached**: a second call on the same server with another user message (only the new tail is read);
3. **restored**: the first call of a second fresh server after restoring the prefix's KV cache saved
   from the first one (what ``casework run`` does on every run after the first).

Prefill and decode tokens/s come from llama.cpp's own timings of the cold call. The slot files go to
a temporary directory, so the measurement never reads (or disturbs) the user's prompt cache.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from casework.llm.local import LocalServerProcess, server_identity
from casework.llm.prompt_cache import post_json, prefix_key, restore_slot, save_slot

QUESTIONS = (  # a different customer message per call: only the prefix may come from a cache
    "Hi, I want to return an item from my last order.",
    "Hello, can you cancel my order please?",
    "I need to change the shipping address of my order.",
)


class CallTiming(BaseModel):
    latency_s: float
    prompt_tokens: int
    cached_tokens: int
    prefill_tokens_per_s: float | None = None
    decode_tokens_per_s: float | None = None
    completion_tokens: int = 0


class LocalBenchResult(BaseModel):
    threads: int
    ctx: int
    prompt_tokens: int  # of the cold call: the prefix and one customer message
    server_start_s: float
    cold: CallTiming
    cached: CallTiming
    restore_s: float
    restored: CallTiming
    load_average: tuple[float, float, float]

    @property
    def speedup(self) -> float:
        return self.cold.latency_s / self.restored.latency_s if self.restored.latency_s > 0 else float("inf")

    def line(self) -> str:
        prefill = self.cold.prefill_tokens_per_s or 0.0
        decode = self.cold.decode_tokens_per_s or 0.0
        return (
            f"local: first call {self.cold.latency_s:.1f} s cold -> {self.restored.latency_s:.1f} s with the "
            f"restored prompt cache ({self.speedup:.0f}x); cached call {self.cached.latency_s:.1f} s; "
            f"prefill {prefill:.0f} tok/s, decode {decode:.1f} tok/s; prompt {self.prompt_tokens} tokens, "
            f"{self.threads} threads, load average {self.load_average[0]:.2f}"
        )


def _call(
    base_url: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, max_tokens: int
) -> CallTiming:
    body: dict[str, Any] = {
        "model": "local",
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "id_slot": 0,
    }
    if tools:
        body["tools"] = tools
    started = time.perf_counter()
    answer = post_json(base_url.rstrip("/") + "/chat/completions", body, timeout=3600)
    latency = time.perf_counter() - started
    usage = answer.get("usage") or {}
    timings = answer.get("timings") or {}
    return CallTiming(
        latency_s=latency,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        cached_tokens=int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        prefill_tokens_per_s=timings.get("prompt_per_second"),
        decode_tokens_per_s=timings.get("predicted_per_second"),
    )


def run_local_bench(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    threads: int | None = None,
    ctx: int = 8192,
    max_tokens: int = 32,
    say: Any = None,
) -> LocalBenchResult:
    """Cold, cached and restored first-call latencies of the embedded model for this prefix."""
    note = say or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="casework-bench-local-") as tmp:
        directory = Path(tmp)

        def server(name: str) -> LocalServerProcess:
            return LocalServerProcess(
                threads=threads, ctx=ctx, slot_save_path=directory, log_path=directory / f"{name}.log"
            )

        started = time.perf_counter()
        with server("first") as first:
            threads = first.threads
            start_s = time.perf_counter() - started
            note(f"server ready in {start_s:.1f} s; cold first call (reads the whole prefix)…")
            cold = _call(
                first.base_url, [*messages, {"role": "user", "content": QUESTIONS[0]}], tools, max_tokens
            )
            name = (
                "prefix-"
                + prefix_key(messages, tools, identity=server_identity(first.model_path, ctx=ctx))[:32]
            )
            save_slot(first.base_url, 0, name)
            note(f"cold first call {cold.latency_s:.1f} s; cached call…")
            cached = _call(
                first.base_url, [*messages, {"role": "user", "content": QUESTIONS[1]}], tools, max_tokens
            )
        with server("second") as second:
            note("second server: restoring the saved prompt cache, then its first call…")
            t0 = time.perf_counter()
            restore_slot(second.base_url, 0, name)
            restore_s = time.perf_counter() - t0
            restored = _call(
                second.base_url, [*messages, {"role": "user", "content": QUESTIONS[2]}], tools, max_tokens
            )
    return LocalBenchResult(
        threads=threads,
        ctx=ctx,
        prompt_tokens=cold.prompt_tokens,
        server_start_s=start_s,
        cold=cold,
        cached=cached,
        restore_s=restore_s,
        restored=restored,
        load_average=os.getloadavg(),
    )


def agent_prefix(
    policy: str, tools: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The tool-calling agent's fixed prefix for ``policy`` and ``tools`` (what ``casework run`` caches)."""
    from casework.sim.agents import AgentSetup, ToolCallingAgent

    class _NoModel:
        pass

    prefix = ToolCallingAgent(llm=_NoModel()).prompt_prefix(AgentSetup(policy=policy, tools=tools, task=None))  # type: ignore[arg-type]
    assert prefix is not None
    return prefix
