"""Parsing of realistic small-model outputs."""

from __future__ import annotations

import json

import pytest

from casework.llm import clean_model_text, parse_text_tool_calls
from casework.llm.parsing import split_reasoning

TOOLS = {"get_order_details", "find_user_id_by_email", "cancel_pending_order"}


def args(call) -> dict:
    return json.loads(call.arguments)


# ----------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("<think>The user wants the order.</think>\n\nYour order has shipped.", "Your order has shipped."),
        ("<think>\nlet me check\n</think>Hi", "Hi"),
        ("<think>I am still thinking and got cut off", ""),
        ("reasoning leaked because the prompt opened the tag</think>\nThe answer is 4.", "The answer is 4."),
        ("<THINK>x</THINK>ok", "ok"),
        (
            "<|channel|>analysis<|message|>User asks status. Need tool.<|end|><|start|>assistant<|channel|>final<|message|>It was delivered.<|return|>",
            "It was delivered.",
        ),
        ("<|channel|>analysis<|message|>only thinking<|end|>", ""),
        ("<|start|>assistant<|channel|>final<|message|>Done.", "Done."),
        ("Sure, happy to help!<|im_end|>", "Sure, happy to help!"),
        ("plain answer", "plain answer"),
        ("", ""),
        (None, ""),
    ],
)
def test_clean_model_text(raw, expected):
    assert clean_model_text(raw) == expected


def test_split_reasoning_returns_reasoning():
    text, reasoning = split_reasoning("<think>step 1\nstep 2</think>Answer")
    assert text == "Answer"
    assert "step 2" in reasoning


# ----------------------------------------------------------------------------- tool calls


def test_json_fence_block_qwen_style():
    raw = '```json\n{"name": "get_order_details", "arguments": {"order_id": "#W1234567"}}\n```'
    text, calls = parse_text_tool_calls(raw, TOOLS)
    assert text == ""
    assert [c.name for c in calls] == ["get_order_details"]
    assert args(calls[0]) == {"order_id": "#W1234567"}
    assert calls[0].id.startswith("call_")


def test_pretty_printed_fence_with_preamble():
    raw = (
        "Here's the response for the function call `get_order_details`:\n\n"
        '```json\n{\n  "name": "get_order_details",\n  "arguments": {\n    "order_id": "#W7654321"\n  }\n}\n```\n'
        "Let me know if you need anything else."
    )
    text, calls = parse_text_tool_calls(raw, TOOLS)
    assert args(calls[0]) == {"order_id": "#W7654321"}
    assert "```" not in text
    assert text.startswith("Here's the response") and text.endswith("anything else.")


@pytest.mark.parametrize("lang", ["tool_call", "", "JSON", "tool_code"])
def test_other_fence_languages(lang):
    raw = f'```{lang}\n{{"name": "find_user_id_by_email", "arguments": {{"email": "a@b.c"}}}}\n```'
    _, calls = parse_text_tool_calls(raw, TOOLS)
    assert calls and calls[0].name == "find_user_id_by_email"


def test_python_fence_is_not_a_call():
    raw = '```python\nprint({"name": "get_order_details", "arguments": {}})\n```'
    text, calls = parse_text_tool_calls(raw, TOOLS)
    assert calls == [] and text == raw


def test_bare_json_object():
    raw = '{"name": "get_order_details", "arguments": {"order_id": "#W1234567"}}'
    text, calls = parse_text_tool_calls(raw)
    assert text == "" and args(calls[0]) == {"order_id": "#W1234567"}


def test_bare_json_with_text_around():
    raw = 'Sure! {"name": "get_order_details", "arguments": {"order_id": "#W1"}} I will check.'
    text, calls = parse_text_tool_calls(raw, TOOLS)
    assert text == "Sure!  I will check." or text == "Sure! I will check."
    assert len(calls) == 1


def test_list_of_calls():
    raw = '[{"name": "get_order_details", "arguments": {"order_id": "#W1"}}, {"name": "get_order_details", "arguments": {"order_id": "#W2"}}]'
    _, calls = parse_text_tool_calls(raw, TOOLS)
    assert [args(c)["order_id"] for c in calls] == ["#W1", "#W2"]
    assert calls[0].id != calls[1].id


