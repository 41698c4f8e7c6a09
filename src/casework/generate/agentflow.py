"""AgentFlow generation (``--method agentflow --agentflow-turns N``): ground truth from real tool results.

For slot ``index`` a possible request is sampled (the domain's
:class:`~casework.domains.domain.LLMGeneration`) and a loop runs over a shared memory, at most
``max_turns`` planner turns:

1. **planner** (LLM, the domain's ``planner_system`` prompt): from the query (the request), the
   knowledge (the domain's ``knowledge``: the user and the records involved; the policy digest) and
   the memory (actions so far with their
   observations, the verifier's last note) it proposes the next tool call -- native tool calling
   with the scenario's tool schemas and ``tool_choice="required"``; calls written as text are
   recovered with :func:`casework.llm.parse_text_tool_calls`;
2. **verifier, before** (rules): the call must be well formed, grounded in the user's own records,
   allowed by the policy (the domain's ``policy_rules``) and not a repeat -- otherwise it is not
   executed and the reason goes back to the planner;
3. **executor**: runs the call on a fork of the database (``domain.call``) and records the real
   observation; an error observation keeps the call out of the ground truth;
4. **verifier, after**: stop when the scenario's goal tool (the domain's ``goal_tools``) succeeded, after repeated failures, or
   at the turn limit; optionally (``llm_verify``) a model check of the memory may also stop it.

At stop the **writer** (LLM, ``writer_system``) turns the memory into the instruction ``q`` and the outputs ``ogt``
(JSON; prose is taken as the instruction). The ground truth ``agt`` is the executed, successful
actions, so it is grounded in real results; outputs that no observation supports are dropped and
the domain's ``repair`` completes the instruction (both recorded in ``metadata["repairs"]``). The
user is identified by a rule-based first turn (the domain's ``identify``; policies ask to identify
first) unless ``auto_identify=False``. Every turn (plan, action, observation, verdict) is kept in
``metadata["agentflow_turns"]``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from casework.domains import Database, Domain, LLMGeneration, NoTarget, State, Target
from casework.generate.context import (
    generated_task,
    goal_reached,
    keep_derivable,
    llm_hooks,
    pick_scenario,
    scenario_tools,
    tool_schemas,
)
from casework.generate.direct import call_model
from casework.generate.pipeline import GenerationError
from casework.jsontext import JSONTextError, extract_json
from casework.llm import parse_text_tool_calls
from casework.tasks.model import Action, Task
from casework.tasks.replay import is_error
from casework.validation.committee import ChatEndpoint

VERIFY = """Goal: {goal}
Actions so far with their results:
{memory}
Is the goal fully reached? Answer with only a JSON object: {{"stop": true|false, "consistent": true|false, "reason": "..."}}"""


@dataclass
class Turn:
    turn: int
    plan: str
    action: dict[str, Any] | None
    observation: str | None
    verdict: str
    source: str = "planner"

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "source": self.source,
            "plan": self.plan[:500],
            "action": self.action,
            "observation": None if self.observation is None else self.observation[:800],
            "verdict": self.verdict,
        }


@dataclass
class Memory:
    """What the loop shares: executed actions (with observations) and every turn."""

    actions: list[Action] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    note: str = ""

    def text(self, limit: int = 300) -> str:
        if not self.actions:
            return "(nothing yet)"
        return "\n".join(
            f"{i + 1}. {a.name}({json.dumps(a.arguments, ensure_ascii=False)}) -> {o[:limit]}"
            for i, (a, o) in enumerate(zip(self.actions, self.observations, strict=True))
        )


def _parse_call(completion: Any, names: list[str]) -> tuple[str, dict[str, Any]] | str:
    """(name, arguments) of the first tool call, or the reason there is none."""
    calls = list(getattr(completion, "tool_calls", None) or [])
    content = getattr(completion, "content", None) or ""
    if not calls and content:
        _, calls = parse_text_tool_calls(content, names)
    if not calls:
        return f"no tool call in the planner's answer ({content.strip()[:120]!r})"
    call = calls[0]
    arguments: Any = call.arguments
    if isinstance(arguments, str):
        try:
            arguments = extract_json(arguments) if arguments.strip() else {}
        except JSONTextError:
            return f"the arguments of {call.name} are not JSON"
    if not isinstance(arguments, dict):
        return f"the arguments of {call.name} are not an object"
    return call.name, arguments


@dataclass
class AgentFlowGenerator:
    """The AgentFlow loop as a pipeline :class:`~casework.generate.pipeline.Generator`."""

    domain: Domain
    database: Database
    client: ChatEndpoint
    seed: int = 0
    weights: dict[str, float] | None = None
    max_turns: int = 6
    max_failures: int = 2
    auto_identify: bool = True
    llm_verify: bool = False
    planner_max_tokens: int = 160
    writer_max_tokens: int = 300
    temperature: float | None = None
    repair: bool = True
    name: str = "agentflow"
    _targets: dict[int, Target] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.hooks: LLMGeneration = llm_hooks(self.domain, "AgentFlow")
        self.policy = self.domain.policy_rules() if self.domain.policy_rules else None

    def target(self, index: int) -> Target:
        if index not in self._targets:
            rng = random.Random(f"casework/agentflow/{self.seed}/{index}")
            try:
                scenario = pick_scenario(rng, self.hooks, self.weights)
                self._targets[index] = self.hooks.sample_target(rng, self.database, scenario)
            except NoTarget as exc:
                raise GenerationError(f"no request could be sampled: {exc}") from None
        return self._targets[index]

    def _params(self, max_tokens: int) -> dict[str, Any]:
        params: dict[str, Any] = {"max_tokens": max_tokens}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        return params

    def knowledge(self, target: Target, state: State) -> str:
        return self.hooks.knowledge(state, target)

    # -- verifier ----------------------------------------------------------------------------------
    def precheck(
        self, state: State, target: Target, memory: Memory, name: str, arguments: dict[str, Any]
    ) -> str | None:
        """Why the proposed call must not run (None: run it)."""
        _, error = self.domain.toolbox.validate_arguments(name, arguments)
        if error is not None:
            return "invalid call: " + error.removeprefix("Error: ")
        if any(a.name == name and a.arguments == arguments for a in memory.actions):
            return "repeats an action already in the memory"
        problems: list[str] = []
        try:
            problems += self._consistency(state, target, memory, name, arguments)
        except Exception as exc:  # odd model arguments must never crash the loop
            problems.append(f"consistency check failed: {type(exc).__name__}: {exc}")
        return ("inconsistent: " + "; ".join(problems)) if problems else None

    def _consistency(
        self, state: State, target: Target, memory: Memory, name: str, arguments: dict[str, Any]
    ) -> list[str]:
        problems: list[str] = []
        if self.domain.grounding is not None:
            problems += self.domain.grounding(state, target.user_id, name, arguments)
        if self.policy is not None:
            draft = Task(
                id="draft",
                user_id=target.user_id,
                instruction="",
                actions=[*memory.actions, Action(name=name, arguments=arguments)],
                metadata=dict(target.metadata),
            )
            problems += self.policy.check_action(state, draft, len(memory.actions), arguments, name)
        return problems

    def goal_reached(self, target: Target, memory: Memory) -> bool:
        return goal_reached(self.domain, self.hooks, target, memory.actions)

    async def llm_check(self, target: Target, memory: Memory) -> tuple[bool, str]:
        messages = [
            {"role": "user", "content": VERIFY.format(goal=target.goal, memory=memory.text(200))},
        ]
        completion = await call_model(self.client, messages, **self._params(80))
        raw = getattr(completion, "content", None) or ""
        try:
            data = extract_json(raw)
        except JSONTextError:
            return False, f"llm verifier: unreadable answer {raw[:80]!r}"
        if not isinstance(data, dict):
            return False, "llm verifier: not an object"
        stop = data.get("stop") is True or str(data.get("stop")).lower() in ("true", "1", "yes")
        return stop, f"llm verifier: stop={stop}, {str(data.get('reason', ''))[:160]}"

    # -- the loop ----------------------------------------------------------------------------------
    async def run_loop(self, target: Target, feedback: str | None) -> tuple[Memory, State, str]:
        state = self.database.fork()
        memory = Memory()
        names = scenario_tools(self.domain, self.hooks, target.scenario)
        tools = tool_schemas(self.domain, names)
        if self.auto_identify:
            tool, arguments = self.hooks.identify(state, target.user_id)
            observation = self.domain.call(state, tool, arguments)
            ok = observation == target.user_id
            if ok:
                memory.actions.append(Action(name=tool, arguments=arguments))
                memory.observations.append(observation)
            memory.turns.append(
                Turn(
                    0,
                    "identify the user first (policy)",
                    {"name": tool, "arguments": arguments},
                    observation,
                    "ok" if ok else "error",
                    source="rule",
                )
            )
        system = self.hooks.planner_system.format(policy=self.hooks.policy_digest)
        knowledge = self.knowledge(target, state)
        failures = 0
        stop_reason = "turn limit"
        for turn in range(1, self.max_turns + 1):
            query = f"Customer's goal: {target.goal}\n\nKnowledge:\n{knowledge}\n\nMemory:\n{memory.text()}"
            if memory.note:
                query += f"\n\nVerifier: {memory.note}"
            if feedback:
                query += f"\n\nAn earlier attempt failed validation:\n{feedback[:600]}"
            query += "\n\nCall the next tool."
            messages = [{"role": "system", "content": system}, {"role": "user", "content": query}]
            completion = await call_model(
                self.client,
                messages,
                tools=tools,
                tool_choice="required",
                **self._params(self.planner_max_tokens),
            )
            plan = getattr(completion, "content", None) or ""
            parsed = _parse_call(completion, names)
            if isinstance(parsed, str):
                verdict, action, observation = f"continue: {parsed}", None, None
                failures += 1
                memory.note = parsed
            else:
                name, arguments = parsed
                action = {"name": name, "arguments": arguments}
                refusal = self.precheck(state, target, memory, name, arguments)
                if refusal is not None:
                    verdict, observation = f"rejected: {refusal}", None
                    failures += 1
                    memory.note = f"{name} was not run: {refusal}"
                else:
                    observation = self.domain.call(state, name, arguments)
                    if is_error(observation):
                        verdict = "error: kept out of the ground truth"
                        failures += 1
                        memory.note = f"{name} failed: {observation[:200]}"
                    else:
                        memory.actions.append(Action(name=name, arguments=arguments))
                        memory.observations.append(observation)
                        memory.note = ""
                        failures = 0
                        verdict = "ok"
            stop: str | None = None
            if self.goal_reached(target, memory):
                stop = "goal reached"
            elif failures > self.max_failures:
                stop = f"{failures} failed turns in a row"
            elif self.llm_verify and verdict == "ok":
                llm_stop, note = await self.llm_check(target, memory)
                verdict += f"; {note}"
                if llm_stop:
                    stop = "llm verifier"
            if stop is None and turn == self.max_turns:
                stop = "turn limit"
            verdict += f"; stop ({stop})" if stop else "; continue"
            memory.turns.append(Turn(turn, plan, action, observation, verdict))
            if stop:
                stop_reason = stop
                break
        return memory, state, stop_reason

    async def write(
        self, target: Target, memory: Memory, feedback: str | None
    ) -> tuple[str, list[str], str, list[str]]:
        """(q, ogt, raw answer, repairs) from the writer model."""
        opening = self.hooks.opening(self.database.fork(), target.user_id)
        user = (
            f"Customer's goal: {target.goal}\n\nWhat the agent did (with the real results):\n"
            f"{memory.text(400)}\n\nStart q with: {opening!r} Then say what you want."
        )
        if feedback:
            user += f"\n\nAn earlier version failed validation:\n{feedback[:600]}"
        messages = [
            {"role": "system", "content": self.hooks.writer_system},
            {"role": "user", "content": user},
        ]
        completion = await call_model(self.client, messages, **self._params(self.writer_max_tokens))
        raw = getattr(completion, "content", None) or ""
        repairs: list[str] = []
        try:
            data = extract_json(raw)
        except JSONTextError:
            data = None
        if isinstance(data, list):
            data = next((d for d in data if isinstance(d, dict)), None)
        if isinstance(data, dict):
            q = next((data[k] for k in ("q", "instruction", "query") if isinstance(data.get(k), str)), "")
            ogt = data.get("ogt", data.get("outputs", []))
            ogt = [str(o) for o in ogt if o not in (None, "")] if isinstance(ogt, list) else [str(ogt)]
        elif raw.strip() and "{" not in raw and len(raw.strip()) >= 20:
            q, ogt = raw.strip(), []
            repairs.append("prose answer taken as the instruction")
        else:
            raise GenerationError("the writer's answer has no instruction", raw=raw)
        if not q.strip():
            raise GenerationError('the writer\'s answer has no instruction ("q")', raw=raw)
        return q.strip(), ogt, raw, repairs

    async def generate(self, index: int, iteration: int, feedback: str | None) -> Task:
        target = self.target(index)
        memory, state, stop_reason = await self.run_loop(target, feedback)
        turns = [t.to_dict() for t in memory.turns]
        identification = self.domain.users.identification
        if not any(a.name not in identification for a in memory.actions):
            summary = json.dumps(turns[-3:], ensure_ascii=False)[:2000]
            raise GenerationError(
                f"agentflow: no successful action beyond identification ({stop_reason})", raw=summary
            )
        if stop_reason != "llm verifier" and not self.goal_reached(target, memory):
            summary = json.dumps(turns[-3:], ensure_ascii=False)[:2000]
            raise GenerationError(f"agentflow: the goal was not reached ({stop_reason})", raw=summary)
        q, outputs, raw, repairs = await self.write(target, memory, feedback)
        kept, dropped = keep_derivable(outputs, memory.observations)
        repairs += dropped
        actions = list(memory.actions)
        if self.repair:
            q, actions, grounding = self.hooks.repair(q, actions, self.database.fork(), target)
            repairs += grounding
        return generated_task(
            self.domain,
            target,
            method="agentflow",
            seed=self.seed,
            index=index,
            iteration=iteration,
            instruction=q,
            actions=actions,
            outputs=kept,
            raw=raw,
            repairs=repairs,
            feedback=feedback,
            agentflow_turns=turns,
            stop_reason=stop_reason,
        )
