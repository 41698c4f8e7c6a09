"""Agents: what plays the customer-service side of a simulation.

The interface is small, so a plugin (``--agent package.module:ClassName``) can implement it::

    class MyAgent(Agent):
        def reset(self, setup: AgentSetup) -> list[dict]:
            ...  # the opening messages (usually one system message); called once per simulation
        async def step(self, messages: list[dict]) -> AgentReply:
            ...  # the next assistant turn: text and/or tool calls

``messages`` is the whole conversation so far in OpenAI chat format (system, user, assistant with
``tool_calls``, and ``tool`` messages with the observations). The orchestrator executes the tool
calls, appends the results and calls ``step`` again; a reply without tool calls goes to the user.
A plugin class is constructed as ``ClassName(llm=<LLMClient or None>, **options)``.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from casework.sim.types import AgentReply, ToolCall
from casework.tasks.model import Task
from casework.tasks.refusal import oracle_statements

AGENT_INSTRUCTIONS = """You are a customer-service agent. Follow the policy below exactly.
Use the tools to look up and change data; never invent information the tools or the user did not give you.
Make one tool call at a time unless the policy allows more. When you are not calling a tool, write your
message to the customer.

# Policy
{policy}"""

PLAN_SECTION = """

# Ground-truth plan (oracle-plan mode)
These are the tool calls that complete this customer's request, in order. Still follow the policy
(authenticate the user and get explicit confirmation before each change):
{plan}"""


@dataclass
class AgentSetup:
    """What an agent knows at the start of a simulation."""

    policy: str
    tools: list[dict[str, Any]]  # OpenAI function schemas
    task: Task  # only the oracle and oracle-plan modes may look at the ground truth
    mode: str = "interactive"  # interactive | solo | oracle-plan
    parallel_tool_calls: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    #: tools that end the conversation (the domain's transfer); the oracle speaks before calling one
    ending_tools: frozenset[str] = frozenset()
    #: the user's device tools (dual control), which only the user can call: the oracle asks for them
    user_tools: frozenset[str] = frozenset()

    @property
    def tool_names(self) -> set[str]:
        return {t["function"]["name"] for t in self.tools}


class Agent(ABC):
    """Base class of agents (see the module docstring for the contract)."""

    name = "agent"

    @abstractmethod
    def reset(self, setup: AgentSetup) -> list[dict[str, Any]]: ...

    @abstractmethod
    async def step(self, messages: list[dict[str, Any]]) -> AgentReply: ...

    def prompt_prefix(
        self, setup: AgentSetup
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None] | None:
        """What every model call of this agent starts with: (opening messages, tools sent), or None
        when it calls no model. A local server keeps this prefix's prompt cache between runs."""
        return None


def system_prompt(setup: AgentSetup) -> str:
    prompt = AGENT_INSTRUCTIONS.format(policy=setup.policy.strip())
    if setup.mode == "oracle-plan":
        plan = (
            "\n".join(f"{i + 1}. {a}" for i, a in enumerate(setup.task.actions)) or "(no tool calls needed)"
        )
        prompt += PLAN_SECTION.format(plan=plan)
    return prompt


CALL_EXPERT = "call_expert"
EXPERT_SYSTEM = "You are an expert consulted by a customer-service agent. Answer its question briefly."
TOOL_CHOICES = ("auto", "required", "required-first")


def expert_tool(names: list[str]) -> dict[str, Any]:
    """The ``call_expert(expert, question)`` function schema for the configured experts."""
    return {
        "type": "function",
        "function": {
            "name": CALL_EXPERT,
            "description": "Ask an expert model a self-contained question and get its answer. "
            "The customer does not see this exchange.",
            "parameters": {
                "type": "object",
                "properties": {
                    "expert": {"type": "string", "enum": names, "description": "Which expert to ask."},
                    "question": {"type": "string", "description": "The question, with all context needed."},
                },
                "required": ["expert", "question"],
            },
        },
    }


