"""Fixtures for the run tests: τ³ reference data and a scripted judge client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework.llm.types import CallRecord, Completion, LLMUnavailable


@pytest.fixture(scope="session")
def tau3_retail_dir(tau3_dir: Path) -> Path:
    """τ³'s retail data (db.json, tasks_train.json, split_tasks.json); skips when ../shared is absent."""
    return tau3_dir / "retail"


class ScriptedJudge:
    """A judge client that answers from a rule, records its prompts, and can fail on demand."""

    class config:
        model = "scripted-judge"

    def __init__(self, verdict=lambda assertion: True, fail: bool = False, answer: str | None = None):
        self.verdict = verdict
        self.fail = fail
        self.answer = answer
        self.prompts: list[str] = []

    async def chat(self, messages, role=None, **params):
        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        record = CallRecord(role=role, model="scripted-judge", latency_s=0.01, prompt_tokens=len(prompt) // 4)
        if self.fail:
            raise LLMUnavailable("judge endpoint unreachable", record.model_copy(update={"error": "refused"}))
        assertion = prompt.rsplit("Expected outcome:\n", 1)[1]
        content = self.answer or json.dumps({"reasoning": "scripted", "met": self.verdict(assertion)})
        return Completion(content=content, usage=record.model_copy(update={"completion_tokens": 9}))


@pytest.fixture(scope="session")
def scripted_judge():
    """``scripted_judge(verdict=..., fail=..., answer=...)`` -> a new :class:`ScriptedJudge`."""
    return ScriptedJudge