def test_one_object_per_line():
    raw = '{"name": "get_order_details", "arguments": {"order_id": "#W1"}}\n{"name": "get_order_details", "arguments": {"order_id": "#W2"}}'
    _, calls = parse_text_tool_calls(raw, TOOLS)
    assert len(calls) == 2


def test_parameters_key_and_string_arguments():
    raw = '{"name": "get_order_details", "parameters": {"order_id": "#W1"}}'
    assert args(parse_text_tool_calls(raw)[1][0]) == {"order_id": "#W1"}
    raw = '{"name": "get_order_details", "arguments": "{\\"order_id\\": \\"#W9\\"}"}'
    assert args(parse_text_tool_calls(raw)[1][0]) == {"order_id": "#W9"}


def test_tool_call_tags_hermes_style():
    raw = (
        "I'll look that up.\n<tool_call>\n"
        '{"name": "get_order_details", "arguments": {"order_id": "#W1"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "find_user_id_by_email", "arguments": {"email": "x@y.z"}}\n</tool_call>'
    )
    text, calls = parse_text_tool_calls(raw, TOOLS)
    assert text == "I'll look that up."
    assert [c.name for c in calls] == ["get_order_details", "find_user_id_by_email"]


def test_unclosed_tool_call_tag():
    raw = '<tool_call>\n{"name": "get_order_details", "arguments": {"order_id": "#W1"}}'
    _, calls = parse_text_tool_calls(raw, TOOLS)
    assert len(calls) == 1


def test_react_action_input():
    raw = (
        "Thought: I need the order details first.\n"
        "Action: get_order_details\n"
        'Action Input: {"order_id": "#W1234567"}\n'
    )
    text, calls = parse_text_tool_calls(raw, TOOLS)
    assert calls[0].name == "get_order_details" and args(calls[0]) == {"order_id": "#W1234567"}
    assert text == "Thought: I need the order details first."


def test_action_json():
    raw = 'Action: {"name": "cancel_pending_order", "arguments": {"order_id": "#W1", "reason": "no longer needed"}}'
    _, calls = parse_text_tool_calls(raw, TOOLS)
    assert args(calls[0])["reason"] == "no longer needed"


def test_openai_and_generic_shapes():
    raw = '{"tool_call": {"name": "get_order_details", "arguments": {"order_id": "#W1"}}}'
    assert parse_text_tool_calls(raw)[1][0].name == "get_order_details"
    raw = '{"type": "function", "function": {"name": "get_order_details", "arguments": "{\\"order_id\\": \\"#W1\\"}"}}'
    assert args(parse_text_tool_calls(raw)[1][0]) == {"order_id": "#W1"}
    raw = '{"tool_calls": [{"name": "get_order_details", "arguments": {}}]}'
    assert parse_text_tool_calls(raw)[1][0].arguments == "{}"


def test_unknown_tool_names_rejected_and_kept_in_text():
    raw = '```json\n{"name": "delete_database", "arguments": {}}\n```'
    text, calls = parse_text_tool_calls(raw, TOOLS)
    assert calls == [] and "delete_database" in text


def test_plain_json_data_is_not_a_call():
    raw = 'Your order: {"name": "T-Shirt", "price": 19.99, "color": "blue"}'
    text, calls = parse_text_tool_calls(raw)
    assert calls == [] and text == raw


def test_response_object_is_not_a_call():
    raw = '{"response": "Your order was delivered."}'
    assert parse_text_tool_calls(raw)[1] == []


def test_python_literal_and_trailing_comma():
    raw = "```json\n{'name': 'get_order_details', 'arguments': {'order_id': '#W1'},}\n```"
    _, calls = parse_text_tool_calls(raw, TOOLS)
    assert args(calls[0]) == {"order_id": "#W1"}


def test_think_then_call():
    raw = '<think>The user wants status; call the tool.</think>\n```json\n{"name": "get_order_details", "arguments": {"order_id": "#W1"}}\n```'
    text, calls = parse_text_tool_calls(raw, TOOLS)
    assert text == "" and len(calls) == 1


def test_plain_text_untouched():
    raw = "Hello! How can I help you today?"
    assert parse_text_tool_calls(raw, TOOLS) == (raw, [])
    assert parse_text_tool_calls("", TOOLS) == ("", [])


def test_broken_json_ignored():
    raw = '```json\n{"name": "get_order_details", "arguments": {"order_id": \n```'
    _, calls = parse_text_tool_calls(raw, TOOLS)
    assert calls == []
