"""Plain data exchanged inside a simulation: agent and user replies, tool-call records, termination."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Termination(StrEnum):
    USER_STOP = "user_stop"  # the user said ###STOP### (goal met)
    TRANSFER = "transfer"  # transferred to a human (agent tool or user ###TRANSFER###)
    OUT_OF_SCOPE = "out_of_scope"  # the user said ###OUT-OF-SCOPE###
    AGENT_STOP = "agent_stop"  # the agent ended (solo mode, or ###STOP### from the agent)
    MAX_STEPS = "max_steps"  # step limit in agent model calls
    TOO_MANY_ERRORS = "too_many_errors"  # error budget exhausted
    TIMEOUT = "timeout"  # the simulation ran out of wall-clock time
    INFRASTRUCTURE_ERROR = "infrastructure_error"  # a model endpoint failed after retries
    AGENT_ERROR = "agent_error"  # the agent model's reply could not be parsed by its endpoint
    USER_ERROR = "user_error"  # the user model's reply could not be parsed by its endpoint


USER_STOP_TOKENS = {
    "###STOP###": Termination.USER_STOP,
    "###TRANSFER###": Termination.TRANSFER,
    "###OUT-OF-SCOPE###": Termination.OUT_OF_SCOPE,
}


class ToolCall(BaseModel):
    """A call the agent asked for; ``arguments`` is the raw JSON text the model produced."""

    id: str
    name: str
    arguments: str = "{}"


class AgentReply(BaseModel):
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    calls: list[dict[str, Any]] = Field(default_factory=list)  # model call records (usage, timings)


class UserReply(BaseModel):
    content: str
    stop: Termination | None = None
    calls: list[dict[str, Any]] = Field(default_factory=list)
    #: why this reply ended the conversation abnormally (empty model reply, scripted user gave up)
    abnormal: str | None = None
    #: what the user simulator reports about this turn (e.g. best-of-N candidates and their scores);
    #: recorded in the result line's ``user_turns``, never sent to the agent
    metadata: dict[str, Any] | None = None


class ExecutedCall(BaseModel):
    """A tool call as executed by the harness, with its observation."""

    id: str
    name: str
    arguments: dict[str, Any] | str  # parsed arguments, or the raw text when it was not valid JSON
    observation: str
    error: bool
    duration_s: float
    step: int
    #: the side whose environment the tool acts on: ``assistant`` (the agent's tools) or ``user``
    #: (the user's own device, called by the user simulator, or by the agent in solo mode)
    requestor: str = "assistant"


#: a stop token as models write it: stray spaces, any case, ``_`` or spaces for ``-`` (``### stop###``)
_STOP_TOKEN = re.compile(r"#{2,}\s*(STOP|TRANSFER|OUT[\s_-]*OF[\s_-]*SCOPE)\s*#{2,}", re.I)


def user_stop_reason(text: str) -> Termination | None:
    """The termination a user's message asks for (``###STOP###``, ``### stop ###``, ...), or None."""
    match = _STOP_TOKEN.search(text)
    if match is None:
        return None
    word = re.sub(r"[\s_-]+", "-", match.group(1).upper())
    return USER_STOP_TOKENS[f"###{word}###"]
