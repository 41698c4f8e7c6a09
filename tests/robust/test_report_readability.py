"""Report readability: the reward explained, times labelled, infrastructure errors apart in comparisons."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.reports import load_run, write_comparison, write_report
from casework.reports.compare import compare
from casework.runs.runner import RunConfig, Runner
from casework.tasks import save_tasks

runner = CliRunner()


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("readable")
    domain = get_domain("retail")
    tasks = base / "tasks.json"
    save_tasks(generate_templated(domain, domain.database(), 4, seed=6), tasks)
    out = base / "run"
    asyncio.run(Runner(RunConfig(tasks=tasks, out=out, agent="oracle")).run())
    return out


def test_report_says_how_the_reward_is_computed_and_labels_times(oracle_run: Path, tmp_path: Path):
    paths = write_report(oracle_run, out_dir=tmp_path / "report")
    markdown = paths.markdown.read_text()
    assert "How success is scored" in markdown and "What it does not check" in markdown
    assert "without identifying the user" in markdown
    page = paths.html.read_text()
    assert 'id="reward-explanation"' in page
    assert "since start" in page and "seconds since the simulation started" in page


def test_compare_shows_infrastructure_errors_apart_and_leaves_them_out_of_the_flip_test(
    oracle_run: Path, tmp_path: Path
):
    broken = tmp_path / "broken"
    shutil.copytree(oracle_run, broken)
    lines = [json.loads(x) for x in (broken / "results.jsonl").read_text().splitlines()]
    victim = lines[0]["task_id"]
    lines[0].update(success=False, reward=0.0, termination_reason="infrastructure_error", error="HTTP 401")
    (broken / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))

    result = compare([load_run(oracle_run), load_run(broken)])
    pair = result["pairs"][0]
    assert pair["flips"] == []  # the infrastructure error is not the model getting worse
    assert pair["left_out_infrastructure"] == [victim]
    assert pair["infrastructure_tasks_b"] == [victim]
    assert [r["infrastructure_errors"] for r in result["runs"]] == [0, 1]

    paths = write_comparison([oracle_run, broken], tmp_path / "cmp")
    page = paths["html"].read_text()
    assert "infrastructure errors" in page and victim in page
    assert "left out of the test" in paths["markdown"].read_text()


def test_generate_and_domain_policy_help_have_examples():
    for args in (["generate", "--help"], ["domain", "policy", "--help"]):
        result = runner.invoke(app, args, terminal_width=200)
        assert result.exit_code == 0
        assert "Example: casework" in result.output, args


def test_demo_table_prints_scenarios_as_text_and_whole_task_ids(tmp_path: Path):
    result = runner.invoke(
        app, ["demo", "--out", str(tmp_path / "demo"), "--run-tasks", "0", "-n", "12"], terminal_width=80
    )
    assert result.exit_code == 0, result.output
    assert "['" not in result.output  # no Python list syntax
    tasks = json.loads((tmp_path / "demo" / "tasks.json").read_text())
    assert any(isinstance(t.get("scenario"), list) for t in tasks), (
        "the sample should hold a multi-intent task"
    )
    for task in tasks:
        assert task["id"] in result.output, task["id"]
