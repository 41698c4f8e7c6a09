"""A step-wise RL environment (Gymnasium API): one step is one agent turn.

``reset(options={"task": Task | task_id})`` (or a seeded pick among the environment's tasks) forks the
domain's database, lets the scripted user (:class:`casework.sim.users.ScriptedUser`) open the
conversation and returns the observation. ``step(agent_message)`` takes the agent's turn as text
(tool calls written as ```json blocks, ``<tool_call>`` tags or bare JSON, the formats
:func:`casework.llm.parsing.parse_text_tool_calls` reads, or a JSON assistant message with
``tool_calls``): its tool calls run on the fork and their results come back as the observation (the
agent moves again); a turn without tool calls goes to the user, whose reply is the observation.
The episode terminates when the user stops (or is transferred); it is truncated after ``max_steps``
agent turns. The final reward is the task's grade (tau-bench's: the database hashes like the replayed
ground truth and every expected output was said); with ``dense=True`` each step also earns the
change in the normalised shaped reward of the calls made so far.

Observations are text: the messages added since the agent's last turn, as ASCII JSON (``info``
holds them as dicts, and the whole conversation under ``messages``).
"""

from __future__ import annotations

import asyncio
import json
import string
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from casework.domains import get_domain
from casework.domains.registry import DEFAULT_DOMAIN
from casework.llm.parsing import parse_text_tool_calls
from casework.runs.grading import ExpectedOutcome, fresh_state
from casework.scoring import compute_reward, shaped_reward
from casework.sim.agents import AgentSetup, system_prompt
from casework.sim.orchestrator import AGENT_STOP_TOKEN
from casework.sim.types import Termination
from casework.sim.users import ScriptedUser
from casework.tasks import load_tasks
from casework.tasks.model import Task
from casework.tasks.replay import is_error

MAX_TEXT = 1_000_000  # an observation (the opening one holds the policy)
MAX_TURN = 8_192  # an agent turn


