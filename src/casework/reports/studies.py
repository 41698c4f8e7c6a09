"""The report's "Studies" section: robustness to perturbations, safety compliance (with each
violation and its turn), completion ratios and success by episode length, run-to-run noise, and
failure attribution (``casework review``).

Reads what the run wrote: ``summary.json`` (keys ``robustness``, ``safety_compliance``,
``completion``, ``success_by_length``, ``noise``) and ``review.jsonl``/``review.json``. Each part is
a list of (title, note, headers, rows) tables, rendered as Markdown or HTML.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

Table = tuple[str, str, list[str], list[list[Any]]]


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.1f}%"


def _ci(part: dict[str, Any] | None) -> str:
    if not part or part.get("value") is None:
        return "–"
    return f"{_pct(part['value'])} [{_pct(part.get('low'))}, {_pct(part.get('high'))}] (n={part.get('n')})"


def study_tables(run_dir: Path) -> list[Table]:
    """Every study table the run has data for (empty for an ordinary run)."""
    run_dir = Path(run_dir)
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        summary = {}
    tables: list[Table] = []
    robustness = summary.get("robustness")
    if robustness:
        rows = [
            [
                kind,
                r.get("variants"),
                _ci(r.get("agreement")),
                f"{r['reward_variance']['value']:.4f}"
                if r.get("reward_variance", {}).get("value") is not None
                else "–",
                _ci(r.get("policy_violation_rate")),
                _pct(r.get("base_success_rate")),
                _pct(r.get("variant_success_rate")),
            ]
            for kind, r in robustness.items()
        ]
        tables.append(
            (
                "Robustness to perturbations",
                "Agreement: variants with their base task's verdict in the same trial. Variance: of the mean "
                "reward across a base task and its variants. Intervals are 95%.",
                [
                    "kind",
                    "variants",
                    "agreement",
                    "reward variance",
                    "policy violations",
                    "base success",
                    "variant success",
                ],
                rows,
            )
        )
    safety = summary.get("safety_compliance")
    if safety:
        rows = [["all", _ci(safety)]] + [[c, _ci(r)] for c, r in safety.get("by_category", {}).items()]
        tables.append(
            (
                "Safety compliance",
                "Share of safety-probe simulations with no violation (Wilson 95% interval); reported apart "
                "from task success, never averaged into it.",
                ["probes", "compliance"],
                rows,
            )
        )
        violations = [
            [
                v["task_id"],
                v.get("trial", 0),
                v["kind"],
                v.get("turn") or "–",
                v.get("message_index"),
                v["detail"],
            ]
            for v in safety.get("violations", [])
        ]
        if violations:
            tables.append(
                (
                    "Safety violations",
                    "Each violation with the offending turn (user turn; message index).",
                    ["task", "trial", "violation", "turn", "message", "detail"],
                    violations,
                )
            )
    completion = summary.get("completion")
    if completion:
        rows = [
            [
                r["task_id"],
                r["trial"],
                r["intents"],
                r["reward"],
                _pct(r["ratio"]),
                ", ".join(map(str, r["missing"])) or "–",
            ]
            for r in completion.get("per_simulation", [])
        ]
        tables.append(
            (
                "Long-horizon tasks: completion ratio",
                f"Mean completion ratio {_pct(completion['mean_completion_ratio'])} next to the 0/1 success "
                f"rate {_pct(completion['success_rate'])}: the share of requests whose state changes and "
                "outputs were achieved (each request's golden slice replayed).",
                ["task", "trial", "requests", "reward", "completion", "requests missed"],
                rows,
            )
        )
    by_length = summary.get("success_by_length")
    if by_length:
        tables.append(
            (
                "Success by episode length",
                "Messages in the conversation.",
                ["messages", "simulations", "success"],
                [[k, v["n"], _pct(v["success_rate"])] for k, v in by_length.items()],
            )
        )
    noise = summary.get("noise")
    if noise:
        needed = ", ".join(
            f"width {w}: {'more tasks needed' if k is None else f'{k} trials'}"
            for w, k in noise["trials_needed"].items()
        )
        tables.append(
            (
                "Run-to-run noise",
                f"Mean flip rate {noise['mean_flip_rate']:.3f} over {noise['tasks']} tasks "
                f"({noise['tasks_that_flip']} flip); 95% interval width now {noise['ci_width_now']:.3f}; "
                f"trials per task needed for {needed}.",
                ["task", "flip rate"],
                [[t, f"{f:.3f}"] for t, f in list(noise["flip_rate"].items())[:20] if f > 0],
            )
        )
    from casework.runs.review import read_review

    rows, review = read_review(run_dir)
    if review:
        tables.append(
            (
                "Why did it fail? (casework review)",
                f"Pass rate {_pct(review['pass_rate'])}; without user-simulator errors "
                f"{_pct(review['pass_rate_without_user_simulator_errors'])}. Failures by cause: "
                + ", ".join(f"{k} {n}" for k, n in review["by_category"].items())
                + (
                    "; deterministic checks: " + ", ".join(f"{k} {n}" for k, n in review["by_check"].items())
                    if review.get("by_check")
                    else ""
                ),
                ["task", "trial", "cause", "source", "why"],
                [
                    [
                        r["task_id"],
                        r["trial"],
                        r["category"],
                        f"{r['source']} ({r['check']})" if r.get("check") else r["source"],
                        "; ".join(r["reasons"]) or r.get("judge_reasoning") or "",
                    ]
                    for r in rows
                ],
            )
        )
    return tables


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def studies_markdown(run_dir: Path) -> str:
    tables = study_tables(run_dir)
    if not tables:
        return ""
    out = ["\n## Studies\n"]
    for title, note, headers, rows in tables:
        out.append(f"\n### {title}\n\n{note}\n\n")
        if rows:
            out.append("| " + " | ".join(headers) + " |\n|" + "---|" * len(headers) + "\n")
            out.extend("| " + " | ".join(_md_cell(c) for c in row) + " |\n" for row in rows)
    return "".join(out)


def studies_html(run_dir: Path) -> str:
    tables = study_tables(run_dir)
    if not tables:
        return ""
    out = ["<h2>Studies</h2>"]
    for title, note, headers, rows in tables:
        out.append(f"<h3>{html.escape(title)}</h3><p>{html.escape(note)}</p>")
        if rows:
            out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>")
            out.extend(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
            )
            out.append("</table>")
    return "".join(out)
