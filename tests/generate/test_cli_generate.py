"""The generate, tasks stats and bench generate commands, end to end on the embedded database."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from casework.cli import app


def test_generate_stats_validate_and_bench(tmp_path):
    runner = CliRunner()
    out = tmp_path / "tasks.json"
    result = runner.invoke(app, ["generate", "--num-tasks", "40", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    assert len(records) == 40 and {"task", "validation_report"} <= set(records[0])
    assert json.loads((tmp_path / "tasks.json.stats.json").read_text())["tasks"] == 40
    stats = runner.invoke(app, ["tasks", "stats", str(out)])
    assert stats.exit_code == 0 and "action-diversity entropy" in stats.output
    valid = runner.invoke(app, ["tasks", "validate", str(out), "--no-user-id-validation"])
    assert valid.exit_code == 0, valid.output
    bench = runner.invoke(app, ["bench", "generate", "-n", "100"])
    assert bench.exit_code == 0 and "validated tasks/s" in bench.output
    compare = runner.invoke(app, ["generate", "compare", "--seeds", "0,1", "-n", "30"])
    assert compare.exit_code == 0 and "seed 1" in compare.output
