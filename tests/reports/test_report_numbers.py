"""Every number of the report, cross-checked against an independent computation on the hand-made run.

The expected values are either known by construction (see ``conftest.py``) or recomputed here from
the raw result lines with different code (brute-force subsets for pass^k, numpy for percentiles).
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from casework.reports import analyze, load_run
from casework.reports.profile import latency_profile

from .conftest import SCRIPT, TASKS, build_results, write_run


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def brute_pass_k(per_task: dict[str, list[bool]], k: int) -> float:
    """pass^k as the share of k-subsets of each task's trials that all succeeded, averaged over tasks."""
    values = []
    for trials in per_task.values():
        subsets = list(itertools.combinations(trials, k))
        values.append(sum(all(s) for s in subsets) / len(subsets))
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def analysis(report_dir: Path) -> dict:
    return analyze(load_run(report_dir))


def test_summary_matches_independent_computation(analysis: dict, results: list[dict]):
    s = analysis["summary"]
    assert (s["tasks"], s["simulations"]) == (4, 8)
    assert (s["success"]["successes"], s["success"]["n"]) == (4, 8)
    assert s["success"]["rate"] == 0.5
    assert (s["success"]["low"], s["success"]["high"]) == pytest.approx(wilson(4, 8), abs=1e-6)
    assert (s["exact_match"]["successes"], s["exact_match"]["n"]) == (5, 8)
    per_task: dict[str, list[bool]] = {}
    for r in results:
        per_task.setdefault(r["task_id"], []).append(r["success"])
    assert [p["k"] for p in s["pass_k"]] == [1, 2]
    for p in s["pass_k"]:
        assert p["value"] == pytest.approx(brute_pass_k(per_task, p["k"]))
        assert (p["wilson_low"], p["wilson_high"]) == pytest.approx(
            wilson_fractional(p["value"], 4), abs=1e-6
        )
        assert p["bootstrap_low"] <= p["value"] <= p["bootstrap_high"]
    assert s["pass_k"][0]["value"] == 0.5 and s["pass_k"][1]["value"] == 0.25  # by construction
    names = [
        a["name"]
        for t in ("T1", "T2", "T3", "T4")
        for a in next(r for r in results if r["task_id"] == t)["expected_actions"]
    ]
    assert s["avg_expected_actions_per_task"] == pytest.approx(len(names) / 4) == 3.0
    assert s["avg_tool_calls_per_simulation"] == pytest.approx(
        statistics.fmean(len(r["tool_calls"]) for r in results)
    )
    assert s["tool_diversity_expected"] == len(set(names)) == 8
    counts = Counter(names)
    entropy = sum(c / len(names) * math.log(len(names) / c, 2) for c in counts.values())
    assert s["action_entropy_bits"] == pytest.approx(entropy)
    assert s["termination_reasons"] == {"agent_stop": 7, "max_errors": 1}
    assert s["cost_usd"] == pytest.approx(sum(c["cost_usd"] for r in results for c in r["model_calls"]))


