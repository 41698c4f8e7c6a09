"""Runs never give silent wrong answers, never lose or hide results, and stop cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.bench.sim import OracleScript
from casework.cli import app
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.runs.store import read_results
from casework.tasks import load_tasks, save_tasks
from llm.fake_server import FakeServer, chat_json, sse_chunks

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[2] / "src")


def invoke(*args) -> object:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def tasks():
    domain = get_domain("retail")
    return generate_templated(domain, domain.database(), 4, seed=3)


@pytest.fixture
def tasks_file(tasks, tmp_path) -> Path:
    path = tmp_path / "tasks.json"
    save_tasks(tasks, path)
    return path


def oracle(out: Path, tasks_file: Path, *extra) -> object:
    return invoke("run", "--tasks", tasks_file, "--out", out, "--agent", "oracle", *extra)


class GoodOracle:
    """The fake endpoint's answers: the ground truth of the task the conversation is about."""

    def __init__(self, tasks, delay_s: float = 0.0):
        self.script, self.delay_s = OracleScript(tasks), delay_s

    def __call__(self, body: dict) -> dict:
        text, calls = self.script.reply(body["messages"])
        if body.get("stream"):
            step = {
                "sse": sse_chunks([text] if text else None, tool_calls=[(i, n, [a]) for i, n, a in calls])
            }
            return {**step, "stall": self.delay_s} if self.delay_s else step
        tool_calls = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
        ]
        step = {"json": chat_json(text, tool_calls or None, "tool_calls" if calls else "stop")}
        return {**step, "stall": self.delay_s} if self.delay_s else step


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def models_file(path: Path, base_url: str) -> Path:
    path.write_text(
        f'[agent]\nmodel = "fake-model"\nbase_url = "{base_url}"\nmax_retries = 0\ntimeout_s = 5\nstream = false\n'
    )
    return path


# -- (b) tasks of another domain, duplicate ids, an unknown tool -------------------------------------


def test_tasks_of_another_domain_are_refused_naming_ids_and_domains(tasks, tmp_path):
    mixed = [t.model_copy(update={"domain": "airline"}) if i < 2 else t for i, t in enumerate(tasks)]
    path = tmp_path / "mixed.json"
    save_tasks(mixed, path)
    result = oracle(tmp_path / "run", path, "--domain", "retail")
    assert result.exit_code == 2, result.output
    assert (
        "airline" in result.output
        and repr(tasks[0].id) in result.output
        and repr(tasks[1].id) in result.output
    )
    assert not (tmp_path / "run").exists()


def test_a_tau2_airline_file_without_domain_runs_in_the_airline_domain_and_says_so(tmp_path):
    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "tau3" / "airline"
    if not (data / "tasks_train.json").exists():
        pytest.skip(f"reference data not found at {data}")
    # without --data the airline tasks do not fit retail's (or airline's embedded) data: refused, no run
    refused = oracle(tmp_path / "refused", data / "tasks_train.json")
    assert refused.exit_code == 2, refused.output
    assert "airline" in refused.output and not (tmp_path / "refused").exists()
    result = oracle(tmp_path / "run", data / "tasks_train.json", "--data", data / "db.json")
    assert result.exit_code == 0, result.output
    assert "airline tasks: running in the airline domain" in " ".join(result.output.split())
    results = read_results(tmp_path / "run")
    assert len(results) == 30 and all(r["reward"] == 1.0 for r in results)


def test_duplicate_task_ids_are_refused_with_the_ids_named(tasks, tmp_path):
    path = tmp_path / "dup.json"
    save_tasks([tasks[0], tasks[1], tasks[0]], path)
    result = oracle(tmp_path / "run", path)
    assert result.exit_code == 2
    assert "duplicate task ids" in result.output and repr(tasks[0].id) in result.output


def test_a_task_with_an_unknown_tool_is_refused_before_running(tasks, tmp_path):
    bad = tasks[0].model_copy(deep=True)
    bad.actions[0].name = "teleport_order"
    path = tmp_path / "bad.json"
    save_tasks([bad, tasks[1]], path)
    result = oracle(tmp_path / "run", path)
    assert result.exit_code == 2, result.output
    assert "unknown tool 'teleport_order'" in result.output and "--no-validate" in result.output
    assert not (tmp_path / "run").exists()
    skipped = oracle(tmp_path / "run", path, "--no-validate")
    assert skipped.exit_code == 0, skipped.output
    assert len(read_results(tmp_path / "run")) == 2


# -- (d) infrastructure errors -----------------------------------------------------------------------


