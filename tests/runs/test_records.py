"""Typed run records: old (version-less) lines read unchanged, new ones round-trip, bad ones say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casework.reports.analysis import ReportError, load_run
from casework.runs.records import RecordError, parse_result, read_records, schema_version
from casework.runs.summary import summarize

V1_LINE = {
    "task_id": "7",
    "trial": 0,
    "reward": 1.0,
    "success": True,
    "db_match": True,
    "outputs_match": True,
    "outputs_found": [],
    "action_precision": 1.0,
    "action_recall": 0.5,
    "action_f1": 0.667,
    "exact_match": False,
    "action_metrics": {"precision": 1.0},
    "shaped_reward": 1.5,
    "error_category": "none",
    "termination_reason": "user_stop",
    "persona": "anger",
    "agent_steps": 3,
    "execution_time": 0.5,
    "tool_calls": [
        {
            "id": "c1",
            "name": "get_x",
            "arguments": {"a": 1},
            "observation": "{}",
            "error": False,
            "duration_s": 0.0,
            "step": 1,
        }
    ],
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": []}],
    "model_calls": [
        {"role": "agent", "model": "m", "prompt_tokens": 10, "cost_usd": 0.001, "latency_s": 0.2}
    ],
    "some_future_field": {"kept": True},
}


def write_run(tmp_path: Path, lines: list[dict], manifest: dict | None = None) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (run / "manifest.json").write_text(json.dumps(manifest or {"config": {"domain": "retail"}}))
    return run


def test_version_less_lines_read_as_typed_records_and_write_back_unchanged(tmp_path: Path):
    run = write_run(tmp_path, [V1_LINE])
    (record,) = read_records(run)
    assert schema_version(json.loads((run / "manifest.json").read_text())) == 1
    assert (
        record.task_id == "7"
        and record.reward == 1.0
        and record.components == {}
        and record.reward_basis is None
    )
    assert record.tool_calls[0].requestor == "assistant"  # the default for lines written before the field
    assert record.model_calls[0].prompt_tokens == 10 and record.agent_messages == []
    assert record.as_row() == V1_LINE  # nothing added, nothing lost (unknown fields kept)
    loaded = load_run(run)
    assert loaded.results == [V1_LINE] and loaded.records == [record] and loaded.schema_version == 1


def test_summary_reads_dicts_and_records_alike():
    as_dicts = summarize([V1_LINE])
    assert as_dicts == summarize([parse_result(V1_LINE)])
    assert as_dicts["tokens"] == {
        "agent_prompt_tokens": 10,
        "agent_completion_tokens": 0,
        "agent_cached_tokens": 0,
    }
    assert as_dicts["avg_action_recall"] == 0.5 and "components" not in as_dicts


def test_a_line_that_does_not_fit_names_the_file_task_and_field(tmp_path: Path):
    run = write_run(tmp_path, [V1_LINE, {**V1_LINE, "task_id": "8", "reward": "lots"}])
    with pytest.raises(RecordError, match=r"results\.jsonl: result line of task '8' trial 0: field 'reward'"):
        read_records(run)
    with pytest.raises(ReportError, match="field 'reward'"):
        load_run(run)
