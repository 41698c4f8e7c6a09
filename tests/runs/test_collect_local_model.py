"""``casework collect`` against the real embedded model over HTTP (marker ``llm``: runs with ``-m llm``
or ``CASEWORK_LLM_TESTS=1``). One task, two attempts, a few agent steps: it checks that the attempt
loop, the grading and collect.json work with a real model, not that the small model succeeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.llm.local import MODEL_NAME
from casework.runs.store import read_results
from casework.tasks import save_tasks

pytestmark = pytest.mark.llm


def test_collect_with_the_embedded_model_over_http(local_model_url: str, tmp_path: Path):
    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 4, seed=3)
    chosen = [t for t in tasks if t.scenario == "order_cancellation"][:1] or tasks[:1]
    tasks_file = tmp_path / "tasks.json"
    save_tasks(chosen, tasks_file)
    models = tmp_path / "models.toml"
    models.write_text(
        f'[agent]\nmodel = "{MODEL_NAME}"\nbase_url = "{local_model_url}"\ntemperature = 0.0\n'
        'max_tokens = 256\ntimeout_s = 600.0\nparse_text_tool_calls = true\nnamed_tool_choice = "emulate"\n'
    )
    out = tmp_path / "collect"
    args = ["collect", "--tasks", str(tasks_file), "--attempts", "2", "--models", str(models)]
    args += ["--max-steps", "2", "--concurrency", "1", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    results = read_results(out)
    collect = json.loads((out / "collect.json").read_text())
    row = collect["tasks"][chosen[0].id]
    trials = sorted(r["trial"] for r in results)
    # stopped at the first success, or used both attempts
    assert trials == ([0] if results[0]["success"] else [0, 1])
    assert row["attempts"] == len(trials) and row["status"] in ("collected", "exhausted")
    assert row["accepted"] == [r["trial"] for r in results if r["success"]][:1]
    for r in results:
        agent_calls = [c for c in r["model_calls"] if c["role"] == "agent"]
        assert len(agent_calls) == r["agent_steps"] >= 1
        assert all(c["prompt_tokens"] > 0 and c["error"] is None for c in agent_calls)
        assert r["collect"]["accepted"] == (r["trial"] in row["accepted"])
    print(
        f"\nembedded model collect: {len(results)} attempt(s), accepted {row['accepted']}, rewards "
        f"{[r['reward'] for r in results]}, agent steps {[r['agent_steps'] for r in results]}, "
        f"terminations {[r['termination_reason'] for r in results]}, "
        f"seconds {[round(r['execution_time'], 1) for r in results]}"
    )
