"""``report.md``: the analysis of a run as a Markdown document (tables, charts linked as images)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def interval(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"[{pct(low)}, {pct(high)}]"


def cell(value: Any) -> str:
    """A table cell: pipes and newlines would break the table."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "_none_\n"
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def rate_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            r["key"],
            r["tasks"],
            r["simulations"],
            pct(r["success_rate"]),
            interval(r["success_low"], r["success_high"]),
            pct(r["exact_match_rate"]),
        ]
        for r in rows
    ]


RATE_HEADERS = ["tasks", "simulations", "success", "95% CI", "exact match"]


def pass_k_rows(pass_k: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            f"pass^{p['k']}",
            pct(p["value"]),
            interval(p["wilson_low"], p["wilson_high"]),
            interval(p["bootstrap_low"], p["bootstrap_high"]),
            p["n_tasks"],
        ]
        for p in pass_k
    ]


PASS_K_HEADERS = ["metric", "value", "95% Wilson", "95% bootstrap", "tasks"]


def profile_rows(profile: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for g in profile["groups"]:
        lat, ttft = g["latency_s"], g["ttft_s"]
        rows.append(
            [
                g["model"],
                g["role"],
                g["calls"],
                f"{num(lat['p50'])} / {num(lat['p90'])} / {num(lat['p99'])}",
                f"{num(ttft['p50'])} / {num(ttft['p90'])} / {num(ttft['p99'])}",
                num(g["decode_tokens_per_s"]["mean"], 1),
                f"{g['prompt_tokens']} / {g['completion_tokens']} / {g['cached_tokens']}",
                pct(g["share_under_5s"]),
                g["retries"],
                g["errors"],
                f"${g['cost_usd']:.4f}",
            ]
        )
    return rows


#: How the reward is computed and what it does not check, shown in every report.
REWARD_EXPLANATION = (
    "**How success is scored.** A simulation succeeds (reward 1) when the final database is identical "
    "(canonical hash) to the one the ground-truth actions produce on a fresh copy *and* every expected "
    "output appears in some agent message (lowercased, commas removed); anything else scores 0. "
    "**What it does not check:** how the agent got there. It does not check that the agent identified "
    "the user before acting, followed the policy's confirmations, or was polite; a read-only task whose "
    "ground truth changes nothing succeeds for any conversation that changes nothing and says the "
    "expected outputs (e.g. an agent that transferred at once without identifying the user). Action "
    "precision/recall/F1 and exact match, shown beside it, compare the tool calls themselves."
)

PROFILE_HEADERS = [
    "model",
    "role",
    "calls",
    "latency P50/P90/P99 (s)",
    "TTFT P50/P90/P99 (s)",
    "decode tok/s",
    "prompt / completion / cached tokens",
    "< 5 s",
    "retries",
    "errors",
    "cost",
]


def render_markdown(analysis: dict[str, Any], profile: dict[str, Any], charts: dict[str, str]) -> str:
    """The whole report; ``charts`` maps chart names to paths relative to the report."""
    run, s = analysis["run"], analysis["summary"]
    out: list[str] = [f"# Run report: {run['label']}\n"]
    facts = [
        ("run directory", f"`{run['dir']}`"),
        (
            "agent",
            f"{run['agent']} ({run['mode']} mode)"
            + (f", model `{run['agent_model']}`" if run["agent_model"] else ""),
        ),
        (
            "user simulator",
            str(run["user"]) + (f", model `{run['user_model']}`" if run["user_model"] else ""),
        ),
        ("created", run["created_at"] or "–"),
        ("seed", run["seed"]),
        ("git commit", run["git_commit"] or "–"),
    ]
    out.append("\n" + "\n".join(f"- **{k}**: {v}" for k, v in facts) + "\n\n")
    unreadable = analysis.get("unreadable_lines") or []
    if unreadable:
        out.append(
            f"> **Warning: {len(unreadable)} unreadable line(s) in results.jsonl were left out of this "
            "report** (`casework run --resume` moves them to `results.quarantine` and re-runs their "
            "simulations):\n"
        )
        out.append("".join(f"> - {cell(line)}\n" for line in unreadable) + "\n")

    out.append("## Executive summary\n\n")
    infra_note = (
        f"{s['infrastructure_errors']} infrastructure errors, excluded from the rates"
        if s["infrastructure_excluded"]
        else f"{s['infrastructure_errors']} infrastructure errors, counted as failures"
    )
    trials = ", ".join(f"{n} tasks × {k} trials" for k, n in s["trials_per_task"].items())
    out.append(
        table(
            ["metric", "value"],
            [
                ["tasks / simulations", f"{s['tasks']} / {s['simulations']} ({trials})"],
                [
                    "success rate",
                    f"{pct(s['success']['rate'])} ({s['success']['successes']}/{s['success']['n']}), "
                    f"95% CI {interval(s['success']['low'], s['success']['high'])}",
                ],
                [
                    "exact-match rate",
                    f"{pct(s['exact_match']['rate'])} ({s['exact_match']['successes']}/{s['exact_match']['n']})",
                ],
                ["average reward", num(s["avg_reward"], 3)],
                ["average expected actions per task", num(s["avg_expected_actions_per_task"])],
                ["average tool calls per simulation", num(s["avg_tool_calls_per_simulation"])],
                [
                    "tool diversity (expected / called)",
                    f"{s['tool_diversity_expected']} / {s['tool_diversity_called']}",
                ],
                ["action-diversity entropy", f"{num(s['action_entropy_bits'], 3)} bits"],
                ["infrastructure errors", infra_note],
                ["model cost", f"${s['cost_usd']:.4f}"],
            ],
        )
    )
    out.append("\n" + REWARD_EXPLANATION + "\n")
    out.append("\n" + table(PASS_K_HEADERS, pass_k_rows(s["pass_k"])))
    out.append(
        "\nTermination reasons: " + ", ".join(f"{k} {v}" for k, v in s["termination_reasons"].items()) + "\n"
    )
    if "dashboard" in charts:
        out.append(f"\n![dashboard]({charts['dashboard']})\n")

    ts = analysis["task_set"]
    out.append("\n## Task set\n\n")
    out.append(f"{ts['tasks']} tasks (from the {ts['source']}), {ts['tasks_run']} of them run.\n")
    out.append("\n**Actions per task**\n\n")
    out.append(table(["actions", "tasks"], list(ts["action_count_distribution"].items())))
    out.append("\n**Read/write mix**\n\n")
    out.append(table(["mix", "tasks"], list(ts["rw_mix_distribution"].items())))
    out.append("\n**Scenario coverage**\n\n")
    out.append(table(["scenario", "tasks"], list(ts["scenario_coverage"].items())))

    out.append("\n## Performance by complexity\n\n")
    out.append(table(["actions", *RATE_HEADERS], rate_rows(analysis["complexity"]["by_action_count"])))
    out.append(
        "\n" + table(["read/write mix", *RATE_HEADERS], rate_rows(analysis["complexity"]["by_rw_mix"]))
    )
    if "success_by_complexity" in charts:
        out.append(f"\n![success by complexity]({charts['success_by_complexity']})\n")

    pt = analysis["patterns"]
    out.append(
        f"\n## Action-sequence patterns\n\n{pt['patterns']} distinct expected sequences.\n\n**Most successful**\n\n"
    )
    out.append(table(["sequence", *RATE_HEADERS], rate_rows(pt["most_successful"])))
    out.append("\n**Least successful**\n\n")
    out.append(table(["sequence", *RATE_HEADERS], rate_rows(pt["least_successful"])))

    out.append("\n## Tool usage\n\n")
    out.append(
        table(
            ["tool", "kind", "expected", "called", "recall", "call errors", "success when expected"],
            [
                [
                    t["tool"],
                    t["kind"],
                    t["expected"],
                    t["called"],
                    pct(t["recall"]),
                    f"{t['call_errors']} ({pct(t['call_error_rate'])})",
                    pct(t["success_when_expected"]),
                ]
                for t in analysis["tools"]
            ],
        )
    )

    out.append("\n## Error categories\n\n")
    out.append(
        table(
            ["category", "failures", "share", "example task", "detail"],
            [
                [
                    e["category"],
                    e["count"],
                    pct(e["share_of_failures"]),
                    f"{e['example_task_id']} (trial {e['example_trial']})",
                    e["example_detail"],
                ]
                for e in analysis["errors"]
            ],
        )
    )
    if "error_categories" in charts and analysis["errors"]:
        out.append(f"\n![error categories]({charts['error_categories']})\n")

    prf = analysis["prf"]
    out.append("\n## Precision / recall / F1\n\n")
    out.append(
        table(
            ["actions", "precision", "recall", "F1"],
            [
                [
                    "user (device)" if g == "user" else g,
                    num(prf[g]["precision"], 3),
                    num(prf[g]["recall"], 3),
                    num(prf[g]["f1"], 3),
                ]
                for g in ("overall", "read", "write", "user")
                if g in prf
            ],
        )
    )
    out.append(f"\nMean normalised shaped reward: {num(prf['avg_shaped_reward_normalized'], 3)}\n")

    out.append("\n## Timing\n\n")
    out.append(
        table(
            ["seconds", "mean", "P50", "P90", "P99", "max", "total"],
            [
                [name, *(num(d[key], 3) for key in ("mean", "p50", "p90", "p99", "max", "total"))]
                for name, d in analysis["timing"].items()
                if d["n"]
            ],
        )
    )

    if analysis["personas"]:
        out.append("\n## By persona\n\n")
        out.append(table(["persona", *RATE_HEADERS], rate_rows(analysis["personas"])))

    out.append("\n## Latency profile\n\n")
    if profile["groups"]:
        out.append(table(PROFILE_HEADERS, profile_rows(profile)))
        if "latency" in charts:
            out.append(f"\n![latency]({charts['latency']})\n")
    else:
        out.append("No model calls were recorded in this run.\n")
    out.append("\n---\nComputed from `results.jsonl` by `casework report`. Intervals are 95%.\n")
    return "".join(out)
