"""The harness self-test: the oracle agent with the scripted user solves every solvable task."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from casework.runs.runner import RunConfig, Runner
from casework.runs.store import RunDirError, read_results


def run(config: RunConfig, judge=None) -> dict:
    return asyncio.run(Runner(config, judge_llm=judge).run())


def test_oracle_scores_one_on_every_dev_task_that_replays_cleanly(tau_retail_dir: Path, tmp_path: Path):
    tasks = tau_retail_dir / "tasks_dev.json"
    expected = {e["id"]: e for e in json.loads((tau_retail_dir / "expected_replay_dev.json").read_text())}
    out = tmp_path / "run"
    summary = run(
        RunConfig(tasks=tasks, out=out, data=tau_retail_dir, agent="oracle", user="scripted", concurrency=4)
    )
    results = read_results(out)
    assert len(results) == 20
    solvable = [r for r in results if not expected[r["task_id"]]["error_observations"]]
    assert solvable, "the dev set has tasks whose ground truth replays cleanly"
    for r in solvable:
        assert r["reward"] == 1.0, (r["task_id"], r["termination_reason"], r["error_detail"])
        assert r["final_state_sha256"] == expected[r["task_id"]]["final_state_sha256"]
        assert r["exact_match"] and r["action_f1"] == 1.0
        assert r["termination_reason"] == "user_stop"
    assert summary["total_simulations"] == 20
    assert summary["successful"] >= len(solvable)
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == 20 and set(rows[0]) >= {"task_id", "trial", "success", "reward", "termination_reason"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tasks_sha256"] and manifest["config"]["agent"] == "oracle"


def test_resume_skips_finished_pairs_and_refuses_other_configs(tmp_path: Path, conversation_judge):
    from casework.domains import get_domain
    from casework.generate.templated import generate_templated
    from casework.tasks import save_tasks

    domain = get_domain("retail")
    tasks_file = tmp_path / "tasks.json"
    save_tasks(generate_templated(domain, domain.database(), 4, seed=1), tasks_file)
    out = tmp_path / "run"
    config = RunConfig(tasks=tasks_file, out=out, agent="oracle", trials=2, concurrency=2)
    judge = conversation_judge()  # the templated refusals are graded on the oracle's grounded refusal

    def run(config: RunConfig) -> dict:
        return asyncio.run(Runner(config, judge_llm=judge).run())

    run(config)
    assert len(read_results(out)) == 8
    # A torn last line (as after kill -9 mid-write) is dropped and the pair re-run.
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    (out / "results.jsonl").write_bytes(b"".join(lines[:-1]) + lines[-1][:20])
    with pytest.raises(RunDirError, match="--resume"):
        run(config)
    run(config.model_copy(update={"resume": True}))
    results = read_results(out)
    assert sorted((r["task_id"], r["trial"]) for r in results) == sorted(
        {(r["task_id"], r["trial"]) for r in results}
    )
    assert len(results) == 8
    with pytest.raises(RunDirError, match="trials"):
        run(config.model_copy(update={"resume": True, "trials": 3}))
    assert all(r["reward"] == 1.0 for r in results)
