"""Quality gates for CI: ``--fail-under success=0.7,recall=0.6,precision=0.6``.

A gate names a run-level metric of ``summary.json`` and the least value that passes. A missed gate
(or a metric the run does not have, e.g. recall of a run without graded actions) makes ``casework
run`` / ``casework report`` exit with :data:`GATE_EXIT_CODE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from casework.errors import UserError

#: Gate name -> the summary.json key it reads.
METRICS = {
    "success": "success_rate",
    "recall": "avg_action_recall",
    "precision": "avg_action_precision",
    "f1": "avg_action_f1",
    "reward": "avg_reward",
}
GATE_EXIT_CODE = 1


def parse_gates(text: str | None) -> dict[str, float]:
    """``{"success": 0.7, ...}`` from ``success=0.7,recall=0.6``; a bad entry is a one-line UserError."""
    if not text:
        return {}
    gates: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in METRICS:
            raise UserError(
                f"--fail-under: {part!r} is not NAME=VALUE with NAME one of {', '.join(METRICS)} "
                "(e.g. success=0.7,recall=0.6)"
            )
        try:
            threshold = float(value)
        except ValueError:
            raise UserError(f"--fail-under: {name}={value!r}: expected a number between 0 and 1") from None
        if not 0.0 <= threshold <= 1.0:
            raise UserError(f"--fail-under: {name}={threshold}: expected a number between 0 and 1")
        gates[name] = threshold
    return gates


def missed_gates(summary: dict[str, Any], gates: dict[str, float]) -> list[str]:
    """One line per missed gate (empty when every gate passes)."""
    missed = []
    for name, threshold in gates.items():
        value = summary.get(METRICS[name])
        if value is None:
            missed.append(f"{name}: the run has no {name} value (gate {threshold:g})")
        elif value < threshold:
            missed.append(f"{name} {value:.3f} < {threshold:g}")
    return missed


def infrastructure_line(summary: dict[str, Any]) -> str | None:
    """A summary line when simulations ended in infrastructure errors (None when none did)."""
    count = int(summary.get("infrastructure_errors") or 0)
    if not count:
        return None
    return (
        f"{count} simulation(s) ended in infrastructure errors (the endpoint failed after its "
        "retries): their results are not the model's; fix the endpoint and run again with --resume to retry them"
    )


def run_summary(run_dir: Path) -> dict[str, Any]:
    """The run-level metrics of a run directory, computed from its results as ``summary.json`` is."""
    from casework.runs.store import read_manifest, read_results
    from casework.runs.summary import summarize

    manifest = read_manifest(Path(run_dir)) or {}
    config = manifest.get("config") or {}
    return summarize(
        read_results(Path(run_dir)),
        exclude_infrastructure=bool(config.get("exclude_infrastructure")),
        seed=int(manifest.get("seed") or 0),
    )
