"""Data types shared by the LLM client, the parser and the runners."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, Field


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


class ToolCall(BaseModel):
    """One function call requested by the model. ``arguments`` is the raw JSON text."""

    id: str = Field(default_factory=new_call_id)
    name: str
    arguments: str = "{}"

    def to_openai(self) -> dict:
        """The assistant-message ``tool_calls`` entry in OpenAI chat format."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


class CallRecord(BaseModel):
    """What one ``LLMClient.chat`` call cost and how long it took (one per call, retries included)."""

    role: str | None = None
    model: str
    base_url: str | None = None
    """The replica that answered (scheme, host, port and path only: never credentials)."""
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    latency_s: float = 0.0
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    decode_tokens_per_s: float | None = None
    cost_usd: float | None = None
    retries: int = 0
    streamed: bool = False
    finish_reason: str | None = None
    error: str | None = None
    cache_hit: bool | None = None
    """With a response cache: whether the answer came from it (None: no cache)."""


class Completion(BaseModel):
    """The assistant's reply: cleaned text, structured tool calls and the call's usage record."""

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    raw_content: str | None = None
    reasoning_content: str | None = None
    finish_reason: str | None = None
    usage: CallRecord

    def to_message(self) -> dict:
        """The assistant message to append to the conversation (OpenAI chat format)."""
        msg: dict = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [tc.to_openai() for tc in self.tool_calls]
        return msg


class LLMError(Exception):
    """A chat call failed; ``record`` holds the CallRecord (with ``error`` set)."""

    infrastructure = False

    def __init__(self, message: str, record: CallRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


class LLMUnavailable(LLMError):
    """Infrastructure error: the endpoint could not produce an answer (retries exhausted,
    unreachable, authentication failed, ...). Runners should count it separately from model mistakes."""

    infrastructure = True


class LLMRequestError(LLMError):
    """The endpoint rejected the request itself (HTTP 400/422, e.g. context too long); not retried."""


class LLMOutputError(LLMError):
    """The model answered but the endpoint could not turn its output into a reply (llama.cpp answers
    HTTP 500 "Failed to parse tool call arguments as JSON" for a tool call cut off by ``max_tokens``):
    the model's fault, not the endpoint's. Not retried (the same prompt gives the same output at
    temperature 0) and no reason to take a replica out; a simulation ends with the agent's (or the
    user's) error rather than an infrastructure error."""
