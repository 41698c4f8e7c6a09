"""Dual control against the real embedded local model over HTTP (temperature 0): the model plays the
agent and, with the user's device tools, the LLM user, on one τ³ telecom task. It checks that the
trajectory is complete (each side's tool calls recorded with their requestor) and graded, not that
the small model solves the task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework import aio
from casework.domains import get_domain
from casework.llm import LLMClient
from casework.runs.endpoints import local_endpoint
from casework.runs.runner import RunConfig, Runner
from casework.runs.store import read_results
from casework.tasks import export_tau2, load_tasks

pytestmark = pytest.mark.llm

TELECOM = get_domain("telecom")


def test_llm_agent_and_llm_user_with_device_tools(local_model_url: str, tau3_dir: Path, tmp_path: Path):
    data = tau3_dir / "telecom"
    task = next(t for t in load_tasks(data / "tasks_small.json") if "airplane_mode_on" in t.id)
    tasks = tmp_path / "one.json"
    export_tau2([task], tasks)
    config = RunConfig(
        tasks=tasks,
        out=tmp_path / "run",
        domain="telecom",
        data=data,
        user="llm",
        max_steps=3,
        concurrency=1,
    )
    agent = LLMClient(local_endpoint(local_model_url), role="agent")
    user = LLMClient(local_endpoint(local_model_url), role="user")
    aio.run(Runner(config, agent_llm=agent, user_llm=user).run(), closing=[agent, user])
    [result] = read_results(config.out)
    json.dumps(result)
    # graded by the task's basis, with the assertion checked on the final state
    assert result["reward_basis"] == ["ENV_ASSERTION"] and result["reward"] in (0.0, 1.0)
    env = result["components"]["ENV_ASSERTION"]
    assert env["status"] == "ok" and len(env["checks"]) == len(task.env_assertions)
    # the agent's calls are answered in the conversation; the user's are recorded beside them
    messages = result["messages"]
    agent_ids = [c["id"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert [c["id"] for c in result["tool_calls"] if c["requestor"] == "assistant"] == agent_ids
    user_calls = [c for c in result["tool_calls"] if c["requestor"] == "user"]
    assert all(c["name"] in TELECOM.user_toolbox.tools for c in user_calls)
    assert not {c["name"] for c in result["tool_calls"] if c["requestor"] == "assistant"} & set(
        TELECOM.user_toolbox.tools
    )
    user_model_calls = [c for c in result["model_calls"] if c["role"] == "user"]
    assert user_model_calls and all(c["error"] is None for c in user_model_calls)
    assert result["agent_steps"] >= 1
    for m in messages[1:]:
        calls = [c["function"]["name"] for c in m.get("tool_calls") or []]
        print(m["role"], repr((m.get("content") or "")[:200]), calls or "")
    print("user tool calls:", [(c["name"], c["observation"][:60]) for c in user_calls])
    print("termination:", result["termination_reason"], "reward:", result["reward"])


def test_llm_user_calls_a_device_tool_when_asked(local_model_url: str, tau3_dir: Path, tmp_path: Path):
    """The oracle agent asks the user to toggle airplane mode; the real model, as the user with the
    device tools, calls the tool itself (recorded with requestor user) and the task is graded."""
    data = tau3_dir / "telecom"
    task = next(t for t in load_tasks(data / "tasks_small.json") if "airplane_mode_on" in t.id)
    tasks = tmp_path / "one.json"
    export_tau2([task], tasks)
    config = RunConfig(
        tasks=tasks,
        out=tmp_path / "run",
        domain="telecom",
        data=data,
        agent="oracle",
        user="llm",
        max_steps=3,
        concurrency=1,
    )
    user = LLMClient(local_endpoint(local_model_url), role="user")
    aio.run(Runner(config, user_llm=user).run(), closing=[user])
    [result] = read_results(config.out)
    for m in result["messages"][1:]:
        print(m["role"], repr((m.get("content") or "")[:200]))
    user_calls = [c for c in result["tool_calls"] if c["requestor"] == "user"]
    print("user tool calls:", [(c["name"], c["arguments"], c["observation"][:60]) for c in user_calls])
    print("termination:", result["termination_reason"], "reward:", result["reward"])
    assert "toggle_airplane_mode" in [c["name"] for c in user_calls]
    assert result["components"]["ENV_ASSERTION"]["status"] == "ok"
    assert result["user_action_recall"] is not None
