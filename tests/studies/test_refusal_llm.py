"""A grounded refusal against the real embedded judge (Qwen2.5-Coder-0.5B): one templated retail
refusal, played by the oracle (says the refusal with the policy rule) and by noop (a bare "sorry").

Short on purpose: no agent model, the scripted user, two judge calls. It proves that the oracle's
grounded refusal passes the small judge; what the judge makes of noop's bare "sorry" is recorded in
the result, not asserted (README, Studies: measured)."""

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
    nl = oracle["components"]["NL_ASSERTION"]
    print("oracle messages:", json.dumps(oracle["messages"][1:])[:1500])
    print("oracle NL_ASSERTION:", json.dumps(nl)[:1500])
    assert nl["status"] == "ok" and nl["reward"] == 1.0, nl
    assert oracle["reward"] == 1.0
    assert noop["components"]["DB"]["reward"] == 1.0
    # the small judge's verdict on a bare "sorry" is measured, not asserted: print it for the record
    print("noop NL_ASSERTION:", json.dumps(noop["components"]["NL_ASSERTION"])[:400])
