"""NL assertions judged end to end by the real embedded model over HTTP (temperature 0).

They check that every assertion gets a recorded verdict and reason from the model, that the judge's
calls are recorded like every model call, and that re-grading reuses the cached verdicts; not that
the small model judges well.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework import aio
from casework.llm import LLMClient
from casework.llm.local import MODEL_NAME
from casework.runs.endpoints import local_endpoint
from casework.runs.records import read_records
from casework.runs.regrade import regrade
from casework.runs.runner import RunConfig, Runner

pytestmark = pytest.mark.llm


def test_embedded_model_judges_nl_assertions_over_http(
    local_model_url: str, tau3_retail_dir: Path, tmp_path: Path
):
    records = json.loads((tau3_retail_dir / "tasks_train.json").read_text())
    (task,) = [r for r in records if r["id"] == "24"]  # the shortest oracle conversation with an assertion
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps([task]))
    out = tmp_path / "run"
    judge = LLMClient(local_endpoint(local_model_url), role="judge", keep_records=False)
    config = RunConfig(tasks=tasks, out=out, data=tau3_retail_dir / "db.json", agent="oracle")
    aio.run(Runner(config, judge_llm=judge, judge_id=MODEL_NAME).run(), closing=[judge])

    (record,) = read_records(out)
    nl = record.components["NL_ASSERTION"]
    assert nl.gates and nl.status == "ok", nl.note
    assert [c.subject for c in nl.checks] == task["evaluation_criteria"]["nl_assertions"]
    assert all(isinstance(c.met, bool) and c.justification for c in nl.checks)
    assert nl.reward == (1.0 if all(c.met for c in nl.checks) else 0.0)
    assert record.reward == nl.reward * record.components["DB"].reward
    calls = [c for c in record.model_calls if c.role == "judge"]
    assert len(calls) == len(nl.checks)
    assert all(
        c.model == MODEL_NAME and c.latency_s > 0 and c.prompt_tokens and c.completion_tokens for c in calls
    )

    again = LLMClient(local_endpoint(local_model_url), role="judge", keep_records=False)
    report = aio.run(regrade(out, judge_llm=again, judge_id=MODEL_NAME), closing=[again])
    assert report.judge_calls == 0 and report.judge_cached == len(nl.checks) and report.rewards_changed == 0
