"""Fault injection: the real Runner (ToolCallingAgent + ScriptedUser) against a local HTTP endpoint
that answers 429/500, stalls past the per-call timeout, drops connections, sends malformed JSON and
truncated streams, mixed with good answers. No simulation may be lost: every fault is either retried
to success or recorded as an infrastructure error. Then ``kill -9`` in the middle of ``casework run``
and ``--resume``: every (task, trial) finished exactly once.

The good answers come from :class:`casework.bench.sim.OracleScript`: the opening user message says
which task it is, the number of tool results so far which ground-truth action is next, so a
simulation progresses to the scripted user's ``###STOP###`` with reward 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from casework.bench.sim import OracleScript
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.llm import EndpointConfig, LLMClient
from casework.runs.runner import RunConfig, Runner
from casework.runs.store import read_results
from casework.tasks import save_tasks
from llm.fake_server import FakeServer, chat_json, sse_chunks

MAX_RETRIES = 2  # three attempts per call
# The per-call timeout: only the stall faults should reach it. A stalled answer hangs until the
# client gives up (an event, not a sleep), so the timeout is the only wall-clock figure; it is
# scaled with the machine's load so that a good answer on a busy shared machine never reaches it
# (what is asserted are counts: attempts, retries, terminations; never durations).
CALL_TIMEOUT_S = min(3.0, max(1.0, 0.5 * os.getloadavg()[0] / (os.cpu_count() or 1)))
HANG_LIMIT_S = 60.0  # a stalled answer that no timeout ended


@pytest.fixture(scope="module")
def tasks():
    domain = get_domain("retail")
    return generate_templated(
        domain, domain.database(), 10, seed=1, refusals="state-only"
    )  # fake endpoints play the golden actions: refusals graded by the state (no judge here)


def good_step(script: OracleScript, body: dict) -> dict:
    text, calls = script.reply(body["messages"])
    if body.get("stream"):
        return {"sse": sse_chunks([text] if text else None, tool_calls=[(i, n, [a]) for i, n, a in calls])}
    tool_calls = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]
    return {"json": chat_json(text, tool_calls or None, "tool_calls" if calls else "stop")}


def fault_step(kind: str, stream: bool) -> dict:
    if kind == "429":
        return {
            "status": 429,
            "json": {"error": {"message": "rate limited"}},
            "headers": {"Retry-After": "0.01"},
        }
    if kind == "500":
        return {"status": 500, "json": {"error": {"message": "internal error"}}}
    if kind == "stall":  # hangs until the client's timeout closes the connection
        return {"hang": HANG_LIMIT_S, "json": chat_json("too late")}
    if kind == "drop":
        return {"drop": True}
    if kind == "malformed":  # a body (or an SSE event) that is not JSON
        return (
            {"sse": ['{"id": "chatcmpl-x", "choices": [{"delta": {"content": "Hel'], "done": True}
            if stream
            else {
                "raw": b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"message": {"content": "Hel'
            }
        )
    if kind == "truncated":  # the stream stops before a finish_reason (or the body stops halfway)
        return (
            {"sse": sse_chunks(["Let me check"])[:2], "done": False}
            if stream
            else {"raw": json.dumps(chat_json("Let me check"))[:60]}
        )
    raise ValueError(kind)


class FaultyOracle:
    """Responder: for (task index, agent step) in ``plan``, the first attempts get the listed faults
    (``ALWAYS`` as the first entry: every attempt gets the fault); everything else is a good answer."""

    ALWAYS = "always"

    def __init__(self, tasks, plan: dict[tuple[int, int], list[str]], stream: bool):
        self.script = OracleScript(tasks)
        self.index = {t.id: i for i, t in enumerate(tasks)}
        self.plan, self.stream = plan, stream
        self.attempts: Counter[tuple[int, int]] = Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict) -> dict:
        task = self.script.task_of(body["messages"])
        step = sum(m["role"] == "assistant" for m in body["messages"])
        key = (self.index[task.id], step)
        with self.lock:
            attempt = self.attempts[key]
            self.attempts[key] += 1
        faults = self.plan.get(key, [])
        if faults[:1] == [self.ALWAYS]:
            return fault_step(faults[1], self.stream)
        if attempt < len(faults):
            return fault_step(faults[attempt], self.stream)
        return good_step(self.script, body)


RECOVERED = {  # (task, agent step) -> faults before a good answer
    (0, 0): ["429"],
    (1, 1): ["500", "500"],
    (2, 1): ["stall"],
    (3, 0): ["drop"],
    (3, 2): ["malformed"],
    (4, 1): ["truncated", "429"],
}
FATAL = {  # (task, agent step) -> fault on every attempt; expected text in the error
    (5, 1): ("500", "HTTP 500"),
    (6, 0): ("stall", "Timeout"),
    (7, 2): ("truncated", ""),
    (8, 1): ("drop", "Connection"),
    (9, 0): ("malformed", ""),
}


@pytest.mark.parametrize("transport", ["aiohttp", "sdk"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_every_fault_is_retried_or_recorded_and_no_simulation_is_lost(
    tasks, tmp_path: Path, stream: bool, transport: str
):
    tasks_file = tmp_path / "tasks.json"
    save_tasks(tasks, tasks_file)
    plan = {**RECOVERED, **{key: [FaultyOracle.ALWAYS, kind] for key, (kind, _) in FATAL.items()}}
    responder = FaultyOracle(tasks, plan, stream)
    out = tmp_path / "run"
    with FakeServer(responder=responder) as server:
        config = EndpointConfig(
            model="fake-model",
            base_url=server.base_url,
            max_retries=MAX_RETRIES,
            timeout_s=CALL_TIMEOUT_S,
            stream=stream,
            transport=transport,
        )

        async def run() -> dict:
            async with LLMClient(config, role="agent", backoff_base_s=0.01) as client:
                return await Runner(
                    RunConfig(tasks=tasks_file, out=out, concurrency=4), agent_llm=client
                ).run()

        summary = asyncio.run(run())

    results = read_results(out)
    assert sorted((r["task_id"], r["trial"]) for r in results) == sorted((t.id, 0) for t in tasks)
    by_index = {responder.index[r["task_id"]]: r for r in results}

    for i, r in by_index.items():
        agent_calls = [c for c in r["model_calls"] if c["role"] == "agent"]
        if any(key[0] == i for key in FATAL):
            continue
        transfer = tasks[i].actions[-1].name == "transfer_to_human_agents"
        assert r["termination_reason"] == ("transfer" if transfer else "user_stop"), (i, r["error"])
        assert r["reward"] == 1.0 and r["error"] is None
        assert len(agent_calls) == r["agent_steps"] == len(tasks[i].actions) + (not transfer)
        expected_retries = [len(RECOVERED.get((i, step), [])) for step in range(r["agent_steps"])]
        assert [c["retries"] for c in agent_calls] == expected_retries, i
        assert all(c["error"] is None for c in agent_calls)

    for (i, step), (_kind, text) in FATAL.items():
        r = by_index[i]
        assert r["termination_reason"] == "infrastructure_error"
        # (reward/error_category are not asserted: a read-only task without expected outputs, such
        # as a transfer, still scores reward 1 under the tau-bench rule after an infrastructure error)
        assert (
            "LLM endpoint unavailable" in r["error"] and f"after {MAX_RETRIES + 1} attempt(s)" in r["error"]
        )
        assert text in r["error"], r["error"]
        assert r["agent_steps"] == step  # the good steps before the fault are kept
        agent_calls = [c for c in r["model_calls"] if c["role"] == "agent"]
        assert len(agent_calls) == step + 1
        assert [c["retries"] for c in agent_calls] == [0] * step + [MAX_RETRIES]
        assert agent_calls[-1]["error"] and all(c["error"] is None for c in agent_calls[:-1])
        assert responder.attempts[(i, step)] == MAX_RETRIES + 1

    for key, faults in RECOVERED.items():
        assert responder.attempts[key] == len(faults) + 1, key

    saved = json.loads((out / "summary.json").read_text())
    assert saved["infrastructure_errors"] == summary["infrastructure_errors"] == len(FATAL)
    assert saved["termination_reasons"]["infrastructure_error"] == len(FATAL)
    assert sum(saved["termination_reasons"].values()) == saved["total_simulations"] == len(tasks)
    assert saved["successful"] == sum(r["success"] for r in results) >= len(tasks) - len(FATAL)


# -- kill -9, then --resume --------------------------------------------------------------------------
class SlowOracle:
    """Good answers only, each after ``delay_s``; counts requests."""

    def __init__(self, tasks, delay_s: float):
        self.script, self.delay_s = OracleScript(tasks), delay_s

    def __call__(self, body: dict) -> dict:
        return {**good_step(self.script, body), "stall": self.delay_s}


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_kill_9_mid_run_then_resume_finishes_every_pair_exactly_once(tasks, tmp_path: Path):
    six = tasks[:6]
    tasks_file = tmp_path / "tasks.json"
    save_tasks(six, tasks_file)
    out = tmp_path / "run"
    results_file = out / "results.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(Path.cwd() / "src"), os.environ.get("PYTHONPATH")] if p
        ),
    }
    with FakeServer(responder=SlowOracle(six, 0.2)) as server:
        command = [
            sys.executable, "-m", "casework.cli", "run",
            "--tasks", str(tasks_file), "--out", str(out),
            "--model", "fake-model", "--base-url", server.base_url,
            "--trials", "2", "--concurrency", "3",
        ]  # fmt: skip
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while _lines(results_file) < 3:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
                assert time.monotonic() < deadline, "the run wrote no results in 60 s"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        before = read_results(out)
        manifest_before = json.loads((out / "manifest.json").read_text())
        assert 3 <= len(before) < 12, "killed in the middle"
        assert not (out / "summary.json").exists()

        resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr

    results = read_results(out)
    pairs = [(r["task_id"], r["trial"]) for r in results]
    assert sorted(pairs) == sorted((t.id, trial) for t in six for trial in range(2))  # each exactly once
    assert results[: len(before)] == before  # finished pairs were kept, not re-run
    assert all(r["termination_reason"] in ("user_stop", "transfer") and r["reward"] == 1.0 for r in results)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total_simulations"] == 12 and summary["successful"] == 12

    manifest = json.loads((out / "manifest.json").read_text())
    assert "resumed_at" in manifest and "resumed_at" not in manifest_before

    # Unchanged except resumed_at (and the --resume flag itself, which is outside the fingerprint).
    def strip(m: dict) -> dict:
        return {
            **{k: v for k, v in m.items() if k != "resumed_at"},
            "config": {**m["config"], "resume": None},
        }

    assert strip(manifest) == strip(manifest_before)
    assert manifest["config"]["resume"] is True and manifest_before["config"]["resume"] is False
