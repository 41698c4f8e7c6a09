"""casework export: the three formats field by field, the split, the card, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.train.export import ExportError, export_runs
from casework.train.records import RecordError, load_run

from .conftest import lines

RETAIL = get_domain("retail")


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _calls(actions: list[dict]) -> list[dict]:
    """Golden actions as the calls that match them (name and arguments; a hand-over's
    ``compare_args`` says how it is graded, not what was called)."""
    return [{"name": a["name"], "arguments": a["arguments"]} for a in actions]


def test_sft_rows_are_the_trajectories_in_chat_format(oracle_run: Path, tmp_path: Path):
    result = export_runs([oracle_run], tmp_path / "sft", fmt="sft")
    rows = read(result.files["train"])
    source = {(r["task_id"], r["trial"]): r for r in lines(oracle_run)}
    assert len(rows) == len(source) == 12
    schemas = RETAIL.toolbox.openai_schemas()
    for row in rows:
        original = source[(row["task_id"], row["trial"])]
        assert json.loads(row["tools"]) == schemas
        messages = row["messages"]
        assert messages[0]["role"] == "system" and RETAIL.policy.strip()[:200] in messages[0]["content"]
        assert messages[1] == {"role": "user", "content": original["messages"][1]["content"]}
        assert messages[-1]["role"] == "assistant"  # the user's closing words are trimmed
        calls = [
            {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
            for m in messages
            if m["role"] == "assistant"
            for c in m.get("tool_calls", [])
        ]
        assert calls == _calls(original["expected_actions"])  # the oracle made exactly the ground-truth calls
        tool_messages = [m for m in messages if m["role"] == "tool"]
        observed = [c["observation"] for c in original["tool_calls"]]
        # a transfer ends the talk: its result follows the last assistant turn and is trimmed
        assert [m["content"] for m in tool_messages] == observed[: len(tool_messages)]
        assert len(tool_messages) >= len(observed) - 1
        assert all(set(m) == {"role", "tool_call_id", "name", "content"} for m in tool_messages)
        assert all(isinstance(m["content"], str) for m in messages)
        assert row["reward"] == 1.0 and row["domain"] == "retail" and row["source_run"] == str(oracle_run)
    card = json.loads((tmp_path / "sft" / "dataset_card.json").read_text())
    assert card["counts"]["kept"] == 12 and card["examples"] == {"train": 12, "test": 0}
    assert card["source_runs"][0]["agent"] == "oracle" and card["source_runs"][0]["tasks_sha256"]
    assert "## Source runs" in (tmp_path / "sft" / "README.md").read_text()


def test_split_is_by_task_id_and_the_card_says_which(oracle_run: Path, tmp_path: Path):
    result = export_runs([oracle_run], tmp_path / "s", fmt="sft", test_fraction=0.34, seed=5)
    train, test = read(result.files["train"]), read(result.files["test"])
    train_ids, test_ids = {r["task_id"] for r in train}, {r["task_id"] for r in test}
    assert train_ids and test_ids and not train_ids & test_ids
    assert len(test_ids) == 2  # round(0.34 * 6)
    assert result.card["task_ids"] == {"train": sorted(train_ids), "test": sorted(test_ids)}
    assert len(test) == 4  # both trials of each test task, never split apart
    again = export_runs([oracle_run], tmp_path / "s2", fmt="sft", test_fraction=0.34, seed=5)
    assert again.card["task_ids"] == result.card["task_ids"]


def test_dedupe_and_min_reward_and_infrastructure_errors_are_counted(run_copy, tmp_path: Path):
    def damage(i: int, r: dict) -> dict:
        if i == 0:
            r["reward"] = 0.0
        if i == 1:
            r["termination_reason"] = "infrastructure_error"
        return r

    run = run_copy(damage)
    result = export_runs([run], tmp_path / "d", fmt="sft", dedupe=True)
    counts = result.card["counts"]
    assert counts["trajectories_read"] == 11  # the infrastructure error is not a trajectory to learn from
    assert counts["infrastructure_errors_excluded"] == 1 and counts["below_min_reward"] == 1
    assert counts["kept"] == 6 and counts["duplicates_removed"] == 4  # oracle trials are identical
    assert len({r["task_id"] for r in read(result.files["train"])}) == 6
    loose = export_runs([run], tmp_path / "l", fmt="sft", min_reward=0.0)
    assert loose.card["counts"]["kept"] == 11


def test_per_turn_rows_are_prompt_completion_pairs(oracle_run: Path, tmp_path: Path):
    whole = read(export_runs([oracle_run], tmp_path / "w", fmt="sft").files["train"])
    turns = read(export_runs([oracle_run], tmp_path / "t", fmt="sft", per_turn=True).files["train"])
    assert len(turns) == sum(sum(m["role"] == "assistant" for m in r["messages"]) for r in whole)
    first = whole[0]["messages"]
    mine = [t for t in turns if t["task_id"] == whole[0]["task_id"] and t["trial"] == whole[0]["trial"]]
    for t in mine:
        assert t["completion"][0]["role"] == "assistant" and len(t["completion"]) == 1
        assert t["prompt"] + t["completion"] == first[: len(t["prompt"]) + 1]
        assert t["prompt"][-1]["role"] in ("user", "tool")


def test_sharegpt_has_the_apigen_mt_layout(oracle_run: Path, tmp_path: Path):
    rows = read(export_runs([oracle_run], tmp_path / "g", fmt="sharegpt").files["train"])
    source = {(r["task_id"], r["trial"]): r for r in lines(oracle_run)}
    for row in rows:
        assert {"conversations", "system", "tools"} <= set(row)
        assert RETAIL.policy.strip()[:200] in row["system"]
        tools = json.loads(row["tools"])
        assert [t["name"] for t in tools] == list(RETAIL.toolbox.tools)
        assert all(set(t) >= {"name", "description", "parameters"} for t in tools)
        conv = row["conversations"]
        assert {c["from"] for c in conv} <= {"human", "gpt", "function_call", "observation"}
        assert all(set(c) == {"from", "value"} and isinstance(c["value"], str) for c in conv)
        assert conv[0]["from"] == "human"
        calls = [json.loads(c["value"]) for c in conv if c["from"] == "function_call"]
        original = source[(row["task_id"], row["trial"])]
        assert calls == _calls(original["expected_actions"])
        observations = [c["value"] for c in conv if c["from"] == "observation"]
        assert observations == [c["observation"] for c in original["tool_calls"]][: len(observations)]
        # every function_call but a final one (a transfer) is answered by its observation right after it
        for i, c in enumerate(conv[:-1]):
            if c["from"] == "function_call":
                assert conv[i + 1]["from"] == "observation"


def test_grpo_rows_carry_what_the_rewards_need(oracle_run: Path, tmp_path: Path):
    rows = read(export_runs([oracle_run], tmp_path / "r", fmt="grpo").files["train"])
    by_traj: dict[tuple, list[dict]] = {}
    for row in rows:
        by_traj.setdefault((row["task_id"], row["trial"]), []).append(row)
    source = {(r["task_id"], r["trial"]): r for r in lines(oracle_run)}
    for key, turns in by_traj.items():
        original = source[key]
        assert [t["turn"] for t in turns] == list(range(len(turns)))
        replayed: list[dict] = []
        for t in turns:
            assert json.loads(t["prior_calls"]) == replayed
            assert t["prompt"][-1]["role"] in ("user", "tool")
            assert json.loads(t["expected_actions"]) == original["expected_actions"]
            assert t["expected_outputs"] == original["expected_outputs"] and t["domain"] == "retail"
            assert t["data"] is None  # the embedded default database
            replayed = replayed + json.loads(t["reference_calls"])
        assert replayed == _calls(original["expected_actions"])
        last = turns[-1]
        assert (
            json.loads(last["reference_calls"]) or last["reference_text"]
        )  # a final call (transfer) or words


def test_unknown_schema_version_is_refused(run_copy):
    run = run_copy(lambda i, r: {**r, "schema_version": 9} if i == 3 else r)
    with pytest.raises(RecordError, match=r"results\.jsonl:4: schema_version 9 is not supported"):
        load_run(run)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "schema_version": "2"}))
    with pytest.raises(RecordError, match=r"manifest\.json: schema_version '2'"):
        load_run(run)


def test_torn_lines_are_reported_with_file_and_line(run_copy):
    run = run_copy(lambda i, r: r)
    data = (run / "results.jsonl").read_bytes().splitlines(keepends=True)
    (run / "results.jsonl").write_bytes(b"".join(data[:2]) + data[2][:50] + b"\n" + b"".join(data[3:]))
    with pytest.raises(RecordError, match=r"results\.jsonl:3: not a complete JSON object"):
        load_run(run)
    (run / "results.jsonl").write_bytes(b"".join(data[:-1]) + data[-1][:40])
    with pytest.raises(RecordError, match=r"results\.jsonl:12: torn last line"):
        load_run(run)


def test_bad_options_and_empty_exports_fail_clearly(oracle_run: Path, tmp_path: Path):
    with pytest.raises(ExportError, match="--format 'csv'"):
        export_runs([oracle_run], tmp_path / "x", fmt="csv")
    with pytest.raises(ExportError, match="--per-turn applies to --format sft"):
        export_runs([oracle_run], tmp_path / "x", fmt="grpo", per_turn=True)
    with pytest.raises(
        ExportError, match="nothing to export: 12 trajectories read, 12 below --min-reward 2.0"
    ):
        export_runs([oracle_run], tmp_path / "x", fmt="sft", min_reward=2.0)
    with pytest.raises(RecordError, match="not a run directory"):
        export_runs([tmp_path / "nowhere"], tmp_path / "x")


def test_cli_export_and_its_one_line_errors(oracle_run: Path, tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(
        app, ["export", str(oracle_run), "--format", "grpo", "--out", str(out), "--dedupe"]
    )
    assert result.exit_code == 0, result.output
    assert "6 of 12 trajectories kept" in result.output and (out / "train.jsonl").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.jsonl").write_text('{"task_id": "a"}\n{"task_id": \n')
    bad = runner.invoke(app, ["export", str(tmp_path / "bad"), "--out", str(tmp_path / "o")])
    assert bad.exit_code == 2
    assert "results.jsonl:2: not a complete JSON object" in bad.output and "Traceback" not in bad.output


def test_hf_datasets_load_back(oracle_run: Path, tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    export_runs([oracle_run], tmp_path / "h", fmt="sft", hf=True, test_fraction=0.34)
    dd = datasets.load_from_disk(str(tmp_path / "h" / "hf"))
    assert set(dd) == {"train", "test"} and dd["train"].num_rows == 8 and dd["test"].num_rows == 4
    row = dd["train"][0]
    assert json.loads(row["tools"]) == RETAIL.toolbox.openai_schemas()
    assert row["messages"][0]["role"] == "system"
    parquet = datasets.Dataset.from_parquet(str(tmp_path / "h" / "test.parquet"))
    assert parquet.num_rows == 4
