"""Analyses of a run directory: pure computations from ``results.jsonl`` into plain, JSON-ready dicts.

Everything the reports show is computed here, once, from the run's own records; the renderers
(:mod:`.markdown`, :mod:`.html`, :mod:`.charts`) only format these numbers.

Conventions
- A *simulation* is one (task, trial) result line. Rates "per simulation" divide by simulations;
  pass^k is per task (see :mod:`casework.scoring.metrics`).
- Rates come with a 95 % Wilson interval (:func:`casework.scoring.wilson_interval`).
- Infrastructure failures count as failures, unless the run was made with
  ``exclude_infrastructure`` (as its ``summary.json`` does); the report says which.
- A task's *complexity* is its number of ground-truth actions, and its *read/write mix* is
  ``r{reads}_w{writes}`` (generic tools such as ``think`` are left out of the mix).
- Percentiles use linear interpolation between order statistics (numpy's default method).
- The *action-diversity entropy* is the Shannon entropy, in bits, of the tool names of all
  ground-truth actions of the task set.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from casework.generate.stats import entropy_bits
from casework.runs.records import RecordError, SimulationResult, parse_result, schema_version
from casework.runs.store import RESULTS, read_manifest, scan_results
from casework.scoring import is_infrastructure_error, pass_k_table, successes_by_task, wilson_interval

#: When a run's domain cannot be loaded, a tool named like these is taken for a read.
READ_PREFIXES = ("get_", "find_", "list_", "search_", "lookup_", "check_")
#: The normal quantile of a 95 % two-sided interval (the same z as :func:`casework.scoring.pass_k_table`).
Z95 = NormalDist().inv_cdf(0.975)
TIME_FIELDS = ("execution_time", "model_response_time", "user_response_time", "tool_execution_time")


class ReportError(RuntimeError):
    """The run directory cannot be reported on (missing or empty results)."""


@dataclass
class RunData:
    """A loaded run: its manifest, its result lines (sorted by task and trial) and optional tasks.

    ``records`` are the typed lines (:class:`casework.runs.records.SimulationResult`, validated on
    load, any schema version); ``results`` are the same lines as plain dicts (fields the line never
    had are absent), which the renderers index by name.
    """

    run_dir: Path
    manifest: dict[str, Any]
    results: list[dict[str, Any]]
    tasks: list[Any] | None = None  # casework.tasks.Task objects, when a task file was given
    tool_kinds: dict[str, str] = field(default_factory=dict)
    records: list[SimulationResult] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "file: line N: what was wrong", one per bad line

    @property
    def schema_version(self) -> int:
        return schema_version(self.manifest)

    @property
    def exclude_infrastructure(self) -> bool:
        return bool((self.manifest.get("config") or {}).get("exclude_infrastructure"))

    @property
    def counted(self) -> list[dict[str, Any]]:
        """The results that enter the rates (all of them unless infrastructure errors are excluded)."""
        if not self.exclude_infrastructure:
            return self.results
        return [r for r in self.results if not is_infrastructure_error(r.get("termination_reason"))]

    @property
    def label(self) -> str:
        config = self.manifest.get("config") or {}
        model = (config.get("agent_endpoint") or {}).get("model")
        parts = [self.run_dir.name, str(config.get("agent") or "?")]
        if model:
            parts.append(str(model))
        return " · ".join(parts)


def load_run(run_dir: Path, tasks_path: Path | None = None) -> RunData:
    """Read a run directory (and a task file) into :class:`RunData`."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.jsonl").exists():
        raise ReportError(f"{run_dir} has no results.jsonl: pass the directory written by `casework run`")
    scan = scan_results(run_dir)
    try:
        records = sorted((parse_result(line) for line in scan.results), key=lambda r: (r.task_id, r.trial))
    except RecordError as exc:
        raise ReportError(f"{run_dir / RESULTS}: {exc}") from None
    results = [r.as_row() for r in records]
    if not results:
        raise ReportError(f"{run_dir}/results.jsonl holds no finished simulation yet")
    manifest = read_manifest(run_dir) or {}
    tasks = None
    domain_name = (manifest.get("config") or {}).get("domain")
    if tasks_path is not None:
        from casework.tasks import load_tasks

        tasks = load_tasks(Path(tasks_path), domain=domain_name)
    unreadable = [bad.describe() for bad in scan.bad]
    return RunData(run_dir, manifest, results, tasks, tool_kinds(domain_name), records, unreadable)


