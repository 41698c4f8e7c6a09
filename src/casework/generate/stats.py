"""Generation statistics: what a task set covers, and what the pipeline that made it went through.

:func:`task_stats` works on any task file (``casework tasks stats``): scenario coverage, action
counts, read/write mixes, tool usage and the action-diversity entropy (Shannon entropy, in bits,
of the tool-name distribution over all ground-truth actions), validation verdicts per stage when
the tasks carry reports, and ``coverage``: for every dimension a domain's scenarios record in
``task.metadata["coverage"]`` (``{dimension: value or list of values}``, e.g. telecom's fault types
and number of faults), how many tasks have each value and their share (a task with several values
counts once for each), with the largest share per dimension. The pipeline adds its own counters (``pipeline``: generated, passed per
stage, failure reasons, iterations used). :func:`format_stats` renders one report as text,
:func:`format_comparison` two or more side by side.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from casework.domains import Domain
from casework.tasks.model import Task


def entropy_bits(counts: Mapping[str, int] | Iterable[int]) -> float:
    """The Shannon entropy (bits) of a distribution given by counts (a mapping's values, or counts)."""
    values = [c for c in (counts.values() if isinstance(counts, Mapping) else counts) if c > 0]
    total = sum(values)
    return -sum(c / total * math.log2(c / total) for c in values) if total else 0.0


def scenario_keys(task: Task) -> list[str]:
    if task.scenario is None:
        return []
    return [task.scenario] if isinstance(task.scenario, str) else list(task.scenario)


def task_stats(tasks: Iterable[Task], domain: Domain | None = None) -> dict[str, Any]:
    """Coverage and diversity of a task set (plain JSON-ready dict, keys sorted where it matters)."""
    from casework.generate.templated import rw_mix

    tasks = list(tasks)
    n = len(tasks)
    scenarios: Counter[str] = Counter()
    tools: Counter[str] = Counter()
    lengths: Counter[int] = Counter()
    mixes: Counter[str] = Counter()
    personas: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    stage_pass: Counter[str] = Counter()
    stage_seen: Counter[str] = Counter()
    multi = valid = reported = 0
    dimensions: dict[str, Counter[str]] = {}
    for task in tasks:
        for dimension, values in (task.metadata.get("coverage") or {}).items():
            listed = values if isinstance(values, list) else [values]
            dimensions.setdefault(str(dimension), Counter()).update(str(v) for v in dict.fromkeys(listed))
        keys = scenario_keys(task)
        scenarios.update(keys or ["(none)"])
        multi += len(keys) > 1
        tools.update(a.name for a in task.actions)
        lengths[len(task.actions)] += 1
        mix = task.metadata.get("rw_mix") or (rw_mix(domain, task.actions) if domain is not None else None)
        if mix:
            mixes[mix] += 1
        if task.persona:
            personas[task.persona] += 1
        methods[str(task.metadata.get("generation_method", "unknown"))] += 1
        report = task.validation_report
        if report is not None:
            reported += 1
            valid += bool(report.valid)
            for stage, result in report.stages.items():
                stage_seen[stage] += 1
                stage_pass[stage] += bool(isinstance(result, Mapping) and result.get("passed"))
    total_actions = sum(tools.values())
    return {
        "tasks": n,
        "actions": total_actions,
        "mean_actions": round(total_actions / n, 3) if n else 0.0,
        "action_entropy_bits": round(entropy_bits(tools), 4),
        "distinct_tools": len(tools),
        "multi_intent_share": round(multi / n, 4) if n else 0.0,
        "scenario_coverage": {
            k: {"tasks": c, "share": round(c / n, 4)} for k, c in sorted(scenarios.items())
        },
        "max_scenario_share": round(max(scenarios.values()) / n, 4) if n else 0.0,
        "action_counts": {str(k): c for k, c in sorted(lengths.items())},
        "rw_mix": dict(sorted(mixes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "tool_usage": dict(sorted(tools.items(), key=lambda kv: (-kv[1], kv[0]))),
        "personas": dict(sorted(personas.items())),
        "methods": dict(sorted(methods.items())),
        "coverage": {
            dimension: {
                "values": {k: {"tasks": c, "share": round(c / n, 4)} for k, c in sorted(counts.items())},
                "max_share": round(max(counts.values()) / n, 4),
            }
            for dimension, counts in sorted(dimensions.items())
        },
        "validated": {
            "with_report": reported,
            "valid": valid,
            "passed_per_stage": {s: f"{stage_pass[s]}/{stage_seen[s]}" for s in stage_seen},
        },
    }


def _lines(stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        ("tasks", str(stats["tasks"])),
        ("actions (mean per task)", f"{stats['actions']} ({stats['mean_actions']})"),
        (
            "action-diversity entropy",
            f"{stats['action_entropy_bits']:.3f} bits over {stats['distinct_tools']} tools",
        ),
        ("multi-intent share", f"{stats['multi_intent_share']:.1%}"),
        ("max scenario share", f"{stats['max_scenario_share']:.1%}"),
    ]
    for key, entry in stats["scenario_coverage"].items():
        rows.append((f"scenario {key}", f"{entry['tasks']} ({entry['share']:.1%})"))
    for dimension, entry in (stats.get("coverage") or {}).items():
        for key, value in entry["values"].items():
            rows.append((f"{dimension} {key}", f"{value['tasks']} ({value['share']:.1%})"))
    rows.append(("action counts", ", ".join(f"{k}:{v}" for k, v in stats["action_counts"].items())))
    rows.append(
        ("read/write mixes (top 8)", ", ".join(f"{k}:{v}" for k, v in list(stats["rw_mix"].items())[:8]))
    )
    for name, count in stats["tool_usage"].items():
        rows.append((f"tool {name}", str(count)))
    validated = stats.get("validated", {})
    if validated.get("with_report"):
        rows.append(("valid (of reported)", f"{validated['valid']}/{validated['with_report']}"))
        for stage, frac in validated["passed_per_stage"].items():
            rows.append((f"passed {stage}", frac))
    pipeline = stats.get("pipeline")
    if pipeline:
        rows.append(("generated (attempts)", str(pipeline["generated"])))
        rows.append(("accepted / rejected", f"{pipeline['accepted']} / {pipeline['rejected']}"))
        for stage, count in pipeline["passed_per_stage"].items():
            rows.append((f"attempts passing {stage}", str(count)))
        rows.append(
            ("iterations used", ", ".join(f"{k}:{v}" for k, v in pipeline["iterations_used"].items()))
        )
        for reason, count in list(pipeline["failure_reasons"].items())[:10]:
            rows.append((f"failure: {reason}", str(count)))
        if pipeline.get("recombined"):
            rows.append(("recombined multi-intent tasks", str(pipeline["recombined"])))
    return rows


def format_stats(stats: Mapping[str, Any]) -> str:
    rows = _lines(stats)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def format_comparison(named: Mapping[str, Mapping[str, Any]]) -> str:
    """Several reports side by side (rows missing from one report show as '-')."""
    per = {name: {k: v[:40] for k, v in _lines(stats)} for name, stats in named.items()}
    keys: list[str] = []
    for rows in per.values():
        keys += [k for k in rows if k not in keys]
    width = max(len(k) for k in keys)
    cols = {name: max(len(name), *(len(v) for v in rows.values())) for name, rows in per.items()}
    header = " " * width + "  " + "  ".join(name.ljust(cols[name]) for name in per)
    lines = [header]
    for key in keys:
        lines.append(key.ljust(width) + "  " + "  ".join(per[n].get(key, "-").ljust(cols[n]) for n in per))
    return "\n".join(lines)
