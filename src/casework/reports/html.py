"""``report.html`` and ``comparison.html``: self-contained pages (charts inlined, no network).

Rendered with jinja2 with autoescaping on for every template, so model and user text (which can
contain anything, ``<script>`` included) is always shown as text. The trajectory viewer's filters
read ``data-*`` attributes; no run data is ever placed inside a ``<script>`` element.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from casework.reports.markdown import interval, num, pct


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("casework.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=pct, num=num, interval=interval)
    return env


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _messages(result: dict[str, Any]) -> list[dict[str, Any]]:
    times = result.get("message_times") or []
    out = []
    for i, m in enumerate(result.get("messages") or []):
        content = m.get("content")
        if isinstance(content, list):  # content parts
            content = "\n".join(str(p.get("text", p)) if isinstance(p, dict) else str(p) for p in content)
        out.append(
            {
                "role": m.get("role", "?"),
                "name": m.get("name") or "",
                "content": "" if content is None else str(content),
                "time": times[i] if i < len(times) else None,
                "tool_calls": [
                    {
                        "name": (c.get("function") or {}).get("name", c.get("name", "?")),
                        "arguments": _arguments(
                            (c.get("function") or {}).get("arguments", c.get("arguments", {}))
                        ),
                    }
                    for c in m.get("tool_calls") or []
                ],
            }
        )
    return out


def _actions(result: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    matched = (result.get("action_metrics") or {}).get("matched") or []
    by_expected = {e: c for e, c in matched}
    by_called = {c: e for e, c in matched}
    expected = [
        {"name": a["name"], "arguments": _arguments(a.get("arguments", {})), "match": by_expected.get(i)}
        for i, a in enumerate(result.get("expected_actions") or [])
    ]
    called = [
        {
            "name": c["name"],
            "arguments": _arguments(c.get("arguments", {})),
            "observation": str(c.get("observation") or ""),
            "error": bool(c.get("error")),
            "match": by_called.get(i),
        }
        for i, c in enumerate(result.get("tool_calls") or [])
    ]
    return expected, called


def trajectory_views(results: list[dict[str, Any]], instructions: dict[str, str]) -> list[dict[str, Any]]:
    """What the viewer shows for each simulation (task, trial order)."""
    from casework.reports.analysis import scenario_label

    views = []
    for r in results:
        expected, called = _actions(r)
        views.append(
            {
                "anchor": f"t-{r['task_id']}-{r.get('trial', 0)}",
                "task_id": str(r["task_id"]),
                "trial": r.get("trial", 0),
                "success": bool(r.get("success")),
                "scenario": scenario_label(r.get("scenario")),
                "category": str(r.get("error_category") or "none"),
                "detail": r.get("error_detail") or "",
                "persona": r.get("persona") or "",
                "termination": r.get("termination_reason") or "",
                "error": r.get("error") or "",
                "instruction": instructions.get(str(r["task_id"]), ""),
                "scores": [
                    ("reward", num(r.get("reward"), 3)),
                    ("database match", "yes" if r.get("db_match") else "no"),
                    ("outputs match", "yes" if r.get("outputs_match") else "no"),
                    ("precision", num(r.get("action_precision"), 3)),
                    ("recall", num(r.get("action_recall"), 3)),
                    ("F1", num(r.get("action_f1"), 3)),
                    ("exact match", "yes" if r.get("exact_match") else "no"),
                    ("shaped reward", num(r.get("shaped_reward_normalized"), 3)),
                    ("agent steps", r.get("agent_steps", "–")),
                    ("tool errors", r.get("tool_errors", "–")),
                    ("time (s)", num(r.get("execution_time"), 2)),
                ],
                "expected_outputs": [str(o) for o in r.get("expected_outputs") or []],
                "outputs_found": list(r.get("outputs_found") or []),
                "expected": expected,
                "called": called,
                "messages": _messages(r),
            }
        )
    return views


def render_report_html(
    analysis: dict[str, Any],
    profile: dict[str, Any],
    charts: dict[str, Path],
    results: list[dict[str, Any]],
    instructions: dict[str, str] | None = None,
    studies: str = "",
) -> str:
    views = trajectory_views(results, instructions or {})
    return (
        environment()
        .get_template("report.html.jinja")
        .render(
            a=analysis,
            s=analysis["summary"],
            profile=profile,
            charts={name: data_uri(path) for name, path in charts.items()},
            trajectories=views,
            scenarios=sorted({v["scenario"] for v in views}),
            categories=sorted({v["category"] for v in views}),
            personas=sorted({v["persona"] for v in views if v["persona"]}),
            studies=studies,
        )
    )


def render_comparison_html(comparison: dict[str, Any], chart: Path | None) -> str:
    return (
        environment()
        .get_template("compare.html.jinja")
        .render(c=comparison, chart=data_uri(chart) if chart is not None else None)
    )
