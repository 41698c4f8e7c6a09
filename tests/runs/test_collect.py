"""``casework collect``: rejection sampling over the run machinery.

The agents here are the oracle (reward 1 at once, the same solution every time) and a fake
OpenAI-compatible endpoint that plays the oracle but fails (ends at once, no tool call) on the
first attempt of chosen tasks or on every attempt of others; every attempt is graded for real.
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
from typer.testing import CliRunner

from casework.bench.sim import OracleScript
from casework.cli import app
from casework.domains import get_domain
from casework.domains.tools import ToolKind
from casework.generate.templated import generate_templated
from casework.llm import EndpointConfig, LLMClient
from casework.runs.collect import (
    COLLECT_FILE,
    Attempt,
    CollectRunner,
    TaskTally,
    trajectory_signature,
)
from casework.runs.runner import RunConfig
from casework.runs.store import read_results
from casework.tasks import save_tasks
from llm.fake_server import FakeServer, chat_json, sse_chunks


@pytest.fixture(scope="module")
def write_tasks():
    """Templated retail tasks whose ground truth changes the database (doing nothing scores 0)."""
    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 24, seed=3)
    writes = [t for t in tasks if any(domain.toolbox.tools[a.name].kind == ToolKind.WRITE for a in t.actions)]
    assert len(writes) >= 5
    return writes[:5]


def _collect(config: RunConfig, **clients) -> dict:
    async def go() -> dict:
        return await CollectRunner(config, **clients).run()

    return asyncio.run(go())


def _pairs(out: Path) -> list[tuple[str, int]]:
    return [(r["task_id"], r["trial"]) for r in read_results(out)]


# -- the oracle: one success per task at its first attempt, then it stops ------------------------------


def test_oracle_collects_one_success_per_task_on_the_first_attempt_and_stops(write_tasks, tmp_path: Path):
    tasks_file = tmp_path / "tasks.json"
    save_tasks(write_tasks, tasks_file)
    out = tmp_path / "collect"
    summary = _collect(RunConfig(tasks=tasks_file, out=out, agent="oracle", trials=3, collect_successes=1))

    assert _pairs(out) == [(t.id, 0) for t in write_tasks] or sorted(_pairs(out)) == sorted(
        (t.id, 0) for t in write_tasks
    )
    results = read_results(out)
    assert all(r["reward"] == 1.0 and r["collect"]["accepted"] for r in results)
    collect = json.loads((out / COLLECT_FILE).read_text())
    assert collect == summary["collect"]
    totals = collect["totals"]
    assert totals["tasks"] == totals["tasks_collected"] == len(write_tasks)
    assert totals["attempts"] == totals["accepted"] == len(write_tasks)
    assert totals["acceptance_rate"] == 1.0 and 0.0 < totals["wilson_low"] < 1.0
    for task in write_tasks:
        row = collect["tasks"][task.id]
        assert row["status"] == "collected" and row["attempts"] == 1 and row["accepted"] == [0]
    assert sum(s["tasks"] for s in collect["scenarios"].values()) >= len(write_tasks)
    assert (out / "summary.json").exists() and (out / "manifest.json").exists()


def test_duplicate_successes_do_not_count_and_the_task_runs_out_of_attempts(write_tasks, tmp_path: Path):
    """The oracle finds the same solution every time: with --successes 2 the first is accepted, the
    others are duplicates of it, and the task is exhausted after every attempt."""
    tasks_file = tmp_path / "tasks.json"
    save_tasks(write_tasks[:2], tasks_file)
    out = tmp_path / "collect"
    _collect(RunConfig(tasks=tasks_file, out=out, agent="oracle", trials=3, collect_successes=2))
    results = read_results(out)
    assert sorted(_pairs(out)) == sorted((t.id, k) for t in write_tasks[:2] for k in range(3))
    for r in results:
        assert r["reward"] == 1.0
        assert r["collect"]["accepted"] == (r["trial"] == 0)
        assert r["collect"]["duplicate_of"] == (None if r["trial"] == 0 else 0)
    collect = json.loads((out / COLLECT_FILE).read_text())
    assert collect["totals"]["tasks_exhausted"] == 2 and collect["totals"]["duplicates"] == 4
    assert collect["totals"]["accepted"] == 2 and collect["totals"]["attempts"] == 6


def test_signature_normalises_arguments_and_includes_the_final_state():
    rules = get_domain("retail").arguments
    base = {
        "final_state_sha256": "abc",
        "tool_calls": [
            {"name": "get_order_details", "arguments": {"order_id": "#W0000001"}, "requestor": "assistant"},
            {"name": "x", "arguments": {}, "requestor": "user"},  # the user's own device: not the agent's
        ],
    }
    same = {
        "final_state_sha256": "abc",
        "tool_calls": [{"id": "other", "name": "get_order_details", "arguments": {"order_id": "W0000001"}}],
    }
    other_state = {**same, "final_state_sha256": "def"}
    assert trajectory_signature(base, rules) == trajectory_signature(same, rules)
    assert trajectory_signature(base, rules) != trajectory_signature(other_state, rules)
    tally = TaskTally.of(
        {0: Attempt(False, "a"), 1: Attempt(True, "s"), 2: Attempt(True, "s"), 3: Attempt(True, "t")}, 2
    )
    assert tally.accepted == [1, 3] and tally.duplicates == {2: 1} and tally.next_trial(5, 2) is None


# -- a fake endpoint that fails first attempts ---------------------------------------------------------


class FlakyOracle:
    """Plays the oracle, except: tasks in ``fail_first`` fail their first attempt, tasks in
    ``always_fail`` every attempt (the agent says ###STOP### at once: no tool call, reward 0).
    An attempt starts with a request that holds no assistant message yet."""

    def __init__(self, tasks, fail_first: set[str], always_fail: set[str], delay_s: float = 0.0):
        self.script = OracleScript(tasks)
        self.fail_first, self.always_fail = fail_first, always_fail
        self.delay_s = delay_s
        self.started: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict) -> dict:
        task = self.script.task_of(body["messages"])
        with self.lock:
            if not any(m["role"] == "assistant" for m in body["messages"]):
                self.started[task.id] += 1
            attempt = self.started[task.id] - 1
        fail = task.id in self.always_fail or (task.id in self.fail_first and attempt == 0)
        text, calls = ("###STOP###", []) if fail else self.script.reply(body["messages"])
        if body.get("stream"):
            step = {
                "sse": sse_chunks([text] if text else None, tool_calls=[(i, n, [a]) for i, n, a in calls])
            }
        else:
            tool_calls = [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
            ]
            step = {"json": chat_json(text, tool_calls or None, "tool_calls" if calls else "stop")}
        return {**step, "stall": self.delay_s} if self.delay_s else step


def test_fake_agent_failing_first_attempts_gives_the_right_acceptance_counts(write_tasks, tmp_path: Path):
    tasks = write_tasks[:5]
    tasks_file = tmp_path / "tasks.json"
    save_tasks(tasks, tasks_file)
    fail_first = {tasks[0].id, tasks[1].id}
    always_fail = {tasks[2].id}
    responder = FlakyOracle(tasks, fail_first, always_fail)
    out = tmp_path / "collect"
    with FakeServer(responder=responder) as server:
        config = EndpointConfig(model="fake-model", base_url=server.base_url, max_retries=0)

        async def go() -> dict:
            async with LLMClient(config, role="agent") as client:
                return await CollectRunner(
                    RunConfig(tasks=tasks_file, out=out, trials=3, collect_successes=1, concurrency=3),
                    agent_llm=client,
                ).run()

        summary = asyncio.run(go())

    expected = {
        tasks[0].id: [0, 1],
        tasks[1].id: [0, 1],
        tasks[2].id: [0, 1, 2],
        tasks[3].id: [0],
        tasks[4].id: [0],
    }
    by_task: dict[str, list[int]] = {}
    for task_id, trial in _pairs(out):
        by_task.setdefault(task_id, []).append(trial)
    assert {k: sorted(v) for k, v in by_task.items()} == expected
    assert responder.started == Counter({k: len(v) for k, v in expected.items()})  # no extra attempt started
    results = {(r["task_id"], r["trial"]): r for r in read_results(out)}
    assert results[(tasks[0].id, 0)]["reward"] == 0.0 and results[(tasks[0].id, 1)]["reward"] == 1.0
    collect = summary["collect"]
    assert collect == json.loads((out / COLLECT_FILE).read_text())
    assert collect["tasks"][tasks[0].id]["accepted"] == [1]
    assert collect["tasks"][tasks[2].id]["status"] == "exhausted"
    assert collect["tasks"][tasks[2].id]["accepted"] == []
    totals = collect["totals"]
    assert (totals["attempts"], totals["accepted"], totals["successes"]) == (9, 4, 4)
    assert (totals["tasks_collected"], totals["tasks_exhausted"], totals["tasks_pending"]) == (4, 1, 0)
    assert totals["acceptance_rate"] == pytest.approx(4 / 9, abs=1e-6)
    assert totals["wilson_low"] < 4 / 9 < totals["wilson_high"]
    rows = collect["scenarios"].values()
    assert sum(r["attempts"] for r in rows) >= 9  # a multi-scenario task counts in each of its scenarios


# -- resume --------------------------------------------------------------------------------------------


def test_interrupted_collection_continues_without_repeating_or_losing_attempts(write_tasks, tmp_path: Path):
    """A crash leaves a prefix of results.jsonl (and a torn line): collecting again with the same --out
    finishes exactly what an uninterrupted collection records."""
    tasks_file = tmp_path / "tasks.json"
    save_tasks(write_tasks[:3], tasks_file)
    full = tmp_path / "full"
    _collect(RunConfig(tasks=tasks_file, out=full, agent="oracle", trials=3, collect_successes=2))
    reference = {(r["task_id"], r["trial"]): r["collect"] for r in read_results(full)}
    assert len(reference) == 9

    out = tmp_path / "crashed"
    _collect(RunConfig(tasks=tasks_file, out=out, agent="oracle", trials=3, collect_successes=2))
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    kept = lines[:4]
    (out / "results.jsonl").write_bytes(b"".join(kept) + lines[4][:50])  # killed mid-write
    (out / COLLECT_FILE).unlink()
    before = read_results(out)
    assert len(before) == 4

    _collect(RunConfig(tasks=tasks_file, out=out, agent="oracle", trials=3, collect_successes=2, resume=True))
    after = read_results(out)
    assert after[:4] == before  # finished attempts kept, not re-run
    pairs = [(r["task_id"], r["trial"]) for r in after]
    assert len(pairs) == len(set(pairs)) == 9
    assert {(r["task_id"], r["trial"]): r["collect"] for r in after} == reference
    assert json.loads((out / COLLECT_FILE).read_text())["totals"]["attempts"] == 9


def test_kill_9_mid_collection_then_collect_again(write_tasks, tmp_path: Path):
    tasks = write_tasks[:5]
    tasks_file = tmp_path / "tasks.json"
    save_tasks(tasks, tasks_file)
    out = tmp_path / "collect"
    results_file = out / "results.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(Path.cwd() / "src"), os.environ.get("PYTHONPATH")] if p
        ),
    }
    responder = FlakyOracle(tasks, {tasks[0].id, tasks[1].id}, {tasks[2].id}, delay_s=0.15)
    with FakeServer(responder=responder) as server:
        command = [
            sys.executable, "-m", "casework.cli", "collect",
            "--tasks", str(tasks_file), "--out", str(out), "--attempts", "3",
            "--model", "fake-model", "--base-url", server.base_url, "--concurrency", "2",
        ]  # fmt: skip
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not results_file.exists() or results_file.read_bytes().count(b"\n") < 2:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
                assert time.monotonic() < deadline, "no attempt recorded in 60 s"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
        before = read_results(out)
        assert 2 <= len(before) < 9, "killed in the middle"
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        after = read_results(out)
        third = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
        assert third.returncode == 0, third.stderr
        assert "no model started" in third.stderr

    assert read_results(out) == after  # nothing left to do: nothing run again
    assert after[: len(before)] == before
    pairs = [(r["task_id"], r["trial"]) for r in after]
    assert len(pairs) == len(set(pairs))
    collect = json.loads((out / COLLECT_FILE).read_text())
    by_task: dict[str, list[dict]] = {}
    for r in after:
        by_task.setdefault(r["task_id"], []).append(r)
    for task in tasks:
        attempts = sorted(by_task[task.id], key=lambda r: r["trial"])
        assert [r["trial"] for r in attempts] == list(range(len(attempts)))  # none skipped or lost
        row = collect["tasks"][task.id]
        if row["status"] == "collected":  # stopped at the first success
            assert [r["success"] for r in attempts] == [False] * (len(attempts) - 1) + [True]
        else:
            assert row["status"] == "exhausted" and len(attempts) == 3
            assert not any(r["success"] for r in attempts)
    assert collect["tasks"][tasks[2].id]["status"] == "exhausted"
    assert collect["tasks"][tasks[3].id]["status"] == "collected"
    printed = " ".join(third.stdout.split())
    assert "4 trajectories accepted from 9 attempts (1 exhausted)" in printed


# -- the command line ----------------------------------------------------------------------------------


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cli_oracle_collection_prints_the_acceptance_table_and_exports(write_tasks, tmp_path: Path):
    tasks_file = tmp_path / "tasks.json"
    save_tasks(write_tasks[:3], tasks_file)
    out = tmp_path / "c"
    result = _cli(
        "collect", "--tasks", str(tasks_file), "--attempts", "2", "--agent", "oracle", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert "95% CI" in result.output and "total" in result.output
    assert "3 trajectories accepted from 3 attempts" in result.output

    report = _cli("report", str(out))
    assert report.exit_code == 0, report.output

    data = tmp_path / "sft"
    exported = _cli(
        "export", str(out), "--format", "sft", "--min-reward", "1", "--dedupe", "--out", str(data)
    )
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    assert sorted(r["task_id"] for r in rows) == sorted(t.id for t in write_tasks[:3])
    assert all(r["messages"][-1]["role"] == "assistant" for r in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attempts", "0"], "--attempts 0: expected at least 1"),
        (["--attempts", "2", "--successes", "3"], "--successes 3 is more than --attempts 2"),
        (["--attempts", "2", "--best-of-n", "3"], "--best-of-n 3 needs the LLM user"),
        (
            [
                "--attempts",
                "2",
                "--best-of-n",
                "3",
                "--user",
                "llm",
                "--model",
                "m",
                "--base-url",
                "http://x/v1",
            ],
            "--best-of-n needs a judge endpoint",
        ),
    ],
)
def test_cli_bad_counts_are_one_line_errors(write_tasks, tmp_path: Path, args, message):
    tasks_file = tmp_path / "tasks.json"
    save_tasks(write_tasks[:1], tasks_file)
    result = _cli("collect", "--tasks", str(tasks_file), "--out", str(tmp_path / "c"), *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "c").exists()


def test_cli_refuses_an_out_of_another_task_file_or_a_plain_run(write_tasks, tmp_path: Path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    save_tasks(write_tasks[:1], first)
    save_tasks(write_tasks[1:2], second)
    out = tmp_path / "c"
    ok = _cli("collect", "--tasks", str(first), "--attempts", "1", "--agent", "oracle", "--out", str(out))
    assert ok.exit_code == 0, ok.output
    before = (out / "results.jsonl").read_bytes()

    other = _cli("collect", "--tasks", str(second), "--attempts", "1", "--agent", "oracle", "--out", str(out))
    assert other.exit_code == 2
    assert (
        "holds a collection of another task file" in other.output and "choose another --out" in other.output
    )

    changed = _cli(
        "collect", "--tasks", str(first), "--attempts", "2", "--agent", "oracle", "--out", str(out)
    )
    assert changed.exit_code == 2 and "(attempts: 1 -> 2)" in changed.output
    assert (out / "results.jsonl").read_bytes() == before

    plain = tmp_path / "run"
    assert _cli("run", "--tasks", str(first), "--agent", "oracle", "--out", str(plain)).exit_code == 0
    refused = _cli(
        "collect", "--tasks", str(first), "--attempts", "1", "--agent", "oracle", "--out", str(plain)
    )
    assert refused.exit_code == 2 and "holds a `casework run` run, not a collection" in refused.output


def test_an_infrastructure_error_is_not_an_attempt_and_the_next_attempt_runs(write_tasks, tmp_path: Path):
    tasks = write_tasks[:2]
    tasks_file = tmp_path / "tasks.json"
    save_tasks(tasks, tasks_file)
    good = FlakyOracle(tasks, set(), set())
    broken = tasks[0].id
    first_call = {"seen": False}

    def responder(body: dict) -> dict:
        task = good.script.task_of(body["messages"])
        if task.id == broken and not first_call["seen"]:
            first_call["seen"] = True  # the very first request of this task fails (HTTP 500)
            return {"status": 500, "json": {"error": {"message": "internal error"}}}
        return good(body)

    out = tmp_path / "collect"
    with FakeServer(responder=responder) as server:
        config = EndpointConfig(model="fake-model", base_url=server.base_url, max_retries=0)

        async def go(resume: bool) -> dict:
            async with LLMClient(config, role="agent") as client:
                run = RunConfig(tasks=tasks_file, out=out, trials=3, collect_successes=1, resume=resume)
                return await CollectRunner(run, agent_llm=client).run()

        collect = asyncio.run(go(False))["collect"]
        row = collect["tasks"][broken]
        assert row["infrastructure_errors"] == 1 and row["attempts"] == 1 and row["accepted"] == [1]
        assert collect["totals"]["infrastructure_errors"] == 1 and collect["totals"]["attempts"] == 2
        # continuing: the task is already collected, so its failed attempt is set aside, not re-run
        again = asyncio.run(go(True))
    assert again["simulations_this_session"] == 0
    assert sorted(_pairs(out)) == sorted([(broken, 1), (tasks[1].id, 0)])
    assert (out / "results.retried.jsonl").read_text().count("\n") == 1
    assert again["collect"]["tasks"][broken]["accepted"] == [1]


def test_cli_refuses_best_of_n_where_the_user_acts_on_a_device(tmp_path: Path):
    sample = get_domain("telecom").sample_tasks
    assert sample is not None and sample.exists()
    out = tmp_path / "c"
    result = _cli(
        "collect", "--tasks", str(sample), "--domain", "telecom", "--attempts", "2", "--out", str(out),
        "--user", "llm", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
        "--best-of-n", "2", "--judge-model", "j", "--judge-base-url", "http://127.0.0.1:9/v1",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "dual control" in result.output and "Traceback" not in result.output
    assert not out.exists()
