"""`casework regrade` and `--split` from the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from casework.cli import app
from casework.runs.runner import RunConfig, Runner

cli = CliRunner()
#: a judge endpoint nothing listens on: any call to it would fail the test
DEAD_JUDGE = ("--judge-model", "scripted-judge", "--judge-base-url", "http://127.0.0.1:9/v1")


def invoke(*args) -> object:
    return cli.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_regrade_cli_uses_the_cache_and_reports_changes(
    tau3_retail_dir: Path, tmp_path: Path, scripted_judge
):
    records = json.loads((tau3_retail_dir / "tasks_train.json").read_text())
    picked = [r for r in records if r["evaluation_criteria"]["nl_assertions"]][:3]
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(picked))
    out = tmp_path / "run"
    config = RunConfig(tasks=tasks, out=out, data=tau3_retail_dir / "db.json", agent="oracle")
    asyncio.run(Runner(config, judge_llm=scripted_judge()).run())

    result = invoke("regrade", out, "--out", tmp_path / "again", *DEAD_JUDGE)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "regraded 3 simulations: 0 rewards and 0 of" in text and "judge calls 0" in text

    picked[1]["evaluation_criteria"]["reward_basis"] = ["DB", "COMMUNICATE"]
    picked[1]["evaluation_criteria"]["communicate_info"] = ["never said"]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(picked))
    result = invoke("regrade", out, "--tasks", edited, *DEAD_JUDGE)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        f"task {picked[1]['id']} trial 0: reward 1.0 -> 0.0" in text
        and "regraded 3 simulations: 1 rewards" in text
    )
    assert (out / "results.regraded.jsonl").exists()

    result = invoke("regrade", tmp_path / "nowhere")
    assert result.exit_code == 2 and "no manifest.json" in " ".join(result.output.split())


def test_split_option(tau3_retail_dir: Path, tmp_path: Path):
    tasks = tau3_retail_dir / "tasks_train.json"
    result = invoke("tasks", "stats", tasks, "--split", "train", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["tasks"] == 74
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "tasks.json").write_text(tasks.read_text())
    (mine / "split_tasks.json").write_text(json.dumps({"train": ["0", "1", "5000"], "test": ["2"]}))
    result = invoke("tasks", "stats", mine / "tasks.json", "--split", "train", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["tasks"] == 2
    result = invoke("tasks", "stats", tasks, "--split", "dev")
    assert result.exit_code == 2 and "no split 'dev'" in result.output
    result = invoke("run", "--tasks", tasks, "--split", "test", "--agent", "oracle", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "split 'test'" in " ".join(result.output.split())


def test_run_with_a_judge_endpoint_then_regrade_with_the_runs_judge(tau3_retail_dir: Path, tmp_path: Path):
    from llm.fake_server import FakeServer, chat_json, sse_chunks

    verdict = json.dumps({"reasoning": "the agent did it", "met": True})

    def answer(body: dict) -> dict:
        assert (
            body["messages"][0]["role"] == "system" and "Expected outcome:" in body["messages"][1]["content"]
        )
        return {"sse": sse_chunks([verdict])} if body.get("stream") else {"json": chat_json(verdict)}

    records = json.loads((tau3_retail_dir / "tasks_train.json").read_text())
    picked = [r for r in records if r["evaluation_criteria"]["nl_assertions"]][:2]
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(picked))
    out = tmp_path / "run"
    with FakeServer(responder=answer) as server:
        result = invoke(
            "run", "--tasks", tasks, "--data", tau3_retail_dir / "db.json", "--agent", "oracle",
            "--out", out, "--judge-model", "fake-model", "--judge-base-url", server.base_url,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        asked = len([r for r in server.requests if r["method"] == "POST"])
    assert "embedded 0.5B" not in result.output  # the warning is for the embedded judge only
    assertions = sum(len(r["evaluation_criteria"]["nl_assertions"]) for r in picked)
    assert asked == assertions
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["judge_endpoint"]["model"] == "fake-model"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["components"]["NL_ASSERTION"] == {
        "evaluated": 2, "passed": 2, "not_evaluated": 0, "judge_error": 0, "pass_rate": 1.0,
    }  # fmt: skip
    assert summary["tokens"]["judge_prompt_tokens"] > 0
    # the server is gone: regrade defaults to the run's judge and finds every verdict in the cache
    result = invoke("regrade", out)
    assert result.exit_code == 0, result.output
    assert "0 rewards and 0 of" in " ".join(result.output.split())
