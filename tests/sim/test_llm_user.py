"""The LLM user against a scripted OpenAI-compatible endpoint: stray stop tokens, early stops, empty replies.

The agent is the oracle (no model); the user is :class:`LLMUser` talking to ``tests/llm/fake_server.py``,
whose responder answers from the conversation the user model is shown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.llm import EndpointConfig, LLMClient
from casework.runs.runner import RunConfig, Runner
from casework.runs.store import read_results
from casework.sim.users import GREETING
from casework.tasks import save_tasks
from llm.fake_server import FakeServer, chat_json, sse_chunks

RETAIL = get_domain("retail")


@pytest.fixture(scope="module")
def tasks():
    tasks = generate_templated(RETAIL, RETAIL.database(), 12, seed=5, refusals="state-only")  # no judge here
    # tasks the oracle ends by talking (not a transfer), so the user has the last word
    return [t for t in tasks if t.actions and t.actions[-1].name != "transfer_to_human_agents"][:3]


def run_with_user_model(
    tasks, tmp_path: Path, answer: Callable[[list[dict]], str]
) -> tuple[list, dict, list]:
    tasks_file = tmp_path / "tasks.json"
    save_tasks(tasks, tasks_file)
    out = tmp_path / "run"
    seen: list[list[dict]] = []

    def responder(body: dict) -> dict:
        seen.append(body["messages"])
        text = answer(body["messages"])
        if body.get("stream"):
            return {"sse": sse_chunks([text] if text else None, finish_reason="stop")}
        return {"json": chat_json(text)}

    with FakeServer(responder=responder) as server:
        config = EndpointConfig(model="fake-model", base_url=server.base_url, max_retries=0, timeout_s=5)

        async def run() -> dict:
            async with LLMClient(config, role="user") as client:
                return await Runner(
                    RunConfig(tasks=tasks_file, out=out, agent="oracle", user="llm", concurrency=1),
                    user_llm=client,
                ).run()

        summary = asyncio.run(run())
    return read_results(out), summary, seen


def agent_has_spoken(messages: list[dict]) -> bool:
    """The user model is shown the agent's words as 'user' messages; the greeting is not the agent's work."""
    return any(m["role"] == "user" and m["content"].startswith("Your request is complete") for m in messages)


@pytest.mark.parametrize("token", ["### STOP###", "###stop###", " ##STOP ## "])
def test_a_stray_stop_token_as_first_message_does_not_end_the_run(tasks, tmp_path, token):
    def answer(messages: list[dict]) -> str:
        if agent_has_spoken(messages):
            return token  # a genuine end, written sloppily: recognised
        return token if len(messages) == 2 else "Hi, I need help with my order, please."

    results, summary, seen = run_with_user_model(tasks, tmp_path, answer)
    assert len(results) == len(tasks)
    for r in results:
        assert r["termination_reason"] == "user_stop", r["termination_reason"]
        assert r["reward"] == 1.0 and r["user_abnormal_end"] is None
        assert r["agent_steps"] >= 1  # the agent spoke
        opening = next(m for m in r["messages"] if m["role"] == "user")
        assert "STOP" not in opening["content"].upper()
    assert summary["user_simulator_abnormal_ends"] == 0
    # the retry told the model it must not end yet
    assert any("not end the conversation" in json.dumps(m) for m in seen)


def test_a_user_model_that_only_ever_stops_opens_with_the_scripted_request(tasks, tmp_path):
    results, summary, _ = run_with_user_model(tasks, tmp_path, lambda messages: "###STOP###")
    for r, task in zip(
        sorted(results, key=lambda r: r["task_id"]), sorted(tasks, key=lambda t: t.id), strict=True
    ):
        opening = next(m for m in r["messages"] if m["role"] == "user")["content"]
        assert "###" not in opening and opening != GREETING
        assert opening.startswith("I ") or opening.startswith("For ") or opening.startswith("My "), opening
        assert r["termination_reason"] == "user_stop" and r["agent_steps"] >= 1
        assert r["reward"] == 1.0, task.id


def test_empty_user_replies_end_the_run_as_abnormal_and_are_counted(tasks, tmp_path):
    def answer(messages: list[dict]) -> str:
        return "" if agent_has_spoken(messages) else "I want to change something in my order."

    results, summary, _ = run_with_user_model(tasks, tmp_path, answer)
    assert all(r["user_abnormal_end"] and "empty" in r["user_abnormal_end"] for r in results)
    assert summary["user_simulator_abnormal_ends"] == len(tasks)


def test_the_summary_counts_abnormal_user_ends():
    from casework.runs.summary import summarize

    results = [
        {"task_id": "a", "trial": 0, "success": False, "reward": 0.0, "user_abnormal_end": "gave up"},
        {"task_id": "b", "trial": 0, "success": True, "reward": 1.0, "user_abnormal_end": None},
        {"task_id": "c", "trial": 0, "success": True, "reward": 1.0},  # an older results file
    ]
    assert summarize(results)["user_simulator_abnormal_ends"] == 1