def tool_kinds(domain_name: str | None) -> dict[str, str]:
    """``{tool: "read" | "write" | "generic"}`` from the domain's toolbox; empty when it cannot load."""
    if not domain_name:
        return {}
    try:
        from casework.domains import get_domain

        return {name: t.kind.value for name, t in get_domain(domain_name).toolbox.tools.items()}
    except Exception:  # an unknown or broken domain must not stop a report
        return {}


def kind_of(name: str, kinds: Mapping[str, str]) -> str:
    """A tool's kind: from the domain when known, else guessed from its name (``get_``… is a read)."""
    if name in kinds:
        return kinds[name]
    return "read" if name.startswith(READ_PREFIXES) else "write"


# --------------------------------------------------------------------------- small statistics


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100), linear interpolation between order statistics; None if empty."""
    return float(np.percentile(values, q)) if len(values) else None


def mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return math.fsum(items) / len(items) if items else None


def rate(successes: int, n: int) -> dict[str, Any]:
    """A proportion with its 95 % Wilson interval."""
    low, high = wilson_interval(successes, n, Z95)
    return {"successes": successes, "n": n, "rate": successes / n if n else None, "low": low, "high": high}


def distribution(values: Sequence[float]) -> dict[str, Any]:
    """Count, mean, P50/P90/P99, max and total of a list of numbers."""
    return {
        "n": len(values),
        "mean": mean(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
        "total": math.fsum(values),
    }


# --------------------------------------------------------------------------- per task facts


def scenario_label(scenario: Any) -> str:
    if scenario is None or scenario == "" or scenario == []:
        return "(none)"
    if isinstance(scenario, list | tuple):
        return " + ".join(str(s) for s in scenario)
    return str(scenario)


def rw_mix(names: Sequence[str], kinds: Mapping[str, str]) -> str:
    """``r{reads}_w{writes}`` of a sequence of tool names."""
    found = Counter(kind_of(n, kinds) for n in names)
    return f"r{found['read']}_w{found['write']}"


def pattern(names: Sequence[str]) -> str:
    return " → ".join(names) if names else "(no action)"


@dataclass(frozen=True)
class TaskFacts:
    task_id: str
    actions: tuple[str, ...]
    scenario: str
    mix: str

    @property
    def n_actions(self) -> int:
        return len(self.actions)


def task_facts(run: RunData) -> dict[str, TaskFacts]:
    """One :class:`TaskFacts` per task id: from the results (what was graded), else the task file."""
    facts: dict[str, TaskFacts] = {}
    for task in run.tasks or []:
        names = tuple(a.name for a in task.actions)
        facts[task.id] = TaskFacts(
            task.id, names, scenario_label(task.scenario), rw_mix(names, run.tool_kinds)
        )
    for r in run.results:
        task_id = str(r["task_id"])
        known = facts.get(task_id)
        if r.get("expected_actions") is not None:
            names = tuple(a["name"] for a in r["expected_actions"])
        else:
            names = known.actions if known else ()
        scenario = r.get("scenario")
        text = known.scenario if scenario is None and known else scenario_label(scenario)
        facts[task_id] = TaskFacts(task_id, names, text, rw_mix(names, run.tool_kinds))
    return facts


# --------------------------------------------------------------------------- sections


def _group_rates(results: Sequence[dict[str, Any]], key) -> list[dict[str, Any]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[key(r)].append(r)
    rows = []
    for value, members in groups.items():
        successes = sum(bool(r.get("success")) for r in members)
        row = {
            "key": value,
            "simulations": len(members),
            "tasks": len({r["task_id"] for r in members}),
            **{f"success_{k}": v for k, v in rate(successes, len(members)).items()},
            "exact_match_rate": sum(bool(r.get("exact_match")) for r in members) / len(members),
        }
        rows.append(row)
    return rows


def summary_section(run: RunData, facts: Mapping[str, TaskFacts]) -> dict[str, Any]:
    counted = run.counted
    per_task = successes_by_task(counted)
    seed = int(run.manifest.get("seed") or 0)
    table = pass_k_table(per_task, seed=seed) if per_task else {}
    tasks_run = {str(r["task_id"]) for r in run.results}
    names = [n for t in tasks_run for n in facts[t].actions]
    called = [c["name"] for r in run.results for c in r.get("tool_calls") or []]
    trials = Counter(len(v) for v in per_task.values())
    return {
        "simulations": len(counted),
        "simulations_total": len(run.results),
        "tasks": len(per_task),
        "trials_per_task": dict(sorted(trials.items())),
        "success": rate(sum(bool(r.get("success")) for r in counted), len(counted)),
        "exact_match": rate(sum(bool(r.get("exact_match")) for r in counted), len(counted)),
        "avg_reward": mean(float(r.get("reward") or 0.0) for r in counted),
        "pass_k": [{"k": k, **p.to_dict()} for k, p in table.items()],
        "avg_expected_actions_per_task": mean(facts[t].n_actions for t in tasks_run),
        "avg_tool_calls_per_simulation": mean(len(r.get("tool_calls") or []) for r in run.results),
        "tool_diversity_expected": len(set(names)),
        "tool_diversity_called": len(set(called)),
        "action_entropy_bits": entropy_bits(Counter(names).values()),
        "infrastructure_errors": sum(
            is_infrastructure_error(r.get("termination_reason")) for r in run.results
        ),
        "infrastructure_excluded": run.exclude_infrastructure,
        "termination_reasons": dict(
            sorted(Counter(str(r.get("termination_reason")) for r in counted).items())
        ),
        "cost_usd": math.fsum(
            c.get("cost_usd") or 0.0 for r in run.results for c in r.get("model_calls") or []
        ),
    }


def task_set_section(run: RunData, facts: Mapping[str, TaskFacts]) -> dict[str, Any]:
    """What the task set looks like (all tasks of the task file when given, else the tasks run)."""
    action_counts = Counter(f.n_actions for f in facts.values())
    mixes = Counter(f.mix for f in facts.values())
    scenarios = Counter(f.scenario for f in facts.values())
    tasks_run = {str(r["task_id"]) for r in run.results}
    return {
        "source": "task file" if run.tasks is not None else "results",
        "tasks": len(facts),
        "tasks_run": len(tasks_run & set(facts)),
        "action_count_distribution": dict(sorted(action_counts.items())),
        "rw_mix_distribution": dict(sorted(mixes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "scenario_coverage": dict(sorted(scenarios.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def complexity_section(run: RunData, facts: Mapping[str, TaskFacts]) -> dict[str, Any]:
    counted = run.counted
    by_count = sorted(
        _group_rates(counted, lambda r: facts[str(r["task_id"])].n_actions), key=lambda row: row["key"]
    )
    by_mix = sorted(_group_rates(counted, lambda r: facts[str(r["task_id"])].mix), key=lambda row: row["key"])
    return {"by_action_count": by_count, "by_rw_mix": by_mix}


def patterns_section(run: RunData, facts: Mapping[str, TaskFacts], top: int = 5) -> dict[str, Any]:
    rows = _group_rates(run.counted, lambda r: pattern(facts[str(r["task_id"])].actions))
    best = sorted(rows, key=lambda row: (-row["success_rate"], -row["simulations"], row["key"]))
    worst = sorted(rows, key=lambda row: (row["success_rate"], -row["simulations"], row["key"]))
    return {"patterns": len(rows), "most_successful": best[:top], "least_successful": worst[:top]}


def tools_section(run: RunData) -> list[dict[str, Any]]:
    """Per tool: how often expected and called, call errors, per-tool recall, success when expected."""
    stats: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "expected": 0,
            "matched": 0,
            "called": 0,
            "call_errors": 0,
            "sims_expected": 0,
            "sims_success": 0,
        }
    )
    for r in run.counted:
        expected = [a["name"] for a in r.get("expected_actions") or []]
        calls = r.get("tool_calls") or []
        for name in expected:
            stats[name]["expected"] += 1
        for name in set(expected):
            stats[name]["sims_expected"] += 1
            stats[name]["sims_success"] += bool(r.get("success"))
        for call in calls:
            stats[call["name"]]["called"] += 1
            stats[call["name"]]["call_errors"] += bool(call.get("error"))
        for e, _c in (r.get("action_metrics") or {}).get("matched") or []:
            if 0 <= e < len(expected):
                stats[expected[e]]["matched"] += 1
    rows = []
    for name, s in stats.items():
        rows.append(
            {
                "tool": name,
                "kind": kind_of(name, run.tool_kinds),
                **s,
                "recall": s["matched"] / s["expected"] if s["expected"] else None,
                "call_error_rate": s["call_errors"] / s["called"] if s["called"] else None,
                "success_when_expected": s["sims_success"] / s["sims_expected"]
                if s["sims_expected"]
                else None,
            }
        )
    return sorted(rows, key=lambda row: (-row["called"], -row["expected"], row["tool"]))


def errors_section(run: RunData) -> list[dict[str, Any]]:
    """Failed simulations by error category, with the first example (by task id and trial)."""
    failed = [r for r in run.counted if not r.get("success")]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in failed:
        groups[str(r.get("error_category") or "unknown")].append(r)
    rows = []
    for category, members in groups.items():
        first = members[0]  # results are sorted by (task_id, trial)
        rows.append(
            {
                "category": category,
                "count": len(members),
                "share_of_failures": len(members) / len(failed),
                "example_task_id": str(first["task_id"]),
                "example_trial": int(first.get("trial", 0)),
                "example_detail": first.get("error_detail") or "",
            }
        )
    return sorted(rows, key=lambda row: (-row["count"], row["category"]))


def prf_section(run: RunData) -> dict[str, Any]:
    counted = run.counted

    def avg(key: str, kind: str | None = None) -> float | None:
        if kind is None:
            return mean(float(r[key]) for r in counted if r.get(key) is not None)
        values = [((r.get("action_metrics") or {}).get(kind) or {}).get(key) for r in counted]
        return mean(float(v) for v in values if v is not None)

    section = {
        "overall": {m: avg(f"action_{m}") for m in ("precision", "recall", "f1")},
        "read": {m: avg(m, "read") for m in ("precision", "recall", "f1")},
        "write": {m: avg(m, "write") for m in ("precision", "recall", "f1")},
        "avg_shaped_reward_normalized": mean(
            float(r["shaped_reward_normalized"])
            for r in counted
            if r.get("shaped_reward_normalized") is not None
        ),
    }
    if any(r.get("user_action_precision") is not None for r in counted):  # dual control
        section["user"] = {m: avg(f"user_action_{m}") for m in ("precision", "recall", "f1")}
    return section


def timing_section(run: RunData) -> dict[str, Any]:
    return {
        name: distribution([float(r[name]) for r in run.results if r.get(name) is not None])
        for name in TIME_FIELDS
    }


def persona_section(run: RunData) -> list[dict[str, Any]]:
    with_persona = [r for r in run.counted if r.get("persona")]
    return sorted(_group_rates(with_persona, lambda r: str(r["persona"])), key=lambda row: row["key"])


def match_matrix(run: RunData) -> dict[str, Any]:
    """Expected tool × called tool counts of matched pairs; unmatched sides go to ``(missing)``/``(extra)``."""
    counts: Counter[tuple[str, str]] = Counter()
    for r in run.counted:
        expected = [a["name"] for a in r.get("expected_actions") or []]
        called = [c["name"] for c in r.get("tool_calls") or []]
        matched = [(e, c) for e, c in (r.get("action_metrics") or {}).get("matched") or []]
        used_e = {e for e, _ in matched}
        used_c = {c for _, c in matched}
        for e, c in matched:
            if 0 <= e < len(expected) and 0 <= c < len(called):
                counts[(expected[e], called[c])] += 1
        for i, name in enumerate(expected):
            if i not in used_e and kind_of(name, run.tool_kinds) != "generic":
                counts[(name, "(missing)")] += 1
        for i, name in enumerate(called):
            if i not in used_c and kind_of(name, run.tool_kinds) != "generic":
                counts[("(extra)", name)] += 1
    rows = sorted({e for e, _ in counts if e != "(extra)"}) + (
        ["(extra)"] if any(e == "(extra)" for e, _ in counts) else []
    )
    cols = sorted({c for _, c in counts if c != "(missing)"}) + (
        ["(missing)"] if any(c == "(missing)" for _, c in counts) else []
    )
    return {"rows": rows, "cols": cols, "counts": [[counts[(e, c)] for c in cols] for e in rows]}


def analyze(run: RunData) -> dict[str, Any]:
    """Every section of the report, as plain data."""
    facts = task_facts(run)
    config = run.manifest.get("config") or {}
    return {
        "run": {
            "dir": str(run.run_dir),
            "label": run.label,
            "agent": config.get("agent"),
            "mode": config.get("mode"),
            "user": config.get("user"),
            "agent_model": (config.get("agent_endpoint") or {}).get("model"),
            "user_model": (config.get("user_endpoint") or {}).get("model"),
            "seed": run.manifest.get("seed"),
            "created_at": run.manifest.get("created_at"),
            "git_commit": run.manifest.get("git_commit"),
            "tasks_sha256": run.manifest.get("tasks_sha256"),
        },
        "unreadable_lines": list(run.unreadable),
        "summary": summary_section(run, facts),
        "task_set": task_set_section(run, facts),
        "complexity": complexity_section(run, facts),
        "patterns": patterns_section(run, facts),
        "tools": tools_section(run),
        "errors": errors_section(run),
        "prf": prf_section(run),
        "timing": timing_section(run),
        "personas": persona_section(run),
        "match_matrix": match_matrix(run),
    }
