"""Simulations against the real embedded local model over HTTP on 127.0.0.1 (temperature 0).

They check that the trajectory is complete and scored, not that the small model succeeds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework import aio
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.llm import LLMClient
from casework.runs.endpoints import local_endpoint
from casework.runs.runner import RunConfig, Runner
from casework.runs.store import read_results
from casework.tasks import save_tasks

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def one_task(tmp_path_factory) -> Path:
    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 4, seed=3)
    path = tmp_path_factory.mktemp("tasks") / "tasks.json"
    save_tasks([t for t in tasks if t.scenario == "order_cancellation"][:1] or tasks[:1], path)
    return path


def check_complete(result: dict) -> None:
    messages = result["messages"]
    assert messages[0]["role"] == "system" and messages[1]["role"] == "user"
    assert len(result["message_times"]) == len(messages)
    assert result["agent_steps"] >= 1
    agent_calls = [c for c in result["model_calls"] if c["role"] == "agent"]
    assert len(agent_calls) == result["agent_steps"]
    for call in agent_calls:
        assert call["latency_s"] > 0 and call["prompt_tokens"] > 0 and call["error"] is None
    # Every tool call the agent made was answered by a tool message, in order.
    tool_ids = [c["id"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert tool_ids == answered
    assert [c["id"] for c in result["tool_calls"]] == tool_ids
    assert result["termination_reason"] in {
        "user_stop",
        "transfer",
        "out_of_scope",
        "agent_stop",
        "max_steps",
        "too_many_errors",
    }
    # the reward is tau-bench's: 1 exactly when the state hashes like the ground truth and every output was said
    state_ok = result["final_state_sha256"] == result["expected_state_sha256"]
    assert result["reward"] == (1.0 if state_ok and all(result["outputs_found"]) else 0.0)
    assert 0.0 <= result["action_f1"] <= 1.0
    assert result["error_category"] in {
        "none",
        "action_sequence",
        "parameter",
        "logic",
        "execution",
        "outputs",
        "user_simulator",
        "unknown",
    }
    assert result["final_state_sha256"] and result["expected_state_sha256"]
    json.dumps(result)  # serialisable as a results line


def run(config: RunConfig, url: str) -> list[dict]:
    client = LLMClient(local_endpoint(url), role="agent")
    user = LLMClient(local_endpoint(url), role="user")
    aio.run(Runner(config, agent_llm=client, user_llm=user).run(), closing=[client, user])
    return read_results(config.out)


def test_llm_agent_with_scripted_user(local_model_url: str, one_task: Path, tmp_path: Path):
    config = RunConfig(tasks=one_task, out=tmp_path / "run", user="scripted", max_steps=5, concurrency=1)
    [result] = run(config, local_model_url)
    check_complete(result)
    assert any(m["role"] == "assistant" for m in result["messages"])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["total_simulations"] == 1 and summary["infrastructure_errors"] == 0


def test_llm_agent_with_llm_user_and_persona(local_model_url: str, one_task: Path, tmp_path: Path):
    config = RunConfig(
        tasks=one_task, out=tmp_path / "run", user="llm", persona="frustration", max_steps=4, concurrency=1
    )
    [result] = run(config, local_model_url)
    check_complete(result)
    assert result["persona"] == "frustration"
    user_calls = [c for c in result["model_calls"] if c["role"] == "user"]
    assert user_calls, "the LLM user spoke through the model"
    # every user message came from at least one model call (a stray stop token at the opening, or an
    # empty reply, is asked again once: then two calls give one message)
    user_messages = sum(m["role"] == "user" for m in result["messages"])
    assert user_messages <= len(user_calls) <= 2 * user_messages