def test_closed_port_exits_non_zero_then_resume_against_a_working_endpoint_completes(
    tasks, tasks_file, tmp_path
):
    out = tmp_path / "run"
    down = models_file(tmp_path / "down.toml", f"http://127.0.0.1:{closed_port()}/v1")
    first = invoke("run", "--tasks", tasks_file, "--out", out, "--models", down, "--concurrency", "1")
    assert first.exit_code == 3, first.output
    assert "infrastructure errors" in first.output and "--resume" in first.output
    failed = read_results(out)
    assert failed and all(r["termination_reason"] == "infrastructure_error" for r in failed)

    with FakeServer(responder=GoodOracle(tasks)) as server:
        up = models_file(tmp_path / "up.toml", server.base_url)
        resumed = invoke(
            "run", "--tasks", tasks_file, "--out", out, "--models", up, "--concurrency", "1", "--resume"
        )
    assert resumed.exit_code == 0, resumed.output
    assert "retrying" in resumed.output
    results = read_results(out)
    assert sorted(r["task_id"] for r in results) == sorted(t.id for t in tasks)  # each pair once
    assert all(r["termination_reason"] != "infrastructure_error" and r["reward"] == 1.0 for r in results)
    retried = (out / "results.retried.jsonl").read_text().splitlines()
    assert len(retried) == len(failed)  # the old lines are kept, not lost
    summary = json.loads((out / "summary.json").read_text())
    assert summary["infrastructure_errors"] == 0 and summary["successful"] == len(tasks)


def test_a_dead_endpoint_stops_the_run_instead_of_filling_it_with_errors(tmp_path):
    domain = get_domain("retail")
    many = generate_templated(domain, domain.database(), 12, seed=5)
    path = tmp_path / "tasks.json"
    save_tasks(many, path)
    out = tmp_path / "run"
    down = models_file(tmp_path / "down.toml", f"http://127.0.0.1:{closed_port()}/v1")
    result = invoke("run", "--tasks", path, "--out", out, "--models", down, "--concurrency", "1")
    assert result.exit_code == 3, result.output
    assert "stopped" in result.output and "--resume" in result.output
    assert len(read_results(out)) == 3  # max(3, concurrency + 2) in a row, then stop
    assert json.loads((out / "summary.json").read_text())["infrastructure_errors"] == 3


def test_no_retry_infrastructure_keeps_the_errors(tasks, tasks_file, tmp_path):
    out = tmp_path / "run"
    down = models_file(tmp_path / "down.toml", f"http://127.0.0.1:{closed_port()}/v1")
    args = ["run", "--tasks", tasks_file, "--out", out, "--models", down, "--concurrency", "1"]
    assert invoke(*args).exit_code == 3
    again = invoke(*args, "--resume", "--no-retry-infrastructure")
    assert again.exit_code == 3  # nothing re-run, the errors are still there
    assert not (out / "results.retried.jsonl").exists()


# -- (e) quality gates -------------------------------------------------------------------------------


def test_fail_under_gates_on_run_and_report(tasks_file, tmp_path):
    out = tmp_path / "run"
    passed = oracle(out, tasks_file, "--fail-under", "success=0.7,recall=0.6,precision=0.6")
    assert passed.exit_code == 0, passed.output
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    for r in lines:
        r.update(success=False, reward=0.0, action_recall=0.5)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    missed = invoke("report", out, "--fail-under", "success=0.7,recall=0.6,precision=0.6")
    assert missed.exit_code == 1, missed.output
    assert "success 0.000 < 0.7" in missed.output and "recall 0.500 < 0.6" in missed.output
    assert "precision" not in missed.output.split("gate missed")[-1]  # precision 1.0 passes
    assert invoke("report", out).exit_code == 0


# -- results lost or hidden --------------------------------------------------------------------------


