"""``casework collect --backend ray``: the attempt loop stays on the driver, attempts run on Ray workers.

Needs ``casework[ray]``; skipped with a reason when Ray is not installed.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray backend needs casework[ray]")

from casework.domains import get_domain  # noqa: E402
from casework.generate.templated import generate_templated  # noqa: E402
from casework.runs.collect import COLLECT_FILE, make_collect_runner  # noqa: E402
from casework.runs.runner import RunConfig  # noqa: E402
from casework.runs.store import read_results  # noqa: E402
from casework.tasks import save_tasks  # noqa: E402
from sim.test_best_of_n import ANSWERS, CandidateModel, FidelityJudge  # noqa: E402

TIMINGS = {"execution_time", "model_response_time", "user_response_time", "tool_execution_time"}


def _comparable(results: list[dict]) -> dict:
    def strip(value):
        if isinstance(value, dict):
            return {
                k: strip(v) for k, v in value.items() if k not in TIMINGS | {"message_times", "duration_s"}
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return {(r["task_id"], r["trial"]): strip(r) for r in results}


def test_collection_on_ray_records_what_the_local_backend_records(tmp_path: Path):
    domain = get_domain("retail")
    tasks_file = tmp_path / "tasks.json"
    save_tasks(generate_templated(domain, domain.database(), 6, seed=4), tasks_file)

    def collect(out: Path, backend: str) -> dict:
        config = RunConfig(
            tasks=tasks_file, out=out, agent="oracle", trials=3, collect_successes=2, concurrency=4
        )
        runner = make_collect_runner(config, backend=backend, workers=2 if backend == "ray" else None)
        return asyncio.run(runner.run())

    local = collect(tmp_path / "local", "local")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = collect(tmp_path / "ray", "ray")
    finally:
        ray.shutdown()
    assert remote["backend"]["name"] == "ray"
    # the oracle repeats its solution: attempt 0 accepted, attempts 1 and 2 duplicates (follow-ups ran)
    results = read_results(tmp_path / "ray")
    assert len(results) == 18 and len({(r["task_id"], r["trial"]) for r in results}) == 18
    assert _comparable(results) == _comparable(read_results(tmp_path / "local"))
    assert remote["collect"] == local["collect"] == json.loads((tmp_path / "ray" / COLLECT_FILE).read_text())
    assert remote["collect"]["totals"]["accepted"] == 6 and remote["collect"]["totals"]["duplicates"] == 12


def _best_of_n_clients() -> dict:
    """Each worker's user model and fidelity judge (the scripted ones of the best-of-N tests)."""
    return {"user_llm": CandidateModel(), "judge_llm": FidelityJudge(ANSWERS)}


def test_best_of_n_user_turns_on_ray_workers_match_the_local_backend(tmp_path: Path):
    """Best-of-N on Ray: each worker samples the candidates and asks its own judge client; the result
    lines (chosen candidate, every score) equal the local backend's."""
    import sys

    from ray import cloudpickle

    import sim.test_best_of_n as scripted

    cloudpickle.register_pickle_by_value(scripted)  # the workers do not have the tests on their path
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 12, seed=5, refusals="state-only")
    chosen = [t for t in tasks if t.actions and not domain.toolbox[t.actions[-1].name].ends_conversation][:3]
    tasks_file = tmp_path / "tasks.json"
    save_tasks(chosen, tasks_file)

    def collect(out: Path, backend: str) -> None:
        config = RunConfig(
            tasks=tasks_file,
            out=out,
            agent="oracle",
            user="llm",
            best_of_n=3,
            trials=2,
            collect_successes=1,
            concurrency=2,
        )
        if backend == "ray":
            runner = make_collect_runner(config, backend="ray", workers=2, client_factory=_best_of_n_clients)
        else:
            clients = _best_of_n_clients()
            runner = make_collect_runner(config, user_llm=clients["user_llm"], judge_llm=clients["judge_llm"])
        asyncio.run(runner.run())

    collect(tmp_path / "local", "local")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        collect(tmp_path / "ray", "ray")
    finally:
        ray.shutdown()
    local, remote = read_results(tmp_path / "local"), read_results(tmp_path / "ray")
    assert len(remote) == len(local) == 3  # each task accepted on its first attempt
    for result in remote:
        turns = result["user_turns"]
        assert turns and all(t["best_of_n"]["scores"] == [3.0, 9.0, 0.0] for t in turns)
        roles = [c["role"] for c in result["model_calls"]]
        assert roles.count("judge") == roles.count("user") == 3 * len(turns)
    strip = {"model_calls", "message_times"}
    assert {k: {f: v for f, v in r.items() if f not in strip} for k, r in _comparable(remote).items()} == {
        k: {f: v for f, v in r.items() if f not in strip} for k, r in _comparable(local).items()
    }
