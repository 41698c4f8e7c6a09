"""Simulated users: an LLM playing the task's instruction, or a deterministic scripted user.

A user sees only the agent's text messages, never its tool calls or their results. It ends the
conversation by saying ``###STOP###`` (goal met), ``###TRANSFER###`` (it was transferred) or
``###OUT-OF-SCOPE###`` (its instruction lacks what the agent asks for).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from casework.domains import UserFacts
from casework.sim.types import Termination, UserReply, user_stop_reason
from casework.tasks.model import Task

GREETING = "Hi! How can I help you today?"


class UserSimulator(ABC):
    name = "user"

    @abstractmethod
    def reset(
        self, task: Task, facts: UserFacts, persona: str | None, goal_reached: Callable[[], bool]
    ) -> None: ...

    @abstractmethod
    async def first_message(self) -> UserReply: ...

    @abstractmethod
    async def respond(self, agent_message: str) -> UserReply: ...


_FIRST_PERSON = [
    (r"\bYour name is\b", "My name is"),
    (r"\bYou are\b", "I am"),
    (r"\byou are\b", "I am"),
    (r"\bYou're\b", "I'm"),
    (r"\byou're\b", "I'm"),
    (r"\bYou've\b", "I've"),
    (r"\byou've\b", "I've"),
    (r"\bYou\b", "I"),
    (r"\byourself\b", "myself"),
    (r"\byours\b", "mine"),
    (r"\bYour\b", "My"),
    (r"\byour\b", "my"),
    (r"\byou\b", "me"),
]


def first_person(instruction: str) -> str:
    """Turn a second-person task instruction into the customer's own words (a plain rewrite)."""
    text = instruction
    for pattern, replacement in _FIRST_PERSON:
        text = re.sub(pattern, replacement, text)
    return text


_ASKS_CONFIRM = re.compile(
    r"\b(confirm|proceed|shall i|should i|would you like me to|do you want me to|is that correct|is this correct|"
    r"go ahead|\(yes/no\)|yes or no)\b",
    re.I,
)
_ASKS_ANYTHING_ELSE = re.compile(r"\banything else\b", re.I)


class ScriptedUser(UserSimulator):
    """A deterministic user for running the pipeline without a second model.

    It opens with the instruction in the first person; answers requests for identification from the
    task's facts (the identity the agent asks for; of several, the one the instruction states);
    confirms with "yes";
    says it has nothing more when asked; and stops once the goal is reached (the harness checks the
    database against the replayed ground truth) or after ``max_turns`` replies.
    """

    name = "scripted"

    def __init__(self, max_turns: int = 12):
        self.max_turns = max_turns
        self.turns = 0
        self.repeats = 0
        self.task: Task | None = None
        self.facts = UserFacts()
        self.goal_reached: Callable[[], bool] = lambda: False

    def reset(
        self, task: Task, facts: UserFacts, persona: str | None, goal_reached: Callable[[], bool]
    ) -> None:
        self.task, self.facts, self.goal_reached = task, facts, goal_reached
        self.turns = 0
        self.repeats = 0

    def _asked_identities(self, agent_message: str) -> list[Any]:
        return [i for i in self.facts.identities if i.asked_in(agent_message)]

    def _identify(self, agent_message: str) -> str:
        """The identity the agent asks for; of several, the one the instruction states (else the first)."""
        instruction = (self.task.instruction if self.task else "").lower()
        asked = self._asked_identities(agent_message) or self.facts.identities
        if not asked:
            return "###OUT-OF-SCOPE###"
        stated = [i for i in asked if all(str(v).lower() in instruction for v in i.values.values())]
        return (stated or asked)[0].text

    async def first_message(self) -> UserReply:
        assert self.task is not None, "reset() first"
        return UserReply(content=first_person(self.task.instruction))

    async def respond(self, agent_message: str) -> UserReply:
        self.turns += 1
        if self.goal_reached():
            return UserReply(
                content="Thank you, that's everything I needed. ###STOP###", stop=Termination.USER_STOP
            )
        if self.turns > self.max_turns:
            return UserReply(content="I have to go now. ###STOP###", stop=Termination.USER_STOP)
        if self._asked_identities(agent_message):
            content = self._identify(agent_message)
            return UserReply(content=content, stop=user_stop_reason(content))
        if _ASKS_CONFIRM.search(agent_message):
            return UserReply(content="Yes, please go ahead.")
        if _ASKS_ANYTHING_ELSE.search(agent_message):
            return UserReply(content="No, that's all. ###STOP###", stop=Termination.USER_STOP)
        self.repeats += 1
        if self.repeats > 2:
            return UserReply(
                content="I don't think we're getting anywhere. ###STOP###", stop=Termination.USER_STOP
            )
        assert self.task is not None
        return UserReply(content="Could you please help me with this? " + first_person(self.task.instruction))