def test_a_corrupt_line_is_reported_then_quarantined_and_its_pair_rerun(tasks, tasks_file, tmp_path):
    out = tmp_path / "run"
    assert oracle(out, tasks_file).exit_code == 0
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    lost = json.loads(lines[1])
    lines[1] = lines[1][: len(lines[1]) // 2] + b"\n"  # cut in the middle: not JSON
    (out / "results.jsonl").write_bytes(b"".join(lines))

    report = invoke("report", out)
    assert report.exit_code == 0, report.output
    assert f"{out / 'results.jsonl'}: line 2: invalid JSON" in report.output.replace("\n", "")
    assert "unreadable" in (out / "report.md").read_text()
    compared = invoke("compare", out, out, "--out", tmp_path / "cmp")
    assert "line 2" in compared.output

    resumed = oracle(out, tasks_file, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "line 2" in resumed.output
    assert (out / "results.quarantine").read_bytes() == lines[1]
    results = read_results(out)
    assert sorted((r["task_id"], r["trial"]) for r in results) == sorted((t.id, 0) for t in tasks)
    assert any(r["task_id"] == lost["task_id"] for r in results)


def test_resume_accepts_the_same_task_file_by_relative_and_absolute_path(tasks_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert oracle(out, Path(tasks_file.name), "--trials", "1").exit_code == 0
    again = oracle(out, tasks_file.resolve(), "--trials", "1", "--resume")
    assert again.exit_code == 0, again.output


# -- SIGTERM -----------------------------------------------------------------------------------------


def test_sigterm_stops_a_run_cleanly_keeps_results_and_exits_143(tasks, tasks_file, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [SRC, os.environ.get("PYTHONPATH")] if p)}
    responder = GoodOracle(tasks, delay_s=0.15)
    with FakeServer(responder=responder) as server:
        command = [
            sys.executable, "-m", "casework.cli", "run", "--tasks", str(tasks_file), "--out", str(out),
            "--model", "fake-model", "--base-url", server.base_url, "--trials", "2", "--concurrency", "1",
        ]  # fmt: skip
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not (out / "results.jsonl").exists() or not (out / "results.jsonl").read_bytes().count(
                b"\n"
            ):
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=20)
            stopped_in = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 143, stderr.decode()
        assert stopped_in < 10
        assert b"--resume" in stderr
        kept = read_results(out)
        assert 1 <= len(kept) < 8
        assert all(r["termination_reason"] == "user_stop" for r in kept)  # none cut into an error
        assert json.loads((out / "summary.json").read_text())["total_simulations"] == len(kept)
        responder.delay_s = 0.0
        resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr.decode()
    assert len(read_results(out)) == 8
    assert load_tasks(tasks_file)  # the task file is untouched


def test_without_domain_a_file_of_one_other_domain_runs_in_that_domain_and_says_so(
    tasks, tmp_path, monkeypatch
):
    import casework.domains
    from casework.runs.preflight import make_run_config, preflight

    real = casework.domains.get_domain
    monkeypatch.setattr(
        casework.domains, "get_domain", lambda name: real("retail" if name == "shop" else name)
    )
    path = tmp_path / "shop.json"
    save_tasks([t.model_copy(update={"domain": "shop"}) for t in tasks], path)
    config = make_run_config(tasks=path, out=tmp_path / "run", agent="oracle")
    checked = preflight(config, domain_given=False)
    assert checked.domain == "shop"
    assert checked.notes == [f"the tasks in {path} are shop tasks: running in the shop domain"]
    with pytest.raises(ValueError, match="run's domain is 'retail'"):
        preflight(config, domain_given=True)


def test_an_endpoint_that_dies_mid_run_stops_the_run_and_resume_finishes_it(tmp_path):
    """The embedded server dying looks like this to the runner: answers, then connection refused."""
    import asyncio

    from casework.llm import EndpointConfig, LLMClient
    from casework.runs.runner import RunConfig, Runner, RunStopped

    domain = get_domain("retail")
    many = generate_templated(
        domain, domain.database(), 10, seed=7, refusals="state-only"
    )  # fake endpoints play the golden actions: refusals graded by the state (no judge here)
    path = tmp_path / "tasks.json"
    save_tasks(many, path)
    out = tmp_path / "run"
    config = RunConfig(tasks=path, out=out, concurrency=1)

    async def run(server: FakeServer, on_result=None, resume: bool = False) -> dict:
        endpoint = EndpointConfig(model="fake-model", base_url=server.base_url, max_retries=0, stream=False)
        async with LLMClient(endpoint, role="agent") as client:
            resumed = config.model_copy(update={"resume": resume})
            return await Runner(resumed, agent_llm=client, on_result=on_result).run()

    server = FakeServer(responder=GoodOracle(many)).start()
    finished = []

    def kill_after_two(result: dict) -> None:
        finished.append(result)
        if len(finished) == 2:
            server.stop()  # the server dies between simulations

    started = time.monotonic()
    with pytest.raises(RunStopped, match="infrastructure errors.*--resume"):
        asyncio.run(run(server, kill_after_two))
    print(f"stopped after {time.monotonic() - started:.1f} s")
    reasons = [r["termination_reason"] for r in read_results(out)]
    assert "infrastructure_error" not in reasons[:2]
    assert reasons[2:] == ["infrastructure_error"] * 3  # stopped after 3 in a row, not 8
    assert json.loads((out / "summary.json").read_text())["total_simulations"] == 5

    with FakeServer(responder=GoodOracle(many)) as fresh:
        summary = asyncio.run(run(fresh, resume=True))
    assert summary["infrastructure_errors"] == 0 and summary["total_simulations"] == 10
    assert len((out / "results.retried.jsonl").read_text().splitlines()) == 3
