"""The turn loop: agent ⇄ user ⇄ tools, with termination reasons and a full trajectory.

One :class:`Simulation` runs one task once. The agent speaks through ``step`` replies; tool calls
run on the simulation's own fork of the database; text replies go to the user simulator (or end the
run in solo mode).

Dual control (a domain with a ``user_toolbox``): the user simulator is given the user's device
tools (:meth:`~casework.sim.users.UserSimulator.bind_tools`); its calls run on the same fork and
are recorded among the tool calls with ``requestor="user"`` (the agent never sees them, only what
the user says). In solo mode there is no user: the agent gets both tool sets, and its calls to
device tools are recorded with ``requestor="user"`` (the side they act on). Everything is recorded: messages, tool calls with observations and timings,
model-call records. A simulation interrupted from outside (timeout, Ctrl-C) can still report what
it did so far through :meth:`Simulation.outcome`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from casework.domains import Domain, State
from casework.sim.agents import Agent, AgentSetup
from casework.sim.progress import ProgressCallback, ProgressKind, SimulationProgress
from casework.sim.types import ExecutedCall, Termination, UserReply
from casework.sim.users import UserSimulator, first_person
from casework.tasks.model import Task
from casework.tasks.replay import is_error

AGENT_STOP_TOKEN = "###STOP###"


@dataclass
class SimulationConfig:
    mode: str = "interactive"  # interactive | solo | oracle-plan
    max_steps: int = 30  # agent model calls
    max_errors: int = 10  # tool errors + malformed calls before giving up
    parallel_tool_calls: bool = False


class SimulationOutcome(BaseModel):
    """What happened in one simulation (the final state is kept out of serialisation)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    task_id: str
    termination_reason: Termination
    error: str | None = None
    messages: list[dict[str, Any]]
    message_times: list[float]  # seconds since the start, aligned with messages
    tool_calls: list[ExecutedCall]
    model_calls: list[dict[str, Any]]
    agent_steps: int
    tool_errors: int
    dropped_tool_calls: int = 0
    #: why the user simulator ended the conversation abnormally (None: it did not)
    user_abnormal_end: str | None = None
    #: what the user simulator reported per turn (``message_index`` of the user message + its
    #: ``UserReply.metadata``, e.g. best-of-N candidates and scores); empty for most users
    user_turns: list[dict[str, Any]] = Field(default_factory=list)
    persona: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    final_state: Any = Field(default=None, exclude=True)

    @property
    def agent_messages(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "assistant" and m.get("content")]


def _parse_arguments(raw: str) -> dict[str, Any] | str:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, AttributeError):
        return raw
    return value if isinstance(value, dict) else raw


