"""PNG charts of a run's analysis (matplotlib, object-oriented API: no global pyplot state).

Each function takes the plain dicts of :mod:`.analysis` / :mod:`.profile` and writes one PNG. The
files carry no timestamp or software metadata, so the same run gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

SUCCESS = "#2e7d32"
FAILURE = "#c62828"
ACCENT = "#1565c0"
MUTED = "#90a4ae"
DPI = 100


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _style(ax: Any) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(axis="y", color="#e0e0e0", linewidth=0.8)
    ax.set_axisbelow(True)


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color=MUTED, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def dashboard(analysis: dict[str, Any], execution_times: list[float], path: Path) -> Path:
    """2×2: success vs failure, precision/recall/F1 (overall, read, write), execution-time histogram,
    and the action-match heatmap (expected tool × called tool)."""
    fig = Figure(figsize=(13, 9.5), layout="constrained")
    (ax_sf, ax_prf), (ax_time, ax_heat) = fig.subplots(2, 2)
    summary = analysis["summary"]

    ok = summary["success"]["successes"]
    failed = summary["success"]["n"] - ok
    bars = ax_sf.bar(["success", "failure"], [ok, failed], color=[SUCCESS, FAILURE])
    ax_sf.bar_label(bars, labels=[f"{ok}", f"{failed}"])
    ax_sf.set_title(f"Simulations: {ok}/{summary['success']['n']} succeeded")
    ax_sf.set_ylabel("simulations")
    ax_sf.yaxis.set_major_locator(MaxNLocator(integer=True))
    _style(ax_sf)

    prf = analysis["prf"]
    groups = ["overall", "read", "write"]
    metrics = ["precision", "recall", "f1"]
    colours = [ACCENT, "#6a1b9a", "#ef6c00"]
    width = 0.26
    for i, metric in enumerate(metrics):
        values = [prf[g][metric] or 0.0 for g in groups]
        xs = [j + (i - 1) * width for j in range(len(groups))]
        b = ax_prf.bar(xs, values, width, label=metric, color=colours[i])
        ax_prf.bar_label(b, labels=[f"{v:.2f}" for v in values], fontsize=8)
    ax_prf.set_xticks(range(len(groups)), groups)
    ax_prf.set_ylim(0, 1.12)
    ax_prf.set_title("Action precision / recall / F1 (mean per simulation)")
    ax_prf.legend(loc="lower right", fontsize=8)
    _style(ax_prf)

    if execution_times:
        ax_time.hist(
            execution_times, bins=min(20, max(5, len(execution_times))), color=ACCENT, edgecolor="white"
        )
        ax_time.set_xlabel("seconds")
        ax_time.set_ylabel("simulations")
        ax_time.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        _empty(ax_time, "no execution times recorded")
    ax_time.set_title("Execution time per simulation")
    _style(ax_time)

    matrix = analysis["match_matrix"]
    if matrix["rows"] and matrix["cols"]:
        image = ax_heat.imshow(matrix["counts"], cmap="Blues", aspect="auto")
        ax_heat.set_xticks(range(len(matrix["cols"])), matrix["cols"], rotation=45, ha="right", fontsize=8)
        ax_heat.set_yticks(range(len(matrix["rows"])), matrix["rows"], fontsize=8)
        peak = max((max(row) for row in matrix["counts"]), default=0)
        for i, row in enumerate(matrix["counts"]):
            for j, value in enumerate(row):
                if value:
                    colour = "white" if value > peak / 2 else "black"
                    ax_heat.text(j, i, str(value), ha="center", va="center", fontsize=8, color=colour)
        ax_heat.set_xlabel("called tool")
        ax_heat.set_ylabel("expected tool")
        fig.colorbar(image, ax=ax_heat, shrink=0.8)
    else:
        _empty(ax_heat, "no actions")
    ax_heat.set_title("Action match: expected × called")
    return _save(fig, path)


def _rate_bars(ax: Any, rows: list[dict[str, Any]], title: str, xlabel: str) -> None:
    if not rows:
        _empty(ax, "no data")
        ax.set_title(title)
        return
    labels = [f"{r['key']}\n(n={r['simulations']})" for r in rows]
    values = [r["success_rate"] or 0.0 for r in rows]
    # Error bars must not be negative: clip the interval so that low <= value <= high.
    lower = [
        max(0.0, v - (r["success_low"] if r["success_low"] is not None else v))
        for v, r in zip(values, rows, strict=True)
    ]
    upper = [
        max(0.0, (r["success_high"] if r["success_high"] is not None else v) - v)
        for v, r in zip(values, rows, strict=True)
    ]
    ax.bar(labels, values, yerr=[lower, upper], capsize=4, color=ACCENT, ecolor="#37474f")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (95% Wilson)")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=30 if len(labels) > 5 else 0)
    _style(ax)


def success_by_complexity(analysis: dict[str, Any], path: Path) -> Path:
    """Success rate with 95 % intervals per number of expected actions and per read/write mix."""
    fig = Figure(figsize=(13, 4.8), layout="constrained")
    ax_count, ax_mix = fig.subplots(1, 2)
    _rate_bars(
        ax_count,
        analysis["complexity"]["by_action_count"],
        "Success by number of actions",
        "expected actions",
    )
    _rate_bars(ax_mix, analysis["complexity"]["by_rw_mix"], "Success by read/write mix", "reads_writes")
    return _save(fig, path)


def error_categories(analysis: dict[str, Any], path: Path) -> Path:
    """Failed simulations per error category."""
    rows = analysis["errors"]
    fig = Figure(figsize=(8, 0.5 * max(len(rows), 2) + 1.5), layout="constrained")
    ax = fig.subplots()
    if rows:
        labels = [r["category"] for r in rows][::-1]
        counts = [r["count"] for r in rows][::-1]
        bars = ax.barh(labels, counts, color=FAILURE)
        ax.bar_label(bars, padding=3)
        ax.set_xlabel("failed simulations")
    else:
        _empty(ax, "no failures")
    ax.set_title("Error categories")
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    return _save(fig, path)


def latency(calls: list[dict[str, Any]], path: Path) -> Path:
    """Latency distributions (box plots) per model and role."""
    groups: dict[str, list[float]] = {}
    for call in calls:
        if call.get("latency_s") is None:
            continue
        key = f"{call.get('model') or '(unknown)'}\n{call.get('role') or 'agent'}"
        groups.setdefault(key, []).append(float(call["latency_s"]))
    labels = sorted(groups)
    fig = Figure(figsize=(max(6, 2.2 * len(labels) + 2), 4.8), layout="constrained")
    ax = fig.subplots()
    if labels:
        ax.boxplot([groups[k] for k in labels], tick_labels=labels, showmeans=True)
        ax.axhline(5.0, color=MUTED, linestyle="--", linewidth=1)
        ax.set_ylabel("latency (s)")
    else:
        _empty(ax, "no model calls recorded")
    ax.set_title("Model call latency per model and role")
    _style(ax)
    return _save(fig, path)


def comparison(rows: list[dict[str, Any]], path: Path) -> Path:
    """Success rate with 95 % intervals per run."""
    fig = Figure(figsize=(max(6, 2.2 * len(rows) + 2), 4.5), layout="constrained")
    ax = fig.subplots()
    _rate_bars(
        ax,
        [
            {
                "key": r["name"],
                "success_rate": r["success"]["rate"],
                "success_low": r["success"]["low"],
                "success_high": r["success"]["high"],
                "simulations": r["success"]["n"],
            }
            for r in rows
        ],
        "Success rate per run",
        "run",
    )
    return _save(fig, path)


def write_charts(analysis: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """All charts of a report into ``out_dir``; returns ``{name: path}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    times = [float(r["execution_time"]) for r in results if r.get("execution_time") is not None]
    calls = [c for r in results for c in r.get("model_calls") or []]
    charts = {
        "dashboard": dashboard(analysis, times, out_dir / "dashboard.png"),
        "success_by_complexity": success_by_complexity(analysis, out_dir / "success_by_complexity.png"),
        "error_categories": error_categories(analysis, out_dir / "error_categories.png"),
        "latency": latency(calls, out_dir / "latency.png"),
    }
    return charts
