"""TRL-signature reward functions over one generated agent turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.train.export import export_runs
from casework.train.rewards import (
    REWARD_FUNCS,
    execution_reward_func,
    parse_completion_calls,
    render_turn,
    shaped_reward_func,
    similarity_reward_func,
)

RETAIL = get_domain("retail")


@pytest.fixture(scope="module")
def grpo_rows(oracle_run: Path, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("grpo")
    path = export_runs([oracle_run], out, fmt="grpo", dedupe=True).files["train"]
    return [json.loads(x) for x in path.read_text().splitlines()]


def columns(rows: list[dict]) -> dict:
    return {k: [r[k] for r in rows] for k in rows[0] if k != "prompt"}


def reference_completion(row: dict) -> list[dict]:
    """The reference turn as the embedded model writes it (conversational completion)."""
    return [
        {
            "role": "assistant",
            "content": render_turn(row["reference_text"], json.loads(row["reference_calls"])),
        }
    ]


def test_reference_turns_earn_full_reward_from_every_function(grpo_rows):
    completions = [reference_completion(r) for r in grpo_rows]
    cols = columns(grpo_rows)
    for name, func in REWARD_FUNCS.items():
        assert func(completions, **cols) == [1.0] * len(grpo_rows), name


def test_wrong_turns_lose(grpo_rows):
    cols = columns(grpo_rows)
    text_only = [[{"role": "assistant", "content": "I cannot help with that."}] for _ in grpo_rows]
    expects_call = [bool(json.loads(r["reference_calls"])) for r in grpo_rows]
    assert any(expects_call) and not all(expects_call)
    shaped = shaped_reward_func(text_only, **cols)
    # text where a call was expected scores 0; text where the reference also answered in text scores 1
    assert shaped == [0.0 if e else 1.0 for e in expects_call]
    execution = execution_reward_func(text_only, **cols)
    for row, got, e in zip(grpo_rows, execution, expects_call, strict=True):
        calls = json.loads(row["reference_calls"])
        writes = any(RETAIL.is_write(c["name"]) for c in calls)
        if not e:
            assert got == 1.0
        elif writes:
            assert got == 0.0, row["reference_calls"]  # the state differs
        else:
            assert got == 0.5  # same state (a read was skipped), different observations
    similarity = similarity_reward_func(text_only, **cols)
    assert all(0.0 <= s < 1.0 for s in similarity)


def test_a_right_tool_with_wrong_arguments_gets_partial_shaped_credit(grpo_rows):
    row = next(r for r in grpo_rows if json.loads(r["reference_calls"]))
    call = json.loads(row["reference_calls"])[0]
    wrong = {"name": call["name"], "arguments": {k: "nope" for k in call["arguments"]}}
    completion = [{"role": "assistant", "content": render_turn("", [wrong])}]
    (score,) = shaped_reward_func([completion], **columns([row]))
    assert 0.0 < score < 1.0
    (exact,) = shaped_reward_func([reference_completion(row)], **columns([row]))
    assert exact == 1.0 > score


def test_calls_are_read_from_text_formats_and_structured_fields():
    from casework.domains import get_domain

    domain = get_domain("retail")
    text = 'Sure.\n<tool_call>{"name": "get_user_details", "arguments": {"user_id": "a_1"}}</tool_call>'
    assert parse_completion_calls(text, domain) == [
        {"name": "get_user_details", "arguments": {"user_id": "a_1"}}
    ]
    structured = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_user_details", "arguments": '{"user_id": "b"}'}}],
        }
    ]
    assert parse_completion_calls(structured, domain) == [
        {"name": "get_user_details", "arguments": {"user_id": "b"}}
    ]
    assert parse_completion_calls('{"name": "not_a_tool", "arguments": {}}', domain) == []


def test_missing_columns_are_named():
    with pytest.raises(KeyError, match="reference_calls"):
        shaped_reward_func(["x"], domain=["retail"])
