"""Dual control (τ³ telecom): the user acts on their own phone inside the simulation loop.

The oracle agent asks the user for the user-side golden actions; the scripted user performs them
when asked; solo mode gives the agent both tool sets; trajectories record each call's side; action
metrics split agent and user actions. The τ³ tasks come from ``../shared`` and are run through
``casework run`` itself.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.domains.telecom import replay_task
from casework.sim.agents import OracleAgent, device_request
from casework.sim.orchestrator import Simulation, SimulationConfig
from casework.sim.users import LLMUser, ScriptedUser
from casework.tasks import export_tau2, load_tasks
from casework.tasks.model import Action

TELECOM = get_domain("telecom")
FILES = {"tasks_train.json": 74, "tasks_small.json": 20}


def _run(tmp_path: Path, tasks: Path, data: Path, *extra: str) -> list[dict]:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--domain",
            "telecom",
            "--agent",
            "oracle",
            "--data",
            str(data),
            "--tasks",
            str(tasks),
            "--out",
            str(out),
            "--concurrency",
            "1",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("name", "count"), FILES.items())
def test_oracle_and_scripted_user_solve_every_tau3_telecom_task(tau3_dir: Path, tmp_path: Path, name, count):
    data = tau3_dir / "telecom"
    tasks = load_tasks(data / name)
    assert len(tasks) == count  # every task imports
    results = _run(tmp_path, data / name, data)
    assert len(results) == count
    assert [r["task_id"] for r in results if r["reward"] != 1.0] == []
    by_id = {t.id: t for t in tasks}
    for result in results:
        task = by_id[result["task_id"]]
        expected_user = [a.name for a in task.actions if a.requestor == "user"]
        # the user's golden actions were called by the user, on the device; the agent never called one
        assert [c["name"] for c in result["tool_calls"] if c["requestor"] == "user"] == expected_user
        agent_names = {c["name"] for c in result["tool_calls"] if c["requestor"] == "assistant"}
        assert not agent_names & set(TELECOM.user_toolbox.tools)
        if expected_user:
            assert result["user_action_recall"] == 1.0 and result["user_action_precision"] == 1.0
        assert result["action_recall"] == 1.0  # the agent's own golden actions only
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["avg_user_action_recall"] == 1.0 and summary["avg_action_recall"] == 1.0


def test_tau3_telecom_splits_select_the_task_files_tasks(tau3_dir: Path):
    from casework.tasks.splits import load_split_tasks

    data = tau3_dir / "telecom"
    for name, split in (("tasks_train.json", "train"), ("tasks_small.json", "small")):
        selected = load_split_tasks(data / name, split=split)
        assert [t.id for t in selected] == [t.id for t in load_tasks(data / name)]
        assert all(t.env_assertions and t.initial_state for t in selected)


def test_without_the_last_user_action_the_reward_is_zero_wherever_an_assertion_needs_it(
    tau3_dir: Path, tmp_path: Path
):
    data = tau3_dir / "telecom"
    base = TELECOM.database(data)
    raw = json.loads((data / "tasks_train.json").read_text())
    cut, needed = [], set()
    for task, record in zip(load_tasks(data / "tasks_train.json"), raw, strict=True):
        users = [i for i, a in enumerate(task.actions) if a.requestor == "user"]
        if not users:
            continue
        actions = [a for i, a in enumerate(task.actions) if i != users[-1]]
        shorter = task.model_copy(update={"actions": actions})
        cut.append(shorter)
        golden = [a for i, a in enumerate(record["evaluation_criteria"]["actions"]) if i != users[-1]]
        if not replay_task(base, record, golden).passed:  # an assertion depends on that action
            needed.add(task.id)
    assert len(cut) == 66 and len(needed) == 66
    path = tmp_path / "cut.json"
    export_tau2(cut, path)
    results = _run(tmp_path, path, data, "--no-validate")
    assert {r["task_id"] for r in results if r["reward"] == 0.0} == needed
    assert all(r["reward"] == 1.0 for r in results if r["task_id"] not in needed)


def test_solo_mode_gives_the_agent_both_tool_sets_and_the_solo_policy(tau3_dir: Path, tmp_path: Path):
    data = tau3_dir / "telecom"
    results = _run(tmp_path, data / "tasks_small.json", data, "--mode", "solo")
    assert all(r["reward"] == 1.0 for r in results)
    overdue = next(r for r in results if "overdue_bill" in r["task_id"])
    assert [c["requestor"] for c in overdue["tool_calls"]] == ["assistant", "user", "assistant", "user"]
    # no user simulator: the only user message is the task itself; the system prompt is the solo policy
    assert sum(m["role"] == "user" for m in overdue["messages"]) == 1
    assert TELECOM.policies["solo"].strip()[:200] in overdue["messages"][0]["content"]


def _task(tau3_dir: Path, key: str):
    tasks = load_tasks(tau3_dir / "telecom" / "tasks_small.json")
    return next(t for t in tasks if key in t.id)


def _scripted(task):
    user = ScriptedUser()
    user.bind_domain(TELECOM)
    done: list[tuple[str, dict]] = []
    schemas = TELECOM.user_toolbox.openai_schemas()
    state = TELECOM.database().fork()
    user.bind_tools(
        schemas,
        lambda name, args: (done.append((name, args)), TELECOM.user_toolbox.call(state, name, args))[1],
    )
    user.reset(task, TELECOM.users.facts_for(state, task.user_id), None, lambda: False)
    return user, done


def test_scripted_user_rule_named_action_then_named_read_tool_then_next_in_order(tau3_dir: Path):
    task = _task(tau3_dir, "break_app_both_permissions")
    pending = [a for a in task.actions if a.requestor == "user"]
    assert len(pending) == 2
    user, done = _scripted(task)
    # (1) the message names the second pending action: that one, with its golden arguments
    second = pending[1]
    assert user.device_action(device_request(second), named_only=True) == (second.name, second.arguments)
    # (2) a read-only device tool the message names, not golden
    assert user.device_action("Could you check status bar for me?", named_only=True) == (
        "check_status_bar",
        {},
    )
    # (3) a request to do something on the phone without naming a tool: the next pending action
    assert user.device_action("What is your name?", named_only=False) is None
    assert user.device_action("Please open the settings on your phone.", named_only=False) == (
        pending[0].name,
        pending[0].arguments,
    )
    assert user.device_action("Please try that again on your phone.", named_only=False) is None  # all done
    reply = asyncio.run(user.respond("Please restart your phone."))  # nothing pending: no device call
    assert done == [] and "Done" not in reply.content


def test_oracle_asks_the_user_for_user_side_actions_instead_of_calling_them():
    assert device_request(Action(name="toggle_airplane_mode", requestor="user")) == (
        "Please toggle airplane mode on your phone now."
    )
    assert (
        device_request(
            Action(name="grant_app_permission", arguments={"app_name": "messaging", "permission": "sms"})
        )
        == "Please grant app permission (app name: messaging, permission: sms) on your phone now."
    )
    assert OracleAgent is not None


class _FakeUserModel:
    """A user model that first calls a device tool, then reports what it saw."""

    def __init__(self, tool: str):
        self.tool = tool
        self.requests: list[dict] = []

    async def chat(self, messages, tools=None, tool_choice=None, **params):
        self.requests.append({"messages": list(messages), "tools": tools})
        usage = SimpleNamespace(model_dump=lambda mode=None: {"role": "user"})
        last = messages[-1]
        if tools and last["role"] == "user" and "phone" in (last.get("content") or ""):
            call = SimpleNamespace(id="u1", name=self.tool, arguments="{}")
            return SimpleNamespace(content=None, tool_calls=[call], usage=usage)
        if last["role"] == "tool":
            return SimpleNamespace(
                content=f"My phone says: {last['content'][:60]}", tool_calls=[], usage=usage
            )
        return SimpleNamespace(content="My phone has no service.", tool_calls=[], usage=usage)


def test_llm_user_calls_device_tools_and_grounds_its_reply_in_their_results(tau3_dir: Path):
    task = _task(tau3_dir, "airplane_mode_on")
    database = TELECOM.database(tau3_dir / "telecom")
    from casework.runs.grading import fresh_state

    model = _FakeUserModel("toggle_airplane_mode")
    simulation = Simulation(
        domain=TELECOM,
        state=fresh_state(TELECOM, database, task),
        task=task,
        agent=OracleAgent(),
        user=LLMUser(model),
        config=SimulationConfig(max_steps=4),
    )
    outcome = asyncio.run(simulation.run())
    user_calls = [c for c in outcome.tool_calls if c.requestor == "user"]
    assert [c.name for c in user_calls] == ["toggle_airplane_mode"]
    said = [m["content"] for m in outcome.messages if m["role"] == "user"]
    assert any(user_calls[0].observation[:30] in s for s in said)  # the reply quotes the tool result
    # the user model saw the device tools and the rules about them; the agent never saw the call
    assert model.requests[-1]["tools"] and "Your phone:" in model.requests[-1]["messages"][0]["content"]
    assert not any(m.get("role") == "tool" and m.get("tool_call_id") == "u1" for m in outcome.messages)
    passed, _ = TELECOM.check_env_assertion(
        outcome.final_state, task.env_assertions[0].func_name, task.env_assertions[0].arguments
    )
    assert passed


class _LazyUserModel(_FakeUserModel):
    """A user model that claims to have done what it was asked unless the tool is forced."""

    async def chat(self, messages, tools=None, tool_choice=None, **params):
        self.requests.append({"messages": list(messages), "tools": tools, "tool_choice": tool_choice})
        usage = SimpleNamespace(model_dump=lambda mode=None: {"role": "user"})
        if isinstance(tool_choice, dict):
            call = SimpleNamespace(id="u1", name=tool_choice["function"]["name"], arguments="{}")
            return SimpleNamespace(content=None, tool_calls=[call], usage=usage)
        if messages[-1]["role"] == "tool":
            return SimpleNamespace(
                content=f"It shows: {messages[-1]['content'][:40]}", tool_calls=[], usage=usage
            )
        return SimpleNamespace(content="Toggled it, all good.", tool_calls=[], usage=usage)


def test_llm_user_that_answers_without_the_named_tool_is_asked_once_to_call_it(tau3_dir: Path):
    from casework.runs.grading import fresh_state

    task = _task(tau3_dir, "airplane_mode_on")
    model = _LazyUserModel("toggle_airplane_mode")
    simulation = Simulation(
        domain=TELECOM,
        state=fresh_state(TELECOM, TELECOM.database(tau3_dir / "telecom"), task),
        task=task,
        agent=OracleAgent(),
        user=LLMUser(model),
        config=SimulationConfig(max_steps=3),
    )
    outcome = asyncio.run(simulation.run())
    assert [c.name for c in outcome.tool_calls if c.requestor == "user"] == ["toggle_airplane_mode"]
    forced = [r for r in model.requests if isinstance(r["tool_choice"], dict)]
    assert len(forced) == 1 and "call that tool now" in forced[0]["messages"][-1]["content"]
    said = [m["content"] for m in outcome.messages if m["role"] in ("user", "assistant") and m.get("content")]
    asked = said.index("Please toggle airplane mode on your phone now.")
    assert said[asked + 1].startswith("It shows: Airplane Mode is now OFF")  # from the tool's result
