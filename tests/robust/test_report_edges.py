"""Reports on edge-case runs: every simulation succeeds, every one fails, one task, one trial."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.reports import write_report
from casework.runs.runner import RunConfig, Runner
from casework.scoring import wilson_interval
from casework.tasks import save_tasks


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 50, 97, 1000])
def test_wilson_interval_contains_the_rate_at_the_extremes(n: int):
    for successes in (0, n):
        low, high = wilson_interval(successes, n)
        rate = successes / n
        assert low <= rate <= high, (successes, n, low, high)


@pytest.fixture(scope="module")
def task_file(tmp_path_factory) -> Path:
    domain = get_domain("retail")
    path = tmp_path_factory.mktemp("edge") / "tasks.json"
    save_tasks(generate_templated(domain, domain.database(), 3, seed=4), path)
    return path


def _oracle_run(task_file: Path, out: Path, **options) -> Path:
    asyncio.run(Runner(RunConfig(tasks=task_file, out=out, agent="oracle", **options)).run())
    return out


def _all_failed(run: Path) -> None:
    lines = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    for r in lines:
        r.update(success=False, reward=0.0, error_category="execution")
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


@pytest.mark.parametrize(
    "case", ["all-success", "all-failure", "single-task", "single-trial", "single-task-all-failure"]
)
def test_report_succeeds_on_edge_case_runs(task_file: Path, tmp_path: Path, case: str):
    options = {"trials": 1 if "single-trial" in case else 2}
    if case.startswith("single-task"):
        first = json.loads(task_file.read_text())[0]["id"]
        options["task_ids"] = [first]
    run = _oracle_run(task_file, tmp_path / "run", **options)
    if "failure" in case:
        _all_failed(run)
    paths = write_report(run)
    assert paths.html.exists() and paths.markdown.exists()
    assert (paths.out_dir / "charts" / "success_by_complexity.png").stat().st_size > 0
    text = paths.markdown.read_text()
    rate = "0.0%" if "failure" in case else "100.0%"
    assert rate in text
