"""A real oracle run to export: 6 templated tasks x 2 trials with the scripted user (about a second)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.runs.runner import RunConfig, Runner
from casework.tasks import load_tasks, save_tasks


@pytest.fixture(scope="session")
def oracle_run(tmp_path_factory, conversation_judge) -> Path:
    """An oracle run directory (every trajectory earns reward 1; both trials of a task are identical)."""
    root = tmp_path_factory.mktemp("oracle")
    domain = get_domain("retail")
    save_tasks(generate_templated(domain, domain.database(), 6, seed=1), root / "tasks.json")
    config = RunConfig(tasks=root / "tasks.json", out=root / "run", agent="oracle", trials=2, concurrency=2)
    asyncio.run(Runner(config, judge_llm=conversation_judge()).run())  # judges the grounded refusals
    return root / "run"


@pytest.fixture(scope="session")
def oracle_tasks(oracle_run: Path):
    return load_tasks(oracle_run.parent / "tasks.json")


def lines(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]


@pytest.fixture
def run_copy(oracle_run: Path, tmp_path: Path):
    """A writable copy of the oracle run; ``edit(fn)`` rewrites its result lines."""
    target = tmp_path / "run"
    shutil.copytree(oracle_run, target)

    def edit(fn) -> Path:
        rows = [fn(i, r) for i, r in enumerate(lines(target))]
        (target / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows if r is not None))
        return target

    edit.path = target  # type: ignore[attr-defined]
    return edit
