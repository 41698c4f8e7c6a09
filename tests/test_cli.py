"""The command line, end to end on real files."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app

runner = CliRunner()


def invoke(*args: str) -> object:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def sample_tasks(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tasks") / "tasks.json"
    # state-only: `run --agent oracle` below must not start the embedded model as the judge
    result = invoke("tasks", "sample", "-n", "6", "--seed", "2", "--refusals", "state-only", "--out", path)
    assert result.exit_code == 0, result.output
    return path


def test_help_lists_the_commands():
    result = invoke("--help")
    listed = set(re.findall(r"^│ (\w[\w-]*) ", result.output, flags=re.M))
    expected = {
        "data",
        "tasks",
        "domain",
        "bench",
        "run",
        "collect",
        "demo",
        "generate",
        "report",
        "compare",
        "perturb",
    }
    assert expected <= listed, sorted(listed)


def test_domain_tools_json_is_the_openai_schema():
    result = invoke("domain", "tools", "--json")
    schemas = json.loads(result.output)
    assert len(schemas) == 16
    assert {s["function"]["name"] for s in schemas} >= {"cancel_pending_order", "calculate", "think"}


def test_data_generate_is_deterministic(tmp_path: Path):
    for name in ("a", "b"):
        result = invoke(
            "data",
            "generate",
            "--seed",
            "5",
            "--size",
            "users=30",
            "--size",
            "orders=60",
            "--size",
            "products=10",
            "--out",
            tmp_path / name,
        )
        assert result.exit_code == 0, result.output
    from casework.domains.retail.generator import generate_retail

    tables = generate_retail(seed=5, users=30, orders=60, products=10)
    for table in ("users", "orders", "products"):
        produced = (tmp_path / "a" / f"{table}.json").read_bytes()
        assert produced == (tmp_path / "b" / f"{table}.json").read_bytes()
        # tau-bench's layout: exactly json.dumps(table, indent=2) and a newline
        assert produced == (json.dumps(tables[table], indent=2) + "\n").encode("ascii")
    # The generated directory loads back as --data and validates sampled tasks against it.
    tasks = tmp_path / "t.json"
    assert invoke("tasks", "sample", "-n", "4", "--data", tmp_path / "a", "--out", tasks).exit_code == 0
    assert invoke("tasks", "validate", tasks, "--data", tmp_path / "a").exit_code == 0


def test_replay_reproduces_tau_bench_hashes_and_dumps_states(tau_retail_dir: Path, tmp_path: Path):
    out = tmp_path / "replay.jsonl"
    states = tmp_path / "states"
    result = invoke(
        "tasks",
        "replay",
        tau_retail_dir / "tasks_dev.json",
        "--data",
        tau_retail_dir,
        "--out",
        out,
        "--dump-states",
        states,
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    expected = json.loads((tau_retail_dir / "expected_replay_dev.json").read_text())
    assert [line["id"] for line in lines] == [e["id"] for e in expected]
    for n, (line, exp) in enumerate(zip(lines, expected, strict=True)):
        assert line["final_state_sha256"] == exp["final_state_sha256"]
        assert line["errors"] == exp["error_observations"]
        dumped = (states / f"{n}.json").read_bytes()
        canonical = json.dumps(json.loads(dumped), sort_keys=True, separators=(",", ":")).encode()
        assert hashlib.sha256(canonical).hexdigest() == exp["final_state_sha256"]
        assert set(line) == {"id", "observations", "errors", "final_state_sha256", "diff"}
    first = lines[0]
    assert any(c["path"] == ".status" and c["new"] == "cancelled" for c in first["diff"])


def test_validate_flags_bad_tasks_with_one_line_per_problem(tmp_path: Path, sample_tasks: Path):
    tasks = json.loads(sample_tasks.read_text())
    tasks[0]["actions"].append({"name": "fly_to_moon", "arguments": {}})
    tasks[1]["actions"][-1]["arguments"]["order_id"] = "#W0000000"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(tasks))
    result = invoke("tasks", "validate", broken)
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("task ")]
    assert any("[format]" in line and "fly_to_moon" in line for line in lines)
    assert any(tasks[1]["id"] in line and "#W0000000" in line for line in lines)


def test_validate_reports_a_malformed_file_clearly(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "x", "instruction": "hi", "actions": [{"name": 3}]}]')
    result = invoke("tasks", "validate", bad)
    assert result.exit_code == 2
    assert "bad.json" in result.output and "task 0" in result.output


def test_missing_data_directory_is_a_clear_error(tmp_path: Path, sample_tasks: Path):
    result = invoke("tasks", "validate", sample_tasks, "--data", tmp_path)
    assert result.exit_code == 2
    assert "users.json" in result.output


def test_convert_round_trip_through_tau2(tmp_path: Path, sample_tasks: Path):
    tau2 = tmp_path / "t.tau2.json"
    assert invoke("tasks", "convert", sample_tasks, tau2, "--to", "tau2").exit_code == 0
    back = tmp_path / "back.json"
    assert invoke("tasks", "convert", tau2, back).exit_code == 0
    original = json.loads(sample_tasks.read_text())
    again = json.loads(back.read_text())
    assert [(t["id"], t["instruction"], t["actions"]) for t in original] == [
        (t["id"], t["instruction"], t["actions"]) for t in again
    ]


def test_bench_replay_ends_with_the_summary_line(sample_tasks: Path):
    result = invoke("bench", "replay", "--tasks", sample_tasks, "--forks", "50", "--repeats", "1")
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"replay: median [\d.]+ ms/task, p95 [\d.]+ ms/task over 6 tasks", last), last


def test_run_with_the_oracle_agent_writes_a_run_directory(tmp_path: Path, sample_tasks: Path):
    out = tmp_path / "run"
    result = invoke("run", "--tasks", sample_tasks, "--agent", "oracle", "--trials", "2", "--out", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total_simulations"] == 12 and summary["success_rate"] == 1.0
    assert summary["pass_k"]["2"]["value"] == 1.0
    again = invoke("run", "--tasks", sample_tasks, "--agent", "oracle", "--trials", "2", "--out", out)
    assert again.exit_code == 2 and "--resume" in again.output


def test_run_dry_run_renders_the_prompt_without_a_model(sample_tasks: Path, tmp_path: Path):
    result = invoke(
        "run",
        "--tasks",
        sample_tasks,
        "--dry-run",
        "--model",
        "gpt-x",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--out",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.output
    assert "Policy" in result.output and "estimated_prompt_tokens" in result.output
    assert not (tmp_path / "r").exists()


def test_demo_runs_on_the_embedded_defaults(tmp_path: Path):
    result = invoke("demo", "--out", tmp_path / "demo", "-n", "4", "--run-tasks", "0")
    assert result.exit_code == 0, result.output
    assert "4/4 tasks valid" in result.output
    assert (tmp_path / "demo" / "tasks.json").exists()


@pytest.mark.llm
def test_demo_starts_the_embedded_model_runs_and_reports(tmp_path: Path, request):
    """What `make demo` does: no endpoint configured, so the embedded local model is started."""
    from casework.llm.local import local_extra_missing

    if not (
        request.config.getoption("markexpr") == "llm"
        or __import__("os").environ.get("CASEWORK_LLM_TESTS") == "1"
    ):
        pytest.skip("real-model test: run with -m llm or CASEWORK_LLM_TESTS=1")
    if reason := local_extra_missing():
        pytest.skip(reason)
    result = invoke("demo", "--out", tmp_path / "demo", "-n", "4", "--run-tasks", "1")
    assert result.exit_code == 0, result.output
    assert "embedded local model at http://127.0.0.1:" in result.output
    run_dir = tmp_path / "demo" / "run"
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["agent_endpoint"] == {"model": "embedded-local"}
    assert (run_dir / "report.html").exists() and "report: " in result.output