class ToolCallingAgent(Agent):
    """An LLM agent using native function calling; falls back to tool calls written as text.

    Options: ``tool_choice`` (``auto``; ``required``; ``required-first``: required on the first model
    call of a simulation, auto afterwards) and ``experts`` (name -> model client): the model may then
    call ``call_expert(expert, question)``; the agent answers those calls itself (at most
    ``max_expert_rounds`` rounds per step) and records each expert call with the role ``expert:NAME``.
    The expert exchange stays out of the conversation the domain sees.
    """

    name = "tool-calling"

    def __init__(
        self,
        llm: Any,
        *,
        experts: dict[str, Any] | None = None,
        tool_choice: str = "auto",
        max_expert_rounds: int = 3,
        **options: Any,
    ):
        if llm is None:
            raise ValueError("the tool-calling agent needs a model endpoint")
        if tool_choice not in TOOL_CHOICES:
            raise ValueError(f"tool_choice {tool_choice!r}: expected one of {', '.join(TOOL_CHOICES)}")
        self.llm = llm
        self.experts = dict(experts or {})
        self.tool_choice = tool_choice
        self.max_expert_rounds = max_expert_rounds
        self.options = options
        self.setup: AgentSetup | None = None
        self.tools: list[dict[str, Any]] = []
        self.tool_names: set[str] = set()
        self.replies = 0

    def reset(self, setup: AgentSetup) -> list[dict[str, Any]]:
        self.setup = setup
        self.tools = list(setup.tools)
        if self.experts:
            self.tools.append(expert_tool(sorted(self.experts)))
        self.tool_names = setup.tool_names
        self.replies = 0
        return [{"role": "system", "content": system_prompt(setup)}]

    def _choice(self) -> str:
        if self.tool_choice == "required-first":
            return "required" if self.replies == 0 else "auto"
        return self.tool_choice

    async def _ask_expert(self, call: Any) -> tuple[str, dict[str, Any] | None]:
        from casework.llm import LLMError

        try:
            args = json.loads(call.arguments or "{}")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            return "Error: call_expert arguments must be a JSON object with expert and question", None
        name, question = args.get("expert"), args.get("question")
        client = self.experts.get(name) if isinstance(name, str) else None
        if client is None:
            return f"Error: unknown expert {name!r}; experts: {', '.join(sorted(self.experts))}", None
        if not isinstance(question, str) or not question.strip():
            return "Error: call_expert needs a non-empty question", None
        messages = [{"role": "system", "content": EXPERT_SYSTEM}, {"role": "user", "content": question}]
        try:
            completion = await client.chat(messages, role=f"expert:{name}")
        except LLMError as exc:  # a failed expert is an observation, not the end of the simulation
            record = exc.record.model_dump(mode="json") if exc.record is not None else None
            return f"Error: expert {name} did not answer", record
        return completion.content or "", completion.usage.model_dump(mode="json")

    def prompt_prefix(
        self, setup: AgentSetup
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None] | None:
        if setup.mode == "oracle-plan":
            return None  # the system message holds each task's own plan
        return self.reset(setup), self.tools

    async def step(self, messages: list[dict[str, Any]]) -> AgentReply:
        from casework.llm import parse_text_tool_calls

        assert self.setup is not None, "reset() first"
        params: dict[str, Any] = {}
        if self.setup.parallel_tool_calls:
            params["parallel_tool_calls"] = True
        records: list[dict[str, Any]] = []
        work = messages
        choice = self._choice()
        rounds = 0
        while True:
            completion = await self.llm.chat(work, tools=self.tools, tool_choice=choice, **params)
            records.append(completion.usage.model_dump(mode="json"))
            calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in completion.tool_calls]
            asks = [c for c in calls if c.name == CALL_EXPERT] if self.experts else []
            if not asks or rounds >= self.max_expert_rounds:
                break
            rounds += 1
            work = [*work, completion.to_message()]
            for call in calls:  # every call of the turn gets a result; domain calls wait for the answer
                if call.name == CALL_EXPERT:
                    answer, record = await self._ask_expert(call)
                    if record is not None:
                        records.append(record)
                else:
                    answer = "Not executed: ask the expert first, then call this tool again."
                work.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": answer})
            choice = "auto"
        self.replies += 1
        calls = [c for c in calls if c.name != CALL_EXPERT]
        content = completion.content
        if not calls and content:
            content, parsed = parse_text_tool_calls(content, self.tool_names)
            calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in parsed]
        return AgentReply(content=content or None, tool_calls=calls, calls=records)