class CaseworkEnv(gym.Env):
    """Gymnasium environment over casework tasks (see the module docstring)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        tasks: list[Task] | Path | str,
        *,
        domain: str = DEFAULT_DOMAIN,
        data: Path | str | None = None,
        max_steps: int = 30,
        dense: bool = False,
        render_mode: str | None = None,
    ):
        self.domain = get_domain(domain)
        self.database = self.domain.database(Path(data) if data else None)
        self.tasks = load_tasks(Path(tasks), domain=domain) if isinstance(tasks, str | Path) else list(tasks)
        if not self.tasks:
            raise ValueError("the environment needs at least one task")
        self.max_steps = max_steps
        self.dense = dense
        self.render_mode = render_mode
        self.tools = self.domain.toolbox.openai_schemas()
        self.observation_space = spaces.Text(max_length=MAX_TEXT, charset=string.printable)
        self.action_space = spaces.Text(max_length=MAX_TURN, charset=string.printable)
        self._expected: dict[str, ExpectedOutcome] = {}
        self._loop = asyncio.new_event_loop()
        self.task: Task | None = None
        self.messages: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []

    # -- helpers ---------------------------------------------------------------------------------
    def _expected_of(self, task: Task) -> ExpectedOutcome:
        if task.id not in self._expected:
            self._expected[task.id] = ExpectedOutcome.of(self.domain, self.database, task)
        return self._expected[task.id]

    def _agent_texts(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "assistant" and m.get("content")]

    def _shaped(self) -> float:
        assert self.task is not None
        expected = [{"name": a.name, "arguments": a.arguments} for a in self.task.actions]
        return shaped_reward(expected, self.calls, rules=self.domain.arguments).normalized

    def _observation(self, new: list[dict[str, Any]]) -> str:
        return json.dumps(new, ensure_ascii=True)

    def _pick(self, options: dict[str, Any] | None) -> Task:
        choice = (options or {}).get("task")
        if isinstance(choice, Task):
            return choice
        if isinstance(choice, str):
            for task in self.tasks:
                if task.id == choice:
                    return task
            raise ValueError(f"no task with id {choice!r} in this environment")
        return self.tasks[int(self.np_random.integers(len(self.tasks)))]

    def _parse(self, action: Any) -> tuple[str, list[dict[str, Any]]]:
        """``(text, calls)`` of an agent turn given as text or as a JSON assistant message."""
        if isinstance(action, dict):
            message = action
        else:
            text = str(action)
            try:
                message = json.loads(text) if text.lstrip().startswith("{") else None
            except json.JSONDecodeError:
                message = None
            if not (isinstance(message, dict) and message.get("role") == "assistant"):
                content, parsed = parse_text_tool_calls(text, self.domain.toolbox.tools.keys())
                return content, [{"name": c.name, "arguments": c.arguments} for c in parsed]
        calls = [
            {"name": c["function"]["name"], "arguments": c["function"].get("arguments", "{}")}
            for c in message.get("tool_calls") or []
        ]
        return message.get("content") or "", calls

    # -- the Gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        self.task = self._pick(options)
        self.state = fresh_state(self.domain, self.database, self.task)  # the task's initial state applied
        self.steps = 0
        self.calls = []
        self.done = False
        self.user = ScriptedUser()
        expected = self._expected_of(self.task)
        self.user.reset(
            self.task,
            self.domain.users.facts_for(self.state, self.task.user_id),
            None,
            lambda: expected.goal_reached(self.state, self._agent_texts()),
        )
        setup = AgentSetup(policy=self.domain.policy, tools=self.tools, task=self.task)
        opening = self._loop.run_until_complete(self.user.first_message())
        self.messages = [
            {"role": "system", "content": system_prompt(setup)},
            {"role": "user", "content": opening.content},
        ]
        self._potential = self._shaped() if self.dense else 0.0
        return self._observation(self.messages), {
            "task_id": self.task.id,
            "messages": list(self.messages),
            "tools": self.tools,
        }

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict]:
        if self.task is None or self.done:
            raise RuntimeError("call reset() before step() (the episode has ended)")
        self.steps += 1
        text, calls = self._parse(action)
        start = len(self.messages)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        terminated = False
        reason: str | None = None
        if calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{self.steps}_{i}",
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": c["arguments"]
                        if isinstance(c["arguments"], str)
                        else json.dumps(c["arguments"]),
                    },
                }
                for i, c in enumerate(calls)
            ]
            self.messages.append(message)
            for tc in message["tool_calls"]:
                name, raw = tc["function"]["name"], tc["function"]["arguments"]
                observation = self.domain.call(self.state, name, raw)
                try:
                    parsed = json.loads(raw) if raw.strip() else {}
                except json.JSONDecodeError:
                    parsed = {}
                self.calls.append({"name": name, "arguments": parsed if isinstance(parsed, dict) else {}})
                self.messages.append(
                    {"role": "tool", "tool_call_id": tc["id"], "name": name, "content": observation}
                )
                tool = self.domain.toolbox.tools.get(name)
                if tool is not None and tool.ends_conversation and not is_error(observation):
                    terminated, reason = True, Termination.TRANSFER.value
        else:
            self.messages.append(message)
            if AGENT_STOP_TOKEN in text:
                terminated, reason = True, Termination.AGENT_STOP.value
            else:
                reply = self._loop.run_until_complete(self.user.respond(text))
                self.messages.append({"role": "user", "content": reply.content})
                if reply.stop is not None:
                    terminated, reason = True, reply.stop.value
        truncated = not terminated and self.steps >= self.max_steps
        reward = 0.0
        if self.dense:
            potential = self._shaped()
            reward += potential - self._potential
            self._potential = potential
        info: dict[str, Any] = {
            "task_id": self.task.id,
            "messages": list(self.messages),
            "new_messages": self.messages[start:],
        }
        if terminated or truncated:
            self.done = True
            expected = self._expected_of(self.task)
            grade = compute_reward(
                expected.final_hash, self.state.canonical_hash(), self.task.outputs, self._agent_texts()
            )
            reward += grade.reward
            info.update(task_reward=grade.reward, termination_reason=reason or Termination.MAX_STEPS.value)
        return self._observation(self.messages[start:]), float(reward), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n".join(f"{m['role']}: {m.get('content') or m.get('tool_calls')}" for m in self.messages)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.close()


def oracle_turns(task: Task, domain: str = DEFAULT_DOMAIN) -> list[str]:
    """The agent turns of the ground truth, as text the environment parses: one ```json block per
    action, then the expected outputs (said before an action that ends the conversation). A reference
    policy for tests and baselines."""
    toolbox = get_domain(domain).toolbox
    said = "Your request is complete. " + ". ".join(task.outputs) + ("." if task.outputs else "")
    turns: list[str] = []
    for action in task.actions:
        tool = toolbox.tools.get(action.name)
        if tool is not None and tool.ends_conversation and task.outputs and said not in turns:
            turns.append(said)
        turns.append("```json\n" + json.dumps({"name": action.name, "arguments": action.arguments}) + "\n```")
    if said not in turns:
        turns.append(said)
    return turns
