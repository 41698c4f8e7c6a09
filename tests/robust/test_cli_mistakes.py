"""Ordinary mistakes get one line naming the value and what was expected: no traceback, nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.tasks import save_tasks

runner = CliRunner()


def invoke(*args) -> object:
    # catch_exceptions=False: a traceback fails the test instead of being turned into exit code 1
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *needles: str) -> str:
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    error_lines = [line for line in lines if line.startswith("error:")]
    assert len(error_lines) == 1, text
    for needle in needles:
        assert needle in text, (needle, text)
    return error_lines[0]


@pytest.fixture(scope="module")
def tasks_file(tmp_path_factory) -> Path:
    domain = get_domain("retail")
    path = tmp_path_factory.mktemp("mistakes") / "tasks.json"
    save_tasks(generate_templated(domain, domain.database(), 3, seed=2), path)
    return path


def run_args(tasks_file: Path, out: Path, *extra) -> list:
    return ["run", "--tasks", tasks_file, "--out", out, "--agent", "oracle", *extra]


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--persona", "bogus"], ["bogus", "control"]),
        (["--user", "bogus"], ["--user", "'bogus'", "scripted, llm"]),
        (["--mode", "bogus"], ["--mode", "'bogus'", "interactive"]),
        (["--agent", "bogus"], ["--agent bogus", "tool-calling"]),
        (["--policy", "/missing/policy.md"], ["--policy /missing/policy.md", "no such file"]),
        (["--task-ids", "nope"], ["--task-ids", "'nope'"]),
        (["--fail-under", "speed=3"], ["--fail-under", "success"]),
        (["--domain", "nowhere"], ["unknown domain 'nowhere'"]),
    ],
    ids=["persona", "user", "mode", "agent", "policy", "task-ids", "fail-under", "domain"],
)
def test_bad_run_options_are_one_line_and_leave_no_run_directory(tasks_file, tmp_path, extra, needles):
    out = tmp_path / "run"
    args = run_args(tasks_file, out, *extra)
    if "--agent" in extra:  # a real agent: must be refused before any model starts
        args = ["run", "--tasks", tasks_file, "--out", out, *extra, "--base-url", "http://127.0.0.1:9/v1"]
        args += ["--model", "m"]
    one_line_error(invoke(*args), *needles)
    assert not out.exists(), "a refused run must not leave a run directory behind"
    fixed = invoke(*run_args(tasks_file, out))
    assert fixed.exit_code == 0, fixed.output


def test_domain_tools_with_an_unknown_domain(tmp_path):
    one_line_error(invoke("domain", "tools", "--domain", "nowhere"), "unknown domain 'nowhere'", "retail")
    one_line_error(invoke("domain", "policy", "--domain", "nowhere"), "unknown domain 'nowhere'")


def test_data_generate_into_an_existing_file(tmp_path):
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    one_line_error(
        invoke("data", "generate", "--size", "users=3", "--size", "orders=3", "--out", existing),
        str(existing),
    )


def test_tasks_sample_to_an_unwritable_place(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    target = blocker / "tasks.json"  # a "directory" that is a file
    one_line_error(invoke("tasks", "sample", "-n", "2", "--out", target), str(target))


def test_binary_results_file_names_the_file(tasks_file, tmp_path):
    out = tmp_path / "run"
    assert invoke(*run_args(tasks_file, out)).exit_code == 0
    (out / "results.jsonl").write_bytes(bytes(range(256)) * 8 + b"\n")
    one_line_error(invoke("report", out), str(out / "results.jsonl"), "not a casework results file")
    one_line_error(invoke(*run_args(tasks_file, out, "--resume")), str(out / "results.jsonl"))


def test_models_file_mistakes(tasks_file, tmp_path):
    models = tmp_path / "models.toml"
    models.write_text('[defaults]\ntimeout_s = "soon"\n\n[agent]\nmodel = "m"\n')
    line = one_line_error(invoke(*run_args(tasks_file, tmp_path / "r1", "--models", models)), "defaults")
    assert "agent" not in line.replace("--agent", ""), line
    models.write_text('[agent]\nbase_url = "http://127.0.0.1:9/v1"\n')
    line = one_line_error(invoke("run", "--tasks", tasks_file, "--out", tmp_path / "r2", "--models", models))
    assert "--agent-model" not in line and "--model" in line, line
    assert not (tmp_path / "r2").exists()
    yaml_file = tmp_path / "models.yaml"
    yaml_file.write_text("agent:\n  model: a\n   base_url: [oops\n")
    one_line_error(invoke(*run_args(tasks_file, tmp_path / "r3", "--models", yaml_file)), "line 3")


NO_GROUND_TRUTH = {
    "casework": [{"id": "a", "instruction": "I want a refund.", "scenario": "return", "outputs": []}],
    "blueprint": [{"task": {"id": "a", "q": "I want a refund.", "ogt": []}}],
    "tau2": [{"id": "a", "user_scenario": {"instructions": "I want a refund."}}],
}


@pytest.mark.parametrize("fmt", sorted(NO_GROUND_TRUTH))
def test_tasks_without_ground_truth_fail_validation_and_are_refused_by_run(tmp_path, fmt):
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(NO_GROUND_TRUTH[fmt]))
    result = invoke("tasks", "validate", path)
    assert result.exit_code == 1, result.output
    assert "task a: [format] task: no ground truth" in result.output
    assert "1 without ground truth" in result.output
    out = tmp_path / "run"
    for extra in ([], ["--no-validate"]):
        one_line_error(
            invoke("run", "--tasks", path, "--out", out, "--agent", "oracle", *extra),
            "no ground truth",
            "'a'",
        )
        assert not out.exists()


def test_an_existing_run_directory_is_refused_before_any_model_starts(tasks_file, tmp_path):
    out = tmp_path / "run"
    assert invoke(*run_args(tasks_file, out)).exit_code == 0
    # no endpoint given: without the check the embedded model would be started first
    one_line_error(invoke("run", "--tasks", tasks_file, "--out", out), "already holds a run", "--resume")
    (out / "results.jsonl").write_bytes(b"\x00\xff\xfe" * 100 + b"\n")
    one_line_error(
        invoke("run", "--tasks", tasks_file, "--out", out, "--resume"), "not a casework results file"
    )
