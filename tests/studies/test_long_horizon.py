"""Long-horizon tasks (--intents N): per-intent golden slices, the completion ratio, and noise."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.generate.pipeline import PipelineConfig, TemplatedGenerator, run_pipeline
from casework.runs.runner import RunConfig, Runner
from casework.runs.studies import completion_rows
from casework.scoring.noise import noise_summary
from casework.tasks import save_tasks


@pytest.mark.parametrize("name", ["retail", "airline", "mock"])
def test_five_intent_tasks_validate_with_slices_covering_every_action(name):
    domain = get_domain(name)
    db = domain.database()
    result = run_pipeline(
        domain, db, TemplatedGenerator(domain, db, seed=4, intents=5), PipelineConfig(num_tasks=4)
    )
    assert len(result.tasks) == 4 and not result.rejected
    for task in result.tasks:
        intents = task.metadata["intents"]
        assert len(intents) == 5 and len(task.scenario) == 5
        assert intents[0]["actions"][0] == 0 and intents[-1]["actions"][1] == len(task.actions)
        assert all(a["actions"][1] == b["actions"][0] for a, b in zip(intents, intents[1:], strict=False))
        assert sorted(i for part in intents for i in part["outputs"]) == list(range(len(task.outputs)))


def _tasks(tmp_path: Path, name: str = "retail"):
    domain = get_domain(name)
    db = domain.database()
    tasks = TemplatedGenerator(domain, db, seed=2, intents=5)
    built = [tasks.build(i, 0) for i in range(3)]
    path = tmp_path / "long.json"
    save_tasks(built, path)
    return domain, db, built, path


def test_oracle_completes_every_subgoal_and_summary_reports_it(tmp_path: Path, conversation_judge):
    domain, db, built, path = _tasks(tmp_path)
    config = RunConfig(tasks=path, out=tmp_path / "run", agent="oracle")
    summary = asyncio.run(Runner(config, judge_llm=conversation_judge()).run())
    assert summary["completion"]["mean_completion_ratio"] == 1.0
    assert summary["completion"]["success_rate"] == 1.0
    assert all(row["ratio"] == 1.0 for row in summary["completion"]["per_simulation"])
    assert sum(b["n"] for b in summary["success_by_length"].values()) == 3


def test_partial_work_gets_partial_credit(tmp_path: Path):
    domain, db, built, path = _tasks(tmp_path)
    task = built[0]
    cut = task.metadata["intents"][2]["actions"][0]  # the agent did the first two requests only
    done = task.actions[:cut]
    said = " ".join(task.outputs)
    result = {
        "task_id": task.id,
        "trial": 0,
        "success": False,
        "reward": 0.0,
        "tool_calls": [{"name": a.name, "arguments": a.arguments} for a in done],
        "messages": [{"role": "assistant", "content": said}],
    }
    (row,) = completion_rows([result], [task], domain, db)
    achieved = [part["achieved"] for part in row["completion"]["intents"]]
    assert achieved[:2] == [True, True]
    # later requests that change the state are missed; pure lookups whose outputs were said count
    changing = [bool(part["missing"]) for part in row["completion"]["intents"][2:]]
    assert any(changing)
    assert row["completion"]["ratio"] == sum(achieved) / 5 and 0 < row["completion"]["ratio"] < 1
    nothing = dict(result, tool_calls=[], messages=[])
    (row,) = completion_rows([nothing], [task], domain, db)
    assert row["completion"]["ratio"] == 0.0


def test_noise_flip_rate_and_trials_needed():
    rows = [{"task_id": "stable", "trial": t, "success": True} for t in range(4)] + [
        {"task_id": "coin", "trial": t, "success": t % 2 == 0} for t in range(4)
    ]
    noise = noise_summary(rows)
    assert noise["flip_rate"] == {"coin": pytest.approx(2 * 2 * 2 / 12), "stable": 0.0}
    assert noise["tasks_that_flip"] == 1 and noise["mean_trials"] == 4
    # within-task variance (1/3 for the coin, 0 for the stable task) -> 1/6; more trials narrow it
    assert noise["within_task_variance"] == pytest.approx(1 / 6)
    needed = noise["trials_needed"]
    assert needed["0.05"] is None  # two tasks that differ this much: no number of trials is enough
    assert noise_summary([{"task_id": "a", "trial": 0, "success": True}]) is None
    many = [
        {"task_id": f"t{i}", "trial": t, "success": (i + t) % 3 == 0} for i in range(200) for t in range(3)
    ]
    wide = noise_summary(many)
    assert wide["trials_needed"]["0.2"] == 1 and wide["trials_needed"]["0.05"] > wide["trials_needed"]["0.1"]


def test_regrade_recomputes_the_study_sections(tmp_path: Path, conversation_judge):
    from casework.runs.regrade import REGRADED_SUMMARY, regrade

    domain, db, built, path = _tasks(tmp_path)
    run = tmp_path / "run"
    summary = asyncio.run(
        Runner(RunConfig(tasks=path, out=run, agent="oracle"), judge_llm=conversation_judge()).run()
    )
    report = asyncio.run(regrade(run))
    assert report.summary["completion"] == summary["completion"]
    import json

    assert json.loads((run / REGRADED_SUMMARY).read_text())["completion"]["mean_completion_ratio"] == 1.0
    report = asyncio.run(regrade(run, out=tmp_path / "again"))
    assert (
        json.loads((tmp_path / "again" / "summary.json").read_text())["completion"] == summary["completion"]
    )
