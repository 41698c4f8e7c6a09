"""Oracle runs of τ³'s retail train split under the τ³ tool profiles (scripted judge: NL verdicts fixed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.runs.records import read_records
from casework.runs.runner import RunConfig, Runner
from casework.tasks import load_tasks
from casework.validation.profiles import golden_replay


@pytest.mark.parametrize("profile", ["tau3", "tau3-exact"])
def test_oracle_scores_one_on_every_cleanly_replaying_task(
    profile, tau3_retail_dir: Path, tmp_path, scripted_judge
):
    tasks_file, data = tau3_retail_dir / "tasks_train.json", tau3_retail_dir / "db.json"
    domain = get_domain("retail", profile)
    database = domain.load_data(data)
    clean = [t.id for t in load_tasks(tasks_file) if not golden_replay(domain, database, t).errors]
    config = RunConfig(
        tasks=tasks_file, out=tmp_path / "run", data=data, agent="oracle", domain=f"retail@{profile}"
    )
    asyncio.run(Runner(config, judge_llm=scripted_judge()).run())
    records = {r.task_id: r for r in read_records(tmp_path / "run")}
    assert len(records) == 74 and len(clean) == 64  # 63 under v1, whose toolbox lacks get_item_details
    assert [i for i in clean if records[i].reward != 1] == []
    # the defect-dependent tasks score 1 under both profiles: the oracle's state and the golden one
    # are built by the same tools
    assert all(records[i].reward == 1 for i in ("20", "21", "37"))