def wilson_fractional(p: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _by_key(rows: list[dict]) -> dict:
    return {
        r["key"]: (r["success_successes"], r["simulations"], r["tasks"], r["exact_match_rate"]) for r in rows
    }


def test_task_set_complexity_and_patterns(analysis: dict):
    ts = analysis["task_set"]
    assert ts["action_count_distribution"] == {2: 1, 3: 2, 4: 1}
    assert ts["rw_mix_distribution"] == {"r2_w1": 2, "r2_w0": 1, "r2_w2": 1}
    assert ts["scenario_coverage"] == {"cancel": 1, "exchange + address": 1, "info": 1, "return": 1}
    by_count = _by_key(analysis["complexity"]["by_action_count"])
    assert by_count == {2: (1, 2, 1, 1.0), 3: (3, 4, 2, 0.75), 4: (0, 2, 1, 0.0)}
    assert _by_key(analysis["complexity"]["by_rw_mix"]) == {
        "r2_w0": (1, 2, 1, 1.0),
        "r2_w1": (3, 4, 2, 0.75),
        "r2_w2": (0, 2, 1, 0.0),
    }
    for row in analysis["complexity"]["by_action_count"]:
        assert (row["success_low"], row["success_high"]) == pytest.approx(
            wilson_fractional(row["success_rate"], row["simulations"]), abs=1e-6
        )
    patterns = analysis["patterns"]
    assert patterns["patterns"] == 4
    assert patterns["most_successful"][0]["key"].startswith("find_user_id_by_name_zip")
    assert patterns["most_successful"][0]["success_rate"] == 1.0
    assert patterns["least_successful"][0]["key"].endswith("modify_user_address")
    assert patterns["least_successful"][0]["success_rate"] == 0.0


def test_errors_tools_prf_timing_personas(analysis: dict, results: list[dict]):
    errors = {
        e["category"]: (e["count"], e["example_task_id"], e["example_trial"]) for e in analysis["errors"]
    }
    assert errors == {
        "parameter": (1, "T1", 1),
        "outputs": (1, "T3", 0),
        "execution": (1, "T4", 0),
        "action_sequence": (1, "T4", 1),
    }
    assert sum(e["share_of_failures"] for e in analysis["errors"]) == pytest.approx(1.0)

    tools = {t["tool"]: t for t in analysis["tools"]}
    assert (tools["find_user_id_by_email"]["expected"], tools["find_user_id_by_email"]["called"]) == (6, 6)
    assert tools["exchange_delivered_order_items"]["call_errors"] == 1
    assert tools["exchange_delivered_order_items"]["recall"] == 0.0
    assert tools["modify_user_address"]["recall"] == 0.5
    assert tools["cancel_pending_order"]["success_when_expected"] == 0.5
    assert tools["get_order_details"]["kind"] == "read" and tools["cancel_pending_order"]["kind"] == "write"

    prf = analysis["prf"]
    for metric in ("precision", "recall", "f1"):
        assert prf["overall"][metric] == pytest.approx(
            statistics.fmean(r[f"action_{metric}"] for r in results)
        )
        for kind in ("read", "write"):
            expected = statistics.fmean(r["action_metrics"][kind][metric] for r in results)
            assert prf[kind][metric] == pytest.approx(expected)

    for name in ("execution_time", "model_response_time", "tool_execution_time"):
        values = np.array([r[name] for r in results])
        d = analysis["timing"][name]
        assert d["mean"] == pytest.approx(values.mean())
        for q in (50, 90, 99):
            assert d[f"p{q}"] == pytest.approx(np.percentile(values, q))
        assert d["total"] == pytest.approx(values.sum())

    personas = {p["key"]: (p["success_successes"], p["simulations"]) for p in analysis["personas"]}
    assert personas == {"control": (3, 4), "anger": (1, 4)}

    matrix = analysis["match_matrix"]
    cell = dict(
        ((row, col), matrix["counts"][i][j])
        for i, row in enumerate(matrix["rows"])
        for j, col in enumerate(matrix["cols"])
    )
    assert cell[("find_user_id_by_email", "find_user_id_by_email")] == 6
    assert cell[("exchange_delivered_order_items", "(missing)")] == 2
    assert cell[("(extra)", "cancel_pending_order")] == 1


def test_latency_profile_matches_numpy(report_dir: Path, results: list[dict]):
    profile = json.loads((report_dir / "profile.json").read_text())
    assert profile == json.loads(json.dumps(latency_profile(results)))
    groups = {(g["model"], g["role"]): g for g in profile["groups"]}
    assert set(groups) == {("agent-model", "agent"), ("user-model", "user")}
    for (model, role), g in groups.items():
        calls = [c for r in results for c in r["model_calls"] if (c["model"], c["role"]) == (model, role)]
        latency = np.array([c["latency_s"] for c in calls])
        assert g["calls"] == len(calls)
        for q in (50, 90, 99):
            assert g["latency_s"][f"p{q}"] == pytest.approx(np.percentile(latency, q))
        assert g["share_under_5s"] == pytest.approx(float((latency < 5).mean()))
        assert g["prompt_tokens"] == sum(c["prompt_tokens"] for c in calls)
        assert g["cached_tokens"] == sum(c["cached_tokens"] for c in calls)
        assert g["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls))
        assert g["retries"] == sum(c["retries"] for c in calls)
        assert g["errors"] == sum(1 for c in calls if c["error"])
    agent = groups[("agent-model", "agent")]
    ttft = np.array([c["ttft_s"] for r in results for c in r["model_calls"] if c["role"] == "agent"])
    assert agent["ttft_s"]["p90"] == pytest.approx(np.percentile(ttft, 90))
    assert (agent["retries"], agent["errors"]) == (1, 1)
    assert groups[("user-model", "user")]["ttft_s"]["p50"] is None  # no TTFT recorded


def test_markdown_shows_the_computed_numbers(report_dir: Path, analysis: dict):
    md = (report_dir / "report.md").read_text()
    low, high = wilson(4, 8)
    assert f"50.0% (4/8), 95% CI [{100 * low:.1f}%, {100 * high:.1f}%]" in md
    assert "62.5% (5/8)" in md
    assert "| pass^2 | 25.0% |" in md
    assert f"{analysis['summary']['action_entropy_bits']:.3f} bits" in md
    for category, task, trial in (("parameter", "T1", 1), ("outputs", "T3", 0), ("execution", "T4", 0)):
        assert f"| {category} | 1 | 25.0% | {task} (trial {trial}) |" in md
    assert "| control | 3 | 4 | 75.0% |" in md and "| anger | 3 | 4 | 25.0% |" in md
    assert "| r2_w2 | 1 | 2 | 0.0% |" in md
    for section in (
        "Executive summary",
        "Task set",
        "Performance by complexity",
        "Action-sequence patterns",
        "Tool usage",
        "Error categories",
        "Precision / recall / F1",
        "Timing",
        "By persona",
        "Latency profile",
    ):
        assert f"## {section}" in md
    for chart in ("dashboard", "success_by_complexity", "error_categories", "latency"):
        assert f"(charts/{chart}.png)" in md


def test_charts_are_valid_pngs(report_dir: Path):
    from PIL import Image

    names = sorted(p.name for p in (report_dir / "charts").glob("*.png"))
    assert names == ["dashboard.png", "error_categories.png", "latency.png", "success_by_complexity.png"]
    for name in names:
        data = (report_dir / "charts" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 400 and height >= 200
        with Image.open(report_dir / "charts" / name) as image:
            image.verify()


def test_html_is_self_contained_and_escapes_text(report_dir: Path):
    page = (report_dir / "report.html").read_text()
    assert "<script>document.title" not in page and "<script>alert(1)" not in page
    assert (
        "&lt;script&gt;document.title=&#39;XSS&#39;&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        in page
    )
    assert page.count("<script>") == 1  # only the viewer's own filter code
    assert page.count('src="data:image/png;base64,') == 4
    assert "http://" not in page and "https://" not in page and "<link" not in page


def test_task_file_adds_unrun_tasks_and_instructions(tmp_path: Path, results: list[dict]):
    from casework.tasks import save_tasks
    from casework.tasks.model import Action, Task

    run = write_run(tmp_path / "run", results)
    tasks = [
        Task(
            id=t,
            instruction=f"Instruction of {t} <b>",
            actions=[Action(name=n, arguments=a) for n, a in spec["actions"]],
        )
        for t, spec in TASKS.items()
    ]
    tasks.append(
        Task(id="T5", instruction="never run", actions=[Action(name="think", arguments={"thought": "x"})])
    )
    save_tasks(tasks, tmp_path / "tasks.json")
    analysis = analyze(load_run(run, tmp_path / "tasks.json"))
    assert analysis["task_set"]["source"] == "task file"
    assert (analysis["task_set"]["tasks"], analysis["task_set"]["tasks_run"]) == (5, 4)
    assert analysis["task_set"]["rw_mix_distribution"]["r0_w0"] == 1
    assert analysis["summary"]["tasks"] == 4  # rates only over what was run


def test_cli_report_and_compare(tmp_path: Path, results: list[dict]):
    from casework.cli import app

    run_a = write_run(tmp_path / "a", results)
    better = build_results()
    for r in better:
        r["success"], r["reward"] = True, 1.0
    run_b = write_run(tmp_path / "b", better)
    runner = CliRunner()
    out = runner.invoke(app, ["report", str(run_a), "--out", str(tmp_path / "rep")])
    assert out.exit_code == 0, out.output
    assert {"report.md", "report.html", "profile.json", "charts"} <= {
        p.name for p in (tmp_path / "rep").iterdir()
    }
    out = runner.invoke(app, ["compare", str(run_a), str(run_b), "--out", str(tmp_path / "cmp")])
    assert out.exit_code == 0, out.output
    assert "comparison.md" in out.output
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "3 better in the second, 0 better in the first, 1 tied" in md
    assert "p = 0.25" in md  # exact sign test: 2 · (1/2)^3
    missing = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "results.jsonl" in missing.output


def test_script_text_is_in_fixture():
    assert any(SCRIPT in (m.get("content") or "") for r in build_results() for m in r["messages"])
