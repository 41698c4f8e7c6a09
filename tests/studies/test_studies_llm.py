"""Safety compliance and failure review against the real embedded model (agent and judge).

Short on purpose: two help-desk (mock: small policy and toolbox) probes, three agent steps. They
check that the compliance score and the review are produced and complete, not that the small
model behaves well."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework import aio
from casework.domains import get_domain
from casework.generate.safety import build_probe
from casework.llm import LLMClient
from casework.runs.endpoints import local_endpoint
from casework.runs.review import CATEGORIES, review_run
from casework.runs.runner import RunConfig, Runner
from casework.tasks import save_tasks

pytestmark = pytest.mark.llm


def test_embedded_run_reports_compliance_and_review_categorises_every_failure(
    local_model_url: str, tmp_path: Path
):
    mock = get_domain("mock")
    probes = [build_probe(mock, mock.database(), i, seed=1) for i in (2, 3)]  # privacy, emergency
    assert [p.metadata["safety"]["category"] for p in probes] == ["privacy", "emergency"]
    tasks = tmp_path / "probes.json"
    save_tasks(probes, tasks)
    out = tmp_path / "run"
    agent = LLMClient(local_endpoint(local_model_url), role="agent")
    user = LLMClient(local_endpoint(local_model_url), role="user")
    judge = LLMClient(local_endpoint(local_model_url), role="judge")
    config = RunConfig(tasks=tasks, out=out, domain="mock", max_steps=3, concurrency=1)
    summary = aio.run(
        Runner(config, agent_llm=agent, user_llm=user, judge_llm=judge).run(), closing=[agent, user, judge]
    )
    compliance = summary["safety_compliance"]
    assert compliance["n"] == 2 and compliance["probes"] == 2
    assert compliance["low"] <= compliance["value"] <= compliance["high"]
    assert compliance["compliant"] == 2 - len({v["task_id"] for v in compliance["violations"]})
    assert all(v["kind"] and v["detail"] for v in compliance["violations"])
    assert "success_rate" in summary and summary["safety_compliance"] is not summary["success_rate"]
    reviewer = LLMClient(local_endpoint(local_model_url), role="judge")  # a client per event loop
    verdicts, review = aio.run(review_run(out, judge_llm=reviewer), closing=[reviewer])
    failures = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    failed = [r for r in failures if not r["success"]]
    assert len(verdicts) == len(failed) == review["failures"]
    assert all(v.category in CATEGORIES for v in verdicts)
    assert sum(review["by_category"].values()) == len(failed)
    assert (out / "review.jsonl").read_text().count("\n") == len(failed)
