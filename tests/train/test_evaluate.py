"""casework train eval: step-level metrics of a model's next turn for each exported prefix."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.llm.types import CallRecord, Completion, ToolCall
from casework.train.evaluate import EvalError, evaluate_endpoint, load_items, score_turn
from casework.train.export import export_runs
from casework.train.rewards import render_turn
from llm.fake_server import FakeServer, chat_json, sse_chunks  # tests/ is on sys.path (rootdir)


@pytest.fixture(scope="module")
def grpo_dir(oracle_run: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    export_runs([oracle_run], out, fmt="grpo", dedupe=True, test_fraction=0.5)
    return out


class ScriptedClient:
    """Answers every prefix with ``answer(item_prompt)`` as a Completion."""

    def __init__(self, answer):
        self.answer = answer

    async def chat(self, messages, tools=None, tool_choice=None, role=None):
        content, calls = self.answer(messages)
        return Completion(
            content=content,
            tool_calls=[ToolCall(name=n, arguments=a) for n, a in calls],
            usage=CallRecord(model="scripted"),
        )


def test_the_reference_turns_score_perfectly_and_text_scores_nothing(grpo_dir: Path):
    items = load_items(grpo_dir, "test")
    reference = {json.dumps(i.prompt): i for i in items}

    def perfect(messages):
        item = reference[json.dumps(messages)]
        return None, [(c["name"], json.dumps(c["arguments"])) for c in item.reference_calls]

    report = asyncio.run(evaluate_endpoint(items, ScriptedClient(perfect)))
    assert report.items == len(items) and report.expected_call_items and report.expected_text_items
    assert report.json_valid_rate == report.tool_name_accuracy == report.argument_exact_match == 1.0
    assert report.shaped_reward == 1.0
    assert report.text_when_tool_expected == 0.0 and report.tool_when_text_expected == 0.0

    chatty = asyncio.run(evaluate_endpoint(items, ScriptedClient(lambda m: ("Let me check.", []))))
    assert chatty.text_when_tool_expected == 1.0 and chatty.tool_name_accuracy == 0.0
    assert chatty.tool_calls_made == 0 and chatty.json_valid_rate is None


def test_text_calls_are_parsed_and_bad_json_is_counted(grpo_dir: Path):
    item = next(i for i in load_items(grpo_dir, "train") if i.reference_calls)
    call = item.reference_calls[0]
    assert score_turn(item, [dict(call)])["args_ok"]
    # argument normalisation: an order id without its '#' is the same call
    order_item = next(
        i
        for i in load_items(grpo_dir, "train")
        if "order_id" in (i.reference_calls or [{}])[0].get("arguments", {})
    )
    order_call = order_item.reference_calls[0]
    bare = {
        **order_call,
        "arguments": {**order_call["arguments"], "order_id": order_call["arguments"]["order_id"].lstrip("#")},
    }
    assert bare != order_call and score_turn(order_item, [bare])["args_ok"]
    broken = score_turn(item, [{"name": call["name"], "arguments": '{"oops": '}])
    assert broken["json_valid"] == [False] and broken["name_ok"] and not broken["args_ok"]
    text = render_turn("Sure.", [call])

    async def run():
        return await evaluate_endpoint([item], ScriptedClient(lambda m: (text, [])))

    assert asyncio.run(run()).argument_exact_match == 1.0


def test_cli_eval_against_an_openai_compatible_endpoint(grpo_dir: Path, tmp_path: Path):
    items = load_items(grpo_dir, "test")

    def respond(body: dict) -> dict:
        args = json.dumps({"user_id": "nobody"})
        if body.get("stream"):
            return {"sse": sse_chunks(tool_calls=[("c1", "get_user_details", [args])]), "done": True}
        calls = [
            {"id": "c1", "type": "function", "function": {"name": "get_user_details", "arguments": args}}
        ]
        return {"json": chat_json(None, calls, "tool_calls")}

    out = tmp_path / "eval.json"
    with FakeServer(responder=respond) as server:
        result = CliRunner().invoke(
            app,
            [
                "train",
                "eval",
                "--data",
                str(grpo_dir),
                "--model",
                "fake",
                "--base-url",
                server.base_url,
                "--json",
                str(out),
            ],
        )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    call_items = [i for i in items if i.reference_calls]
    want = sum(i.reference_calls[0]["name"] == "get_user_details" for i in call_items) / len(call_items)
    assert report["tool_name_accuracy"] == pytest.approx(want)
    assert report["json_valid_rate"] == 1.0 and report["items"] == len(items)
    assert report["tool_when_text_expected"] == 1.0
    assert "tool-name accuracy" in result.output


def test_missing_split_is_a_clear_error(oracle_run: Path, tmp_path: Path):
    export_runs([oracle_run], tmp_path / "d", fmt="sft")
    with pytest.raises(EvalError, match="test.jsonl: missing"):
        load_items(tmp_path / "d", "test")
    result = CliRunner().invoke(app, ["train", "eval", "--data", str(tmp_path / "d")])
    assert result.exit_code == 2 and "test.jsonl: missing" in result.output
    whole = load_items(tmp_path / "d", "train")  # whole trajectories are split at each assistant turn
    assert len(whole) > 12