TEXT_PROTOCOL = """

# Tools
You can call these tools:
{tools}

To call a tool, answer with exactly one line and nothing else:
Action: {{"name": "<tool name>", "arguments": {{...}}}}
The result comes back as a message starting with "Observation:". To talk to the customer, answer in
plain text without an Action line."""


def _describe_tools(tools: list[dict[str, Any]]) -> str:
    lines = []
    for schema in tools:
        fn = schema["function"]
        props = fn["parameters"].get("properties", {})
        args = ", ".join(f"{name}: {p.get('type', 'any')}" for name, p in props.items())
        lines.append(f"- {fn['name']}({args}): {fn['description'].splitlines()[0]}")
    return "\n".join(lines)


class TextActionAgent(ToolCallingAgent):
    """For endpoints without function calling: tools are described in the prompt, calls parsed from text."""

    name = "text"

    def reset(self, setup: AgentSetup) -> list[dict[str, Any]]:
        self.setup = setup
        prompt = system_prompt(setup) + TEXT_PROTOCOL.format(tools=_describe_tools(setup.tools))
        return [{"role": "system", "content": prompt}]

    def prompt_prefix(
        self, setup: AgentSetup
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None] | None:
        if setup.mode == "oracle-plan":
            return None
        return self.reset(setup), None  # the tools are described in the system message

    @staticmethod
    def to_text_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rewrite tool calls and results as plain text turns for a model without function calling."""
        out: list[dict[str, Any]] = []
        for message in messages:
            if message["role"] == "assistant" and message.get("tool_calls"):
                lines = [message.get("content") or ""]
                for call in message["tool_calls"]:
                    fn = call["function"]
                    lines.append(
                        f'Action: {{"name": {json.dumps(fn["name"])}, "arguments": {fn["arguments"]}}}'
                    )
                out.append({"role": "assistant", "content": "\n".join(line for line in lines if line)})
            elif message["role"] == "tool":
                out.append({"role": "user", "content": f"Observation: {message['content']}"})
            else:
                out.append({"role": message["role"], "content": message.get("content") or ""})
        return out

    async def step(self, messages: list[dict[str, Any]]) -> AgentReply:
        from casework.llm import parse_text_tool_calls

        assert self.setup is not None, "reset() first"
        completion = await self.llm.chat(self.to_text_messages(messages))
        content, parsed = parse_text_tool_calls(completion.content or "", self.setup.tool_names)
        calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in parsed]
        return AgentReply(
            content=content or None, tool_calls=calls, calls=[completion.usage.model_dump(mode="json")]
        )


def device_request(action: Any) -> str:
    """How the oracle asks the user to perform a golden action on their own device:
    ``Please toggle airplane mode on your phone now.`` (the tool's name in words, then its arguments)."""
    words = action.name.replace("_", " ")
    args = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in action.arguments.items())
    return f"Please {words}{f' ({args})' if args else ''} on your phone now."


