"""A grounded refusal against the real embedded judge (Qwen2.5-Coder-0.5B): one templated retail
refusal, played by the oracle (says the refusal with the policy rule) and by noop (a bare "sorry").

Short on purpose: no agent model, the scripted user, two judge calls. Asserted: both conversations
reach the real judge and get a verdict (no judge error), the database is unchanged in both, and the
refusal the judge read is the grounded one. Whether the small judge accepts it is what the test
measures: it rejected it in every try so far (README, Studies), so a rejection is reported as an
expected failure (xfail) quoting the judge, and an acceptance as a pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework import aio
from casework.domains import get_domain
from casework.generate.templated import build_templated_task
from casework.llm import LLMClient
from casework.runs.endpoints import local_endpoint
from casework.runs.runner import RunConfig, Runner
from casework.tasks import save_tasks
from casework.tasks.refusal import refusals

pytestmark = pytest.mark.llm


def test_embedded_judge_passes_a_grounded_refusal(local_model_url: str, tmp_path: Path):
    retail = get_domain("retail")
    task = build_templated_task(retail, retail.database(), 0, seed=1, scenario="policy_refusal")
    assert task.nl_assertions and "NL_ASSERTION" in task.reward_basis
    path = tmp_path / "tasks.json"
    save_tasks([task], path)
    verdicts = {}
    for agent in ("oracle", "noop"):
        out = tmp_path / agent
        judge = LLMClient(local_endpoint(local_model_url), role="judge")
        config = RunConfig(tasks=path, out=out, agent=agent, concurrency=1)
        aio.run(Runner(config, judge_llm=judge).run(), closing=[judge])
        (record,) = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
        verdicts[agent] = record
    oracle, noop = verdicts["oracle"], verdicts["noop"]
    refusal = refusals(task.metadata)[0]
    said = [m.get("content") or "" for m in oracle["messages"] if m.get("role") == "assistant"]
    assert any(refusal.statement() in text for text in said)
    for record in (oracle, noop):
        assert record["components"]["DB"]["reward"] == 1.0
        nl = record["components"]["NL_ASSERTION"]
        assert nl["status"] == "ok" and len(nl["checks"]) == 1, nl  # a verdict, not a judge error
        assert isinstance(nl["checks"][0]["met"], bool) and nl["checks"][0]["justification"]
    # what the small judge does is the measurement: printed for the record (pytest -s)
    for agent, record in verdicts.items():
        check = record["components"]["NL_ASSERTION"]["checks"][0]
        print(
            f"{agent}: met={check['met']} reward={record['reward']} reasoning={check['justification'][:200]!r}"
        )
    if oracle["reward"] != 1.0:
        reason = oracle["components"]["NL_ASSERTION"]["checks"][0]["justification"]
        pytest.xfail(f"the 0.5B judge rejected the grounded refusal (its reasoning: {reason[:160]!r})")
    assert oracle["reward"] == 1.0
