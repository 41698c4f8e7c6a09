"""``casework run`` over two replicas of the real embedded model, one killed (SIGKILL) mid-run.

Two embedded-model servers (each the process ``casework serve`` runs, one thread each) serve the
agent role as one replica pool (``base_urls`` in a models file). When the first result is on disk
one replica is killed; the run must finish every simulation exactly once, with no result lost to an
infrastructure error, and the per-replica latency profile must show both replicas. Short on
purpose: 3 tasks, a one-paragraph policy, at most 3 agent steps of at most 160 tokens each (fewer
truncate a tool call mid-JSON, which llama.cpp answers with HTTP 500 on every attempt).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.reports.profile import latency_profile
from casework.runs.endpoints import local_endpoint
from casework.runs.store import read_results
from casework.tasks import save_tasks

pytestmark = pytest.mark.llm

POLICY = (
    "You are a retail customer service agent. Identify the user first, then use the tools to look up "
    "and change orders as the user asks. Be brief."
)


@pytest.fixture
def two_replicas(request: pytest.FixtureRequest):
    if (
        "llm" not in (request.config.getoption("markexpr") or "")
        and os.environ.get("CASEWORK_LLM_TESTS") != "1"
    ):
        pytest.skip("real-model test: run with -m llm or CASEWORK_LLM_TESTS=1")
    from casework.llm.local import ensure_local_model, local_extra_missing, spawn_local_server

    if reason := local_extra_missing():
        pytest.skip(reason)
    ensure_local_model()

    logs, procs, urls = [], [], []
    try:
        for _ in range(2):
            log = tempfile.NamedTemporaryFile(prefix="casework-replica-", suffix=".log", delete=False)  # noqa: SIM115
            logs.append(log)
            proc, url = spawn_local_server(threads=1, ctx=4096, parallel=1, log_file=log)
            procs.append(proc)
            urls.append(url)
        yield procs, urls
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for log in logs:
            log.close()
            os.unlink(log.name)


def test_run_over_two_embedded_replicas_survives_one_killed_mid_run(two_replicas, tmp_path: Path):
    procs, urls = two_replicas
    domain = get_domain("retail")
    # state-only refusals: no judge model, only the two agent replicas in the profile
    tasks = generate_templated(domain, domain.database(), 3, seed=5, refusals="state-only")
    tasks_file, policy, models = tmp_path / "tasks.json", tmp_path / "policy.md", tmp_path / "models.json"
    save_tasks(tasks, tasks_file)
    policy.write_text(POLICY, encoding="utf-8")
    agent = local_endpoint(urls[0]).model_dump(mode="json", exclude_none=True)
    agent.update(base_url=None, base_urls=urls, max_tokens=160, max_retries=2, timeout_s=240.0)
    models.write_text(json.dumps({"agent": {k: v for k, v in agent.items() if v is not None}}))
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "casework.cli", "run",
        "--tasks", str(tasks_file), "--models", str(models), "--policy", str(policy),
        "--concurrency", "2", "--max-steps", "3", "--no-validate", "--out", str(out),
    ]  # fmt: skip
    started = time.monotonic()
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_at = None
    try:
        while run.poll() is None:
            if killed_at is None and (out / "results.jsonl").exists() and read_results(out):
                os.kill(procs[0].pid, signal.SIGKILL)  # replica 1 dies mid-run
                killed_at = time.monotonic() - started
            time.sleep(0.2)
            assert time.monotonic() - started < 900, "the run took more than 15 minutes"
        stdout, stderr = run.communicate()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, stderr[-6000:]
    assert killed_at is not None, "the run ended before a replica could be killed"
    assert procs[0].wait(timeout=10) == -signal.SIGKILL
    results = read_results(out)
    pairs = [(r["task_id"], r["trial"]) for r in results]
    assert sorted(pairs) == sorted((t.id, 0) for t in tasks)  # every simulation exactly once
    assert not [r["error"] for r in results if r["termination_reason"] == "infrastructure_error"]
    profile = latency_profile(results)
    by_url = {row["base_url"]: row["calls"] for row in profile["replicas"]}
    assert set(by_url) == set(urls) and all(n > 0 for n in by_url.values()), by_url
    calls = [c for r in results for c in r["model_calls"] if c["role"] == "agent"]
    failed = [c for c in calls if c.get("error")]
    assert all(c["base_url"] == urls[0] for c in failed)  # only the killed replica failed
    late = [c for r in results for c in r["model_calls"] if c["role"] == "agent" and not c.get("error")]
    print(
        f"\nreplica failover: {len(results)} simulations in {time.monotonic() - started:.0f} s, replica 1 "
        f"killed at {killed_at:.0f} s; calls per replica {by_url}; failed calls {len(failed)}; "
        f"answered calls {len(late)}; rewards {[r['reward'] for r in results]}"
    )
