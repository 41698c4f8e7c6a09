"""The judge: a model that decides τ³'s natural-language assertions against a conversation.

One judge call per assertion (τ³ asks for all of a task's assertions in one call; one call each
keeps a small judge's answers short and lets every verdict be cached on its own). The judge sees
the conversation as ``role: text`` lines (tool calls written as ``name(arguments)``, tool results
as ``tool: observation``) and answers JSON ``{"reasoning": ..., "met": true|false}``
(``metExpectation``, τ³'s key, is read too).

Verdicts are cached in the run directory (``judge_cache.jsonl``) by the sha256 of (judge id,
prompt version, conversation, assertion), so grading the same conversation again with the same
judge (``casework regrade``) calls no model. A judge call is recorded like every model call (role
``judge``: latency, tokens, cost) in the simulation's ``model_calls``. A judge that fails (endpoint
down, no JSON in the answer) marks the component ``judge_error``; the conversation is kept and can
be re-graded later.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from casework.scoring.components import Check

PROMPT_VERSION = "1"
CACHE_FILE = "judge_cache.jsonl"
#: printed when the embedded model judges: τ³'s published numbers used a far larger judge
SMALL_JUDGE_WARNING = (
    "NL assertions are judged by the embedded 0.5B model (no --judge-model given); "
    "published τ³ numbers used a much larger judge model, so NL_ASSERTION verdicts are not comparable"
)

SYSTEM_PROMPT = """You are a strict grader. You are given a conversation between a customer-service \
agent and a customer, and one expected outcome. Decide whether the agent's behaviour in the \
conversation satisfies the expected outcome.

Answer with one JSON object and nothing else:
{"reasoning": "<one or two sentences>", "met": true or false}"""


def render_conversation(messages: Sequence[dict[str, Any]]) -> str:
    """The conversation as the judge reads it (system prompts left out)."""
    lines = []
    for message in messages:
        role = message.get("role")
        if role == "system":
            continue
        content = message.get("content")
        if content:
            lines.append(f"{role}: {content}")
        for call in message.get("tool_calls") or []:
            function = call.get("function", call)
            lines.append(f"{role}: [tool call] {function.get('name')}({function.get('arguments')})")
    return "\n".join(lines)


def _key(judge_id: str, conversation: str, assertion: str) -> str:
    payload = json.dumps([judge_id, PROMPT_VERSION, conversation, assertion], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class JudgeCache:
    """Verdicts by key, read from and appended to ``RUN_DIR/judge_cache.jsonl``."""

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if path is not None and path.exists():
            for raw in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(raw)
                except json.JSONDecodeError:
                    continue  # a torn last line
                if isinstance(entry, dict) and "key" in entry:
                    self.entries[entry["key"]] = entry

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.entries[entry["key"]] = entry
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


@dataclass
class NLVerdicts:
    """The judge's verdicts for one simulation, and the model calls it made."""

    checks: list[Check]
    status: str = "ok"  # ok | judge_error
    note: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    cached: int = 0


def parse_verdict(text: str | None) -> tuple[bool, str]:
    """``(met, reasoning)`` from a judge's answer; raises ValueError when it holds no verdict."""
    from casework.jsontext import JSONTextError, extract_json

    try:
        data = extract_json(text)
    except JSONTextError as exc:
        raise ValueError(str(exc)) from None
    if isinstance(data, dict) and isinstance(data.get("results"), list) and data["results"]:
        data = data["results"][0]
    if not isinstance(data, dict):
        raise ValueError("the judge's JSON is not an object")
    for key in ("met", "metExpectation"):
        value = data.get(key)
        if isinstance(value, bool):
            return value, str(data.get("reasoning", ""))
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", str(data.get("reasoning", ""))
    raise ValueError("the judge's JSON has no boolean 'met'")


class Judge:
    """Judges NL assertions with ``llm`` (a :class:`casework.llm.LLMClient`); ``judge_id`` names it in
    the cache (the model name)."""

    def __init__(self, llm: Any, judge_id: str, cache: JudgeCache | None = None, max_tokens: int = 256):
        self.llm = llm
        self.judge_id = judge_id
        self.cache = cache or JudgeCache(None)
        self.max_tokens = max_tokens

    def remember(self, messages: Sequence[dict[str, Any]], checks: Sequence[dict[str, Any]]) -> int:
        """Put verdicts another process reached on ``messages`` (a Ray worker's, as stored in the
        result line) into this judge's cache, so ``regrade`` reuses them; returns how many were new."""
        conversation = render_conversation(messages)
        added = 0
        for check in checks:
            met, assertion = check.get("met"), check.get("subject")
            if not isinstance(met, bool) or not isinstance(assertion, str):
                continue  # a judge error is not a verdict
            key = _key(self.judge_id, conversation, assertion)
            if self.cache.get(key) is None:
                self.cache.put(
                    {
                        "key": key,
                        "judge": self.judge_id,
                        "assertion": assertion,
                        "met": met,
                        "reasoning": str(check.get("justification") or ""),
                    }
                )
                added += 1
        return added

    async def judge(self, assertions: Sequence[str], messages: Sequence[dict[str, Any]]) -> NLVerdicts:
        from casework.llm import LLMError

        conversation = render_conversation(messages)
        verdicts = NLVerdicts(checks=[])
        errors = []
        for assertion in assertions:
            key = _key(self.judge_id, conversation, assertion)
            hit = self.cache.get(key)
            if hit is not None:
                verdicts.cached += 1
                verdicts.checks.append(
                    Check(subject=assertion, met=hit["met"], justification=hit["reasoning"])
                )
                continue
            prompt = f"Conversation:\n{conversation}\n\nExpected outcome:\n{assertion}"
            try:
                completion = await self.llm.chat(
                    [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
                    role="judge",
                    max_tokens=self.max_tokens,
                    temperature=0.0,
                )
            except LLMError as exc:
                if exc.record is not None:
                    verdicts.calls.append(exc.record.model_dump(mode="json"))
                errors.append(f"{assertion!r}: {exc}")
                verdicts.checks.append(
                    Check(subject=assertion, met=None, justification=f"judge error: {exc}")
                )
                continue
            verdicts.calls.append(completion.usage.model_dump(mode="json"))
            try:
                met, reasoning = parse_verdict(completion.content)
            except ValueError as exc:
                errors.append(f"{assertion!r}: {exc}")
                verdicts.checks.append(
                    Check(
                        subject=assertion,
                        met=None,
                        justification=f"judge error: {exc}",
                        answer=completion.content,
                    )
                )
                continue
            self.cache.put(
                {
                    "key": key,
                    "judge": self.judge_id,
                    "assertion": assertion,
                    "met": met,
                    "reasoning": reasoning,
                }
            )
            verdicts.checks.append(Check(subject=assertion, met=met, justification=reasoning))
        if errors:
            verdicts.status = "judge_error"
            verdicts.note = "; ".join(errors)
        else:
            verdicts.note = f"judge {self.judge_id}"
        return verdicts
