"""Fixtures for the studies tests: a judge that reads the conversation."""

from __future__ import annotations

import json

import pytest

from casework.llm.types import CallRecord, Completion


class ConversationJudge:
    """Meets an assertion only when some agent line of the conversation mentions the policy (a
    stand-in for a judge that looks for a grounded refusal)."""

    class config:
        model = "conversation-judge"

    def __init__(self, word: str = "policy"):
        self.word = word
        self.prompts: list[str] = []

    async def chat(self, messages, role=None, **params):
        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        agent_lines = [line for line in prompt.splitlines() if line.startswith("assistant:")]
        met = any(self.word in line.lower() for line in agent_lines)
        record = CallRecord(
            role=role, model="conversation-judge", latency_s=0.01, prompt_tokens=len(prompt) // 4
        )
        content = json.dumps({"reasoning": "scripted", "met": met})
        return Completion(content=content, usage=record.model_copy(update={"completion_tokens": 9}))


@pytest.fixture
def conversation_judge():
    return ConversationJudge