class Simulation:
    def __init__(
        self,
        *,
        domain: Domain,
        state: State,
        task: Task,
        agent: Agent,
        user: UserSimulator | None,
        config: SimulationConfig,
        policy: str | None = None,
        persona: tuple[str, str] | None = None,
        goal_reached: Callable[[State, list[str]], bool] | None = None,
        on_progress: ProgressCallback | None = None,
    ):
        if user is None and config.mode != "solo":
            raise ValueError("a user simulator is needed unless mode is 'solo'")
        self.domain, self.state, self.task = domain, state, task
        self.agent, self.user, self.config = agent, user, config
        self.policy = policy if policy is not None else domain.policy
        self.persona = persona
        self._goal = goal_reached
        self.messages: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.executed: list[ExecutedCall] = []
        self.model_calls: list[dict[str, Any]] = []
        self.steps = 0
        self.errors = 0
        self.dropped = 0
        self.started = time.perf_counter()
        self.tool_time = 0.0
        self.user_abnormal_end: str | None = None
        self.user_turns: list[dict[str, Any]] = []
        self._on_progress = on_progress
        self._turns = 0
        self._last_tool: str | None = None
        self._tokens_per_s: float | None = None

    def _progress(self, kind: ProgressKind) -> None:
        if self._on_progress is None:
            return
        self._on_progress(
            SimulationProgress(
                kind=kind,
                task_id=self.task.id,
                turn=self._turns,
                step=self.steps,
                tool_calls=len(self.executed),
                last_tool=self._last_tool,
                tokens_per_s=self._tokens_per_s,
                elapsed_s=time.perf_counter() - self.started,
            )
        )

    # -- recording -------------------------------------------------------------------------------
    def _add(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.times.append(round(time.perf_counter() - self.started, 6))
        if message["role"] == "user":
            self._turns += 1
            self._progress("user")

    def _add_user(self, reply: UserReply) -> None:
        self._add({"role": "user", "content": reply.content})
        if reply.metadata:
            self.user_turns.append({"message_index": len(self.messages) - 1, **reply.metadata})

    def _agent_texts(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "assistant" and m.get("content")]

    def outcome(self, termination: Termination, error: str | None = None) -> SimulationOutcome:
        def model_time(role: str) -> float:
            return sum(c.get("latency_s") or 0.0 for c in self.model_calls if c.get("role") == role)

        return SimulationOutcome(
            task_id=self.task.id,
            termination_reason=termination,
            error=error,
            messages=self.messages,
            message_times=self.times,
            tool_calls=self.executed,
            model_calls=self.model_calls,
            agent_steps=self.steps,
            tool_errors=self.errors,
            dropped_tool_calls=self.dropped,
            user_abnormal_end=self.user_abnormal_end,
            user_turns=self.user_turns,
            persona=self.persona[0] if self.persona else None,
            timings={
                "execution_time": time.perf_counter() - self.started,
                "model_response_time": model_time("agent"),
                "user_response_time": model_time("user"),
                "tool_execution_time": self.tool_time,
            },
            final_state=self.state,
        )

    def _record_calls(self, calls: list[dict[str, Any]], role: str) -> None:
        for call in calls:  # an expert (expert:NAME) or a judge consulted on a turn keeps its own role
            own = call.get("role")
            keep = own == "judge" or str(own).startswith("expert:")
            self.model_calls.append({**call, "role": own if keep else role})

    # -- the loop --------------------------------------------------------------------------------
    async def run(self) -> SimulationOutcome:
        from casework.llm import LLMOutputError, LLMUnavailable

        try:
            return await self._run()
        except (LLMUnavailable, LLMOutputError) as exc:
            record = getattr(exc, "record", None)
            if record is not None:
                self.model_calls.append(
                    record.model_dump(mode="json") if hasattr(record, "model_dump") else dict(record)
                )
            if isinstance(exc, LLMUnavailable):
                return self.outcome(Termination.INFRASTRUCTURE_ERROR, error=str(exc))
            # the model's own output was unusable: a mistake of that side, graded like any other
            user_side = getattr(record, "role", None) == "user"
            return self.outcome(
                Termination.USER_ERROR if user_side else Termination.AGENT_ERROR, error=str(exc)
            )

    @property
    def _device_tools(self) -> dict[str, Any]:
        """The user's device tools the agent does not have itself (dual-control domains)."""
        user_tools = self.domain.user_toolbox
        if user_tools is None:
            return {}
        return {n: t for n, t in user_tools.tools.items() if n not in self.domain.toolbox.tools}

    def _agent_tools(self) -> list[dict[str, Any]]:
        """The agent's tool schemas: its own, plus the user's device tools in solo mode."""
        tools = list(self.domain.toolbox.openai_schemas())
        if self.config.mode == "solo" and self.domain.user_toolbox is not None:
            device = self._device_tools
            tools += [s for s in self.domain.user_toolbox.openai_schemas() if s["function"]["name"] in device]
        return tools

    def _execute(self, name: str, arguments: Any, requestor: str) -> str:
        if requestor == "user":
            assert self.domain.user_toolbox is not None
            return self.domain.user_toolbox.call(self.state, name, arguments)
        return self.domain.call(self.state, name, arguments)

    def _side_of(self, name: str) -> str:
        """The side an agent's call acts on: the user's device (solo mode) or the agent's tools."""
        return "user" if self.config.mode == "solo" and name in self._device_tools else "assistant"

    def _run_user_tool(self, name: str, arguments: Any) -> str:
        """Run a user simulator's call on the user's device; recorded with requestor ``user``."""
        start = time.perf_counter()
        if name not in self._device_tools:
            observation = f"Error: unknown tool '{name}'; your tools: {', '.join(self._device_tools)}"
        else:
            observation = self._execute(name, arguments, "user")
        elapsed = time.perf_counter() - start
        self.tool_time += elapsed
        self.executed.append(
            ExecutedCall(
                id=f"user_{sum(c.requestor == 'user' for c in self.executed) + 1}",
                name=name,
                arguments=_parse_arguments(arguments)
                if isinstance(arguments, str)
                else dict(arguments or {}),
                observation=observation,
                error=is_error(observation),
                duration_s=elapsed,
                step=self.steps,
                requestor="user",
            )
        )
        self._last_tool = name
        self._progress("tool")
        return observation

    async def _run(self) -> SimulationOutcome:
        tools = self._agent_tools()
        device = self._device_tools
        setup = AgentSetup(
            policy=self.policy,
            tools=tools,
            task=self.task,
            mode=self.config.mode,
            parallel_tool_calls=self.config.parallel_tool_calls,
            ending_tools=frozenset(n for n, t in self.domain.toolbox.tools.items() if t.ends_conversation),
            user_tools=frozenset(device) if self.config.mode != "solo" else frozenset(),
        )
        self._progress("start")
        for message in self.agent.reset(setup):
            self._add(message)
        if self.user is None:
            self._add({"role": "user", "content": first_person(self.task.instruction)})
        else:
            self.user.bind_domain(self.domain)
            if device:
                schemas = [
                    schema
                    for schema in (
                        self.domain.user_toolbox.openai_schemas() if self.domain.user_toolbox else []
                    )
                    if schema["function"]["name"] in device
                ]
                self.user.bind_tools(schemas, self._run_user_tool)
            self.user.reset(
                self.task,
                self.domain.users.facts_for(self.state, self.task.user_id),
                self._persona_text(),
                self._goal_check,
            )
            opening = await self.user.first_message()
            self._record_calls(opening.calls, "user")
            self._add_user(opening)
            if opening.stop is not None:  # before the agent said a word: never a genuine end
                self.user_abnormal_end = opening.abnormal or "the user simulator ended before the agent spoke"
                return self.outcome(opening.stop)
        while True:
            text, ended = await self._agent_turn()
            if ended is not None:
                return self.outcome(ended)
            if self.user is None:
                return self.outcome(Termination.AGENT_STOP)
            reply = await self.user.respond(text)
            self._record_calls(reply.calls, "user")
            self._add_user(reply)
            if reply.stop is not None:
                self.user_abnormal_end = reply.abnormal
                return self.outcome(reply.stop)

    def _persona_text(self) -> str | None:
        return self.persona[1] if self.persona else None

    def _goal_check(self) -> bool:
        return self._goal is not None and self._goal(self.state, self._agent_texts())

    async def _agent_turn(self) -> tuple[str, Termination | None]:
        """Agent steps until it says something to the user; returns (text, termination or None)."""
        while True:
            if self.steps >= self.config.max_steps:
                return "", Termination.MAX_STEPS
            self._progress("model_call")
            reply = await self.agent.step(self.messages)
            self.steps += 1
            self._record_calls(reply.calls, "agent")
            rates = [c["decode_tokens_per_s"] for c in reply.calls if c.get("decode_tokens_per_s")]
            self._tokens_per_s = rates[-1] if rates else self._tokens_per_s
            self._progress("model_reply")
            calls = reply.tool_calls
            if len(calls) > 1 and not self.config.parallel_tool_calls:
                self.dropped += len(calls) - 1
                calls = calls[:1]
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if calls:
                message["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in calls
                ]
            self._add(message)
            if not calls:
                text = reply.content or ""
                if AGENT_STOP_TOKEN in text:
                    return text, Termination.AGENT_STOP
                return text, None
            for call in calls:
                start = time.perf_counter()
                side = self._side_of(call.name)
                observation = self._execute(call.name, call.arguments, side)
                elapsed = time.perf_counter() - start
                self.tool_time += elapsed
                failed = is_error(observation)
                self.errors += failed
                self.executed.append(
                    ExecutedCall(
                        id=call.id,
                        name=call.name,
                        arguments=_parse_arguments(call.arguments),
                        observation=observation,
                        error=failed,
                        duration_s=elapsed,
                        step=self.steps,
                        requestor=side,
                    )
                )
                self._add(
                    {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": observation}
                )
                self._last_tool = call.name
                self._progress("tool")
                tool = self.domain.toolbox.tools.get(call.name)
                if tool is not None and tool.ends_conversation and not failed:
                    return "", Termination.TRANSFER
            if self.errors > self.config.max_errors:
                return "", Termination.TOO_MANY_ERRORS
