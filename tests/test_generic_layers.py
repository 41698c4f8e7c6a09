"""The generic layers stay generic: no domain's knowledge outside its own package, and a domain that
only follows the contract (the built-in mock help desk) goes through every stage end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain

SRC = Path(__file__).resolve().parents[1] / "src" / "casework"
DOMAIN_PACKAGES = {"retail", "airline", "telecom", "mock"}


def _retail_literals() -> re.Pattern[str]:
    retail = get_domain("retail")
    tools = sorted(set(retail.toolbox.names()) - {"calculate", "think"})  # generic names any domain may use
    tables = [rf"[\"']{t}[\"']" for t in retail.tables]
    return re.compile("|".join([*map(re.escape, tools), *tables, r"#W\d", r"\border_id\b", "online shop"]))


def test_no_retail_tool_table_or_id_format_outside_the_retail_package():
    pattern = _retail_literals()
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).parts
        if parts[0] == "domains" and len(parts) > 2 and parts[1] in DOMAIN_PACKAGES:
            continue  # a domain's own package
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert found == []


def test_mock_domain_generate_validate_oracle_run_report(tmp_path: Path):
    runner = CliRunner()

    def invoke(*args: object):
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    tasks = tmp_path / "tasks.json"
    invoke("generate", "--domain", "mock", "-n", "8", "--seed", "3", "--out", tasks)
    generated = [entry["task"] for entry in json.loads(tasks.read_text())]  # the blueprint layout
    assert len(generated) == 8 and {t["domain"] for t in generated} == {"mock"}
    scenarios = {
        k for t in generated for k in ([t["scenario"]] if isinstance(t["scenario"], str) else t["scenario"])
    }
    assert scenarios == {"ticket_status", "close_ticket", "open_ticket"}
    validated = invoke("tasks", "validate", tasks, "--domain", "mock")
    assert "8/8 tasks valid" in " ".join(validated.output.split())
    run = tmp_path / "run"
    invoke("run", "--tasks", tasks, "--agent", "oracle", "--out", run)  # the file names its domain
    summary = json.loads((run / "summary.json").read_text())
    assert summary["total_simulations"] == 8 and summary["success_rate"] == 1.0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["domain"] == "mock"
    invoke("report", run)
    html = (run / "report.html").read_text()
    assert "ticket" in html and (run / "report.md").exists()