USER_SYSTEM_PROMPT = """You are {role} talking to a customer-service agent. Play the customer described in the
instruction below.

Instruction: {instruction}

Rules:
- Write one message at a time, as the customer. Keep it short and natural.
- Do not reveal the whole instruction at once: give only what the agent needs for the current step.
- Never invent facts that are not in the instruction (ids, names, addresses, emails). If the agent asks for
  something the instruction does not give, say you do not know it.
- When your goal in the instruction is fully met, reply with ###STOP### alone.
- If you are told you are being transferred to a human agent, reply with ###TRANSFER### alone.
- If the instruction does not contain what is needed to continue, reply with ###OUT-OF-SCOPE### alone.
{persona}"""

ENHANCE_PROMPT = """Rewrite the following terse customer-service request as the customer's natural first message to
an agent, in the first person. Keep every fact exactly (ids, names, items); add no new facts; do not give
identification details unless the request is only about them. Reply with the message only.

Request: {instruction}"""


class LLMUser(UserSimulator):
    """A model plays the customer. ``enhance_query`` lets it rewrite the terse task into a natural opener."""

    name = "llm"

    def __init__(self, llm: Any, *, enhance_query: bool = False, role: str = "a customer"):
        if llm is None:
            raise ValueError(
                "the LLM user needs a model endpoint (--user-model, or a 'user' role in --models)"
            )
        self.llm = llm
        self.enhance_query = enhance_query
        self.role = role
        self.history: list[dict[str, Any]] = []
        self.system = ""
        self.task: Task | None = None

    def reset(
        self, task: Task, facts: UserFacts, persona: str | None, goal_reached: Callable[[], bool]
    ) -> None:
        self.task = task
        persona_text = f"\nPersona: {persona}" if persona else ""
        self.system = USER_SYSTEM_PROMPT.format(
            role=self.role, instruction=task.instruction, persona=persona_text
        )
        self.history = []

    async def _reply(self) -> UserReply:
        completion = await self.llm.chat([{"role": "system", "content": self.system}, *self.history])
        content = (completion.content or "").strip() or "###STOP###"
        self.history.append({"role": "assistant", "content": content})
        return UserReply(
            content=content, stop=user_stop_reason(content), calls=[completion.usage.model_dump(mode="json")]
        )

    async def first_message(self) -> UserReply:
        assert self.task is not None, "reset() first"
        if self.enhance_query:
            completion = await self.llm.chat(
                [{"role": "user", "content": ENHANCE_PROMPT.format(instruction=self.task.instruction)}]
            )
            content = (completion.content or "").strip() or first_person(self.task.instruction)
            self.history = [{"role": "user", "content": GREETING}, {"role": "assistant", "content": content}]
            return UserReply(content=content, calls=[completion.usage.model_dump(mode="json")])
        self.history.append({"role": "user", "content": GREETING})
        return await self._reply()

    async def respond(self, agent_message: str) -> UserReply:
        self.history.append({"role": "user", "content": agent_message})
        return await self._reply()
