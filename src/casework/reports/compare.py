"""Compare runs side by side, with a paired significance test on per-task success.

**The test.** Two runs are paired by task (only tasks present in both count). A task's success in a
run is its share of successful trials. A task where run A does better than run B is a "+" and the
other way round a "−"; ties carry no information and are dropped. Under the null hypothesis (the
runs are equally good) each untied task is "+" with probability ½, so the two-sided exact sign test
gives ``p = min(1, 2 · Σ_{i ≤ min(n+, n−)} C(n, i) / 2^n)`` with ``n = n+ + n−``. With one trial per
task this is exactly McNemar's exact test on the discordant pairs. Every run is compared with the
first (the baseline).

**Infrastructure errors** (an endpoint that failed after its retries) say nothing about the model:
they are shown apart, per run and per pair, and left out of the test. A task's success share is
taken over its trials without infrastructure errors; a task with no such trial in one of the two
runs is left out of that pair's test (and named).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

from casework.reports.analysis import RunData, mean, rate
from casework.reports.markdown import interval, num, pct, table
from casework.scoring import is_infrastructure_error, pass_k_table, successes_by_task


def infrastructure_errors(run: RunData) -> list[dict[str, Any]]:
    return [r for r in run.results if is_infrastructure_error(r.get("termination_reason"))]


def sign_test(plus: int, minus: int) -> float:
    """Two-sided exact sign test (binomial, p = ½) p-value; 1.0 when there is nothing to compare."""
    n = plus + minus
    if n == 0:
        return 1.0
    tail = Fraction(sum(math.comb(n, i) for i in range(min(plus, minus) + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


def run_row(run: RunData, max_k: int) -> dict[str, Any]:
    counted = run.counted
    per_task = successes_by_task(counted)
    seed = int(run.manifest.get("seed") or 0)
    table_k = pass_k_table(per_task, max_k=max_k, seed=seed) if per_task else {}
    return {
        "name": run.label,
        "dir": str(run.run_dir),
        "tasks": len(per_task),
        "simulations": len(counted),
        "success": rate(sum(bool(r.get("success")) for r in counted), len(counted)),
        "pass_k": [
            {"k": k, "value": p.value, "low": p.wilson_low, "high": p.wilson_high, "n_tasks": p.n_tasks}
            for k, p in table_k.items()
        ],
        "exact_match": rate(sum(bool(r.get("exact_match")) for r in counted), len(counted)),
        "f1": mean(float(r["action_f1"]) for r in counted if r.get("action_f1") is not None),
        "cost_usd": math.fsum(
            c.get("cost_usd") or 0.0 for r in run.results for c in r.get("model_calls") or []
        ),
        "infrastructure_errors": len(infrastructure_errors(run)),
        "infrastructure_excluded": run.exclude_infrastructure,
        "unreadable_lines": list(run.unreadable),
    }


def task_rates(run: RunData) -> dict[str, float]:
    """Per task, the success share over its trials that did not end in infrastructure errors."""
    graded = [r for r in run.counted if not is_infrastructure_error(r.get("termination_reason"))]
    return {str(t): sum(v) / len(v) for t, v in successes_by_task(graded).items()}


def paired(a: RunData, b: RunData) -> dict[str, Any]:
    """The sign test of ``b`` against ``a`` and the tasks whose success differs."""
    ra, rb = task_rates(a), task_rates(b)
    infra_a = sorted({str(r["task_id"]) for r in infrastructure_errors(a)})
    infra_b = sorted({str(r["task_id"]) for r in infrastructure_errors(b)})
    all_a = {str(r["task_id"]) for r in a.results}
    all_b = {str(r["task_id"]) for r in b.results}
    # tasks in both runs that the test cannot use: every trial in one of them was an infrastructure error
    infra_only = sorted((all_a & all_b) - (set(ra) & set(rb)))
    common = sorted(set(ra) & set(rb))
    flips = [{"task_id": t, "a": ra[t], "b": rb[t]} for t in common if ra[t] != rb[t]]
    a_better = sum(1 for f in flips if f["a"] > f["b"])
    b_better = len(flips) - a_better
    return {
        "a": a.label,
        "b": b.label,
        "common_tasks": len(common),
        "only_in_a": sorted(all_a - all_b),
        "only_in_b": sorted(all_b - all_a),
        "infrastructure_tasks_a": infra_a,
        "infrastructure_tasks_b": infra_b,
        "left_out_infrastructure": infra_only,
        "a_better": a_better,
        "b_better": b_better,
        "ties": len(common) - len(flips),
        "p_value": sign_test(a_better, b_better),
        "flips": sorted(
            flips, key=lambda f: (f["b"] > f["a"], -abs(f["b"] - f["a"]), f["task_id"])
        ),  # regressions first
    }


def compare(runs: list[RunData]) -> dict[str, Any]:
    """Rows for every run and the paired tests of each later run against the first."""
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs")
    trials = [max((len(v) for v in successes_by_task(r.counted).values()), default=1) for r in runs]
    max_k = max(1, min(trials))
    return {
        "runs": [run_row(r, max_k) for r in runs],
        "max_k": max_k,
        "pairs": [paired(runs[0], other) for other in runs[1:]],
    }


def render_comparison_markdown(c: dict[str, Any], chart: str | None = None) -> str:
    headers = ["run", "tasks", "simulations", "success", "95% CI"]
    headers += [f"pass^{k}" for k in range(1, c["max_k"] + 1)]
    headers += ["exact match", "F1", "cost", "infrastructure errors"]
    rows = []
    for r in c["runs"]:
        by_k = {p["k"]: p for p in r["pass_k"]}
        rows.append(
            [
                r["name"],
                r["tasks"],
                r["simulations"],
                pct(r["success"]["rate"]),
                interval(r["success"]["low"], r["success"]["high"]),
                *[
                    f"{pct(by_k[k]['value'])} {interval(by_k[k]['low'], by_k[k]['high'])}"
                    if k in by_k
                    else "–"
                    for k in range(1, c["max_k"] + 1)
                ],
                pct(r["exact_match"]["rate"]),
                num(r["f1"], 3),
                f"${r['cost_usd']:.4f}",
                r["infrastructure_errors"],
            ]
        )
    out = ["# Run comparison\n\n", table(headers, rows)]
    for r in c["runs"]:
        if r["unreadable_lines"]:
            out.append(
                f"\n> **Warning:** {len(r['unreadable_lines'])} unreadable line(s) in {r['dir']}/results.jsonl "
                "left out: " + "; ".join(r["unreadable_lines"]) + "\n"
            )
    if any(r["infrastructure_errors"] for r in c["runs"]):
        out.append(
            "\nInfrastructure errors (the endpoint failed after its retries) say nothing about the model: "
            "the paired test below uses only trials without them.\n"
        )
    if chart:
        out.append(f"\n![success per run]({chart})\n")
    for p in c["pairs"]:
        out.append(f"\n## {p['b']} vs {p['a']}\n\n")
        out.append(
            f"{p['common_tasks']} tasks in both runs: {p['b_better']} better in the second, {p['a_better']} better "
            f"in the first, {p['ties']} tied. Exact two-sided sign test (McNemar with one trial per task): "
            f"**p = {p['p_value']:.4g}**"
            + (" (significant at 0.05)" if p["p_value"] < 0.05 else " (not significant at 0.05)")
            + ".\n"
        )
        if p["left_out_infrastructure"] or p["infrastructure_tasks_a"] or p["infrastructure_tasks_b"]:
            out.append(
                f"\nInfrastructure errors: {len(p['infrastructure_tasks_a'])} task(s) in the first run, "
                f"{len(p['infrastructure_tasks_b'])} in the second have trials that ended in them (not "
                f"counted as flips); left out of the test because no trial was graded: "
                f"{', '.join(p['left_out_infrastructure']) or 'none'}.\n"
            )
        if p["only_in_a"] or p["only_in_b"]:
            out.append(
                f"\nTasks in only one run (left out of the test): {len(p['only_in_a'])} only in the first, "
                f"{len(p['only_in_b'])} only in the second.\n"
            )
        out.append("\n**Tasks that flip** (success share per run)\n\n")
        out.append(
            table(
                ["task", "first", "second", "change"],
                [
                    [f["task_id"], pct(f["a"]), pct(f["b"]), f"{100 * (f['b'] - f['a']):+.1f} pts"]
                    for f in p["flips"]
                ],
            )
        )
    return "".join(out)


def write_comparison_files(runs: list[RunData], out_dir: Path) -> dict[str, Path]:
    from casework.reports import charts
    from casework.reports.html import render_comparison_html

    out_dir.mkdir(parents=True, exist_ok=True)
    result = compare(runs)
    chart = charts.comparison(result["runs"], out_dir / "comparison.png")
    md = out_dir / "comparison.md"
    md.write_text(render_comparison_markdown(result, chart.name), encoding="utf-8")
    page = out_dir / "comparison.html"
    page.write_text(render_comparison_html(result, chart), encoding="utf-8")
    return {"markdown": md, "html": page, "chart": chart}
