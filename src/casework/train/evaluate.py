"""Step-level evaluation: ask a model for the next agent turn of each exported prefix and score it.

No user simulator: every item is a conversation prefix (from a ``grpo`` export, an ``sft --per-turn``
export, or a whole-trajectory ``sft`` export split at each assistant turn) with the turn the rewarded
trajectory took. Metrics over the items:

- ``json_valid_rate``: of the tool calls the model made, the share whose arguments are a JSON object;
- ``tool_name_accuracy``: of the items where a call was expected, the share whose first call names
  the expected tool;
- ``argument_exact_match``: of those, the share whose calls equal the expected calls after the
  domain's argument normalisation (:func:`casework.tasks.normalize.normalize_action`), in order;
- ``shaped_reward``: the mean normalised shaped reward of the turn (:mod:`casework.scoring.shaped`);
- ``text_when_tool_expected``: of the items where a call was expected, the share answered in text only;
- ``tool_when_text_expected``: of the items where text was expected, the share that called a tool.

Deterministic at temperature 0 (the default).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from casework.domains import get_domain
from casework.domains.registry import DEFAULT_DOMAIN
from casework.scoring.shaped import shaped_reward
from casework.tasks.normalize import normalize_action
from casework.train.export import assistant_indices, calls_of


class EvalError(ValueError):
    """The evaluation data cannot be read."""


@dataclass
class EvalItem:
    task_id: str
    domain: str
    prompt: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    reference_calls: list[dict[str, Any]]


@dataclass
class EvalReport:
    items: int
    tool_calls_made: int
    json_valid_rate: float | None
    tool_name_accuracy: float | None
    argument_exact_match: float | None
    shaped_reward: float
    text_when_tool_expected: float | None
    tool_when_text_expected: float | None
    expected_call_items: int
    expected_text_items: int
    per_item: list[dict[str, Any]] = field(default_factory=list)


def load_items(data: Path, split: str = "test", limit: int | None = None) -> list[EvalItem]:
    """The prefixes of ``DATA/<split>.jsonl`` (any export format but sharegpt)."""
    path = data / f"{split}.jsonl" if data.is_dir() else data
    if not path.exists():
        raise EvalError(
            f"{path}: missing (export with --test-fraction to get a test split, or use --split train)"
        )
    items: list[EvalItem] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise EvalError(f"{path}:{number}: not a JSON object") from None
        tools = json.loads(row["tools"]) if isinstance(row.get("tools"), str) else row.get("tools") or []
        base = {
            "task_id": row.get("task_id", ""),
            "domain": row.get("domain", DEFAULT_DOMAIN),
            "tools": tools,
        }
        if "reference_calls" in row:
            items.append(
                EvalItem(prompt=row["prompt"], reference_calls=json.loads(row["reference_calls"]), **base)
            )
        elif "completion" in row:
            items.append(
                EvalItem(prompt=row["prompt"], reference_calls=calls_of(row["completion"][0]), **base)
            )
        elif "messages" in row:
            messages = row["messages"]
            for i in assistant_indices(messages):
                items.append(EvalItem(prompt=messages[:i], reference_calls=calls_of(messages[i]), **base))
        else:
            raise EvalError(
                f"{path}:{number}: not an export row (expected prompt/completion, messages or grpo columns)"
            )
    return items[:limit] if limit else items


def score_turn(item: EvalItem, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Score one predicted turn (``calls``: ``{"name", "arguments"}`` with arguments as given)."""
    domain = get_domain(item.domain)
    valid = [isinstance(c["arguments"], dict) for c in calls]
    as_dicts = [
        {"name": c["name"], "arguments": c["arguments"] if ok else {}}
        for c, ok in zip(calls, valid, strict=True)
    ]

    def required(name: str) -> list[str]:
        found = domain.toolbox.tools.get(name)
        return list(found.parameters.get("required", [])) if found else []

    expected = item.reference_calls
    shaped = shaped_reward(expected, as_dicts, required_args=required, rules=domain.arguments).normalized
    result: dict[str, Any] = {
        "task_id": item.task_id,
        "expected": [c["name"] for c in expected],
        "called": [c["name"] for c in calls],
        "json_valid": valid,
        "shaped_reward": shaped,
    }
    if expected:
        result["name_ok"] = bool(calls) and calls[0]["name"] == expected[0]["name"]
        result["args_ok"] = all(valid) and [normalize_action(c, domain.arguments) for c in as_dicts] == [
            normalize_action(c, domain.arguments) for c in expected
        ]
        result["text_only"] = not calls
    else:
        result["called_tool"] = bool(calls)
    return result


def _rate(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(scored: list[dict[str, Any]]) -> EvalReport:
    call_items = [s for s in scored if "name_ok" in s]
    text_items = [s for s in scored if "called_tool" in s]
    valid = [v for s in scored for v in s["json_valid"]]
    return EvalReport(
        items=len(scored),
        tool_calls_made=len(valid),
        json_valid_rate=_rate(valid),
        tool_name_accuracy=_rate([s["name_ok"] for s in call_items]),
        argument_exact_match=_rate([s["args_ok"] for s in call_items]),
        shaped_reward=sum(s["shaped_reward"] for s in scored) / len(scored) if scored else 0.0,
        text_when_tool_expected=_rate([s["text_only"] for s in call_items]),
        tool_when_text_expected=_rate([s["called_tool"] for s in text_items]),
        expected_call_items=len(call_items),
        expected_text_items=len(text_items),
        per_item=scored,
    )


def _calls_from_completion(completion: Any, item: EvalItem) -> list[dict[str, Any]]:
    from casework.llm.parsing import parse_text_tool_calls

    raw = [(c.name, c.arguments) for c in completion.tool_calls]
    if not raw and completion.content:
        _, parsed = parse_text_tool_calls(completion.content, [t["function"]["name"] for t in item.tools])
        raw = [(c.name, c.arguments) for c in parsed]
    calls = []
    for name, arguments in raw:
        try:
            value = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            value = arguments
        calls.append({"name": name, "arguments": value if isinstance(value, dict) else arguments})
    return calls


async def evaluate_endpoint(items: list[EvalItem], client: Any, concurrency: int = 4) -> EvalReport:
    """Ask ``client`` (a :class:`casework.llm.LLMClient`) for each item's next turn and score it."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: EvalItem) -> dict[str, Any]:
        async with semaphore:
            completion = await client.chat(item.prompt, tools=item.tools, tool_choice="auto", role="agent")
        return score_turn(item, _calls_from_completion(completion, item))

    return summarize(list(await asyncio.gather(*(one(item) for item in items))))


def report_dict(report: EvalReport) -> dict[str, Any]:
    return asdict(report)