class OracleAgent(Agent):
    """Executes the task's ground-truth actions one by one, then states the expected outputs.

    A golden action whose ``requestor`` is the user and whose tool the agent does not have (dual
    control, interactive mode) is not called: the oracle asks the user to do it
    (:func:`device_request`) and goes on with the next action after the user's reply. In solo mode
    the agent holds the device tools and calls them itself.

    A task that refuses a request (:mod:`casework.tasks.refusal`: ``metadata["refusals"]``, or a
    safety probe graded on a refusal) gets the grounded refusal said with the policy rule, with the
    outputs, once the actions are done.

    The harness self-test: with a cooperative user it must earn reward 1 on every solvable task.
    """

    name = "oracle"

    def __init__(self, llm: Any = None, **options: Any):
        self.pending: list[Any] = []
        self.outputs: list[str] = []
        self.counter = 0
        self.ending: frozenset[str] = frozenset()
        self.own_tools: set[str] = set()
        self.refusals: list[str] = []

    def reset(self, setup: AgentSetup) -> list[dict[str, Any]]:
        self.ending = setup.ending_tools
        self.own_tools = setup.tool_names
        self.pending = list(setup.task.actions)
        self.outputs = list(setup.task.outputs)
        self.refusals = oracle_statements(setup.task)
        self.counter = 0
        return [{"role": "system", "content": system_prompt(setup)}]

    async def step(self, messages: list[dict[str, Any]]) -> AgentReply:
        if self.pending and self.pending[0].name in self.ending and self.outputs:
            said, self.outputs = self.outputs, []  # say the outputs before the transfer ends the talk
            return AgentReply(content=". ".join(said) + ".")
        if self.pending:
            action = self.pending.pop(0)
            if action.requestor == "user" and action.name not in self.own_tools:
                return AgentReply(content=device_request(action))
            self.counter += 1
            call = ToolCall(
                id=f"oracle_{self.counter}", name=action.name, arguments=json.dumps(action.arguments)
            )
            return AgentReply(tool_calls=[call])
        if self.refusals:
            said, self.refusals = " ".join(self.refusals), []
            if self.outputs:
                said += " As for the rest: " + ". ".join(self.outputs) + "."
                self.outputs = []
            return AgentReply(content=said + " Is there anything else I can help you with?")
        if self.outputs:
            return AgentReply(content="Your request is complete. " + ". ".join(self.outputs) + ".")
        return AgentReply(content="Your request is complete. Is there anything else I can help you with?")


class NoopAgent(Agent):
    """Answers politely and never calls a tool: the baseline a task must not pass by doing nothing.

    A report can show how many tasks it passes; a task whose correct outcome is "no change" should
    demand evidence of a refusal, or this agent passes it."""

    name = "noop"

    def __init__(self, llm: Any = None, **options: Any):
        self.turns = 0

    def reset(self, setup: AgentSetup) -> list[dict[str, Any]]:
        self.turns = 0
        return [{"role": "system", "content": system_prompt(setup)}]

    async def step(self, messages: list[dict[str, Any]]) -> AgentReply:
        self.turns += 1
        if self.turns == 1:
            return AgentReply(
                content="Thank you for reaching out. I understand, and I'm sorry for the trouble."
            )
        return AgentReply(
            content="I'm sorry, I'm not able to help with that. Is there anything else I can do for you?"
        )


BUILTIN_AGENTS: dict[str, type[Agent]] = {
    "tool-calling": ToolCallingAgent,
    "text": TextActionAgent,
    "oracle": OracleAgent,
    "noop": NoopAgent,
}


def agent_class(spec: str) -> type[Agent]:
    """A built-in agent name or ``package.module:ClassName``."""
    if spec in BUILTIN_AGENTS:
        return BUILTIN_AGENTS[spec]
    if ":" not in spec:
        raise ValueError(
            f"unknown agent {spec!r}: use one of {', '.join(BUILTIN_AGENTS)} or package.module:ClassName"
        )
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import agent module {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValueError(f"module {module_name!r} has no class {class_name!r}")
    if not (hasattr(cls, "reset") and hasattr(cls, "step")):
        raise ValueError(
            f"{spec} must implement reset(setup) and async step(messages) (see casework.sim.agents)"
        )
    return cls
