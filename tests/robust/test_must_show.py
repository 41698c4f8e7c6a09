"""The issue's "must show" items, end to end through the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from casework.cli import app

runner = CliRunner()


def test_oracle_run_of_the_dev_tasks_then_report_succeeds(tau_retail_dir: Path, tmp_path: Path):
    out = tmp_path / "oracle"
    tasks = tau_retail_dir / "tasks_dev.json"
    ran = runner.invoke(
        app,
        ["run", "--tasks", str(tasks), "--data", str(tau_retail_dir), "--agent", "oracle", "--out", str(out)],
    )
    assert ran.exit_code == 0, ran.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total_simulations"] == 20 and summary["successful"] == 20  # every simulation succeeds
    reported = runner.invoke(app, ["report", str(out)])
    assert reported.exit_code == 0, reported.output
    assert (out / "report.html").exists() and (out / "charts" / "success_by_complexity.png").exists()
