"""Latency and usage profile of a run's model calls, per model and role (agent, user, reviewer).

Each result line carries ``model_calls``: one record per chat call with its latency, time to first
token, token counts, decode speed, retries, error and cost. :func:`latency_profile` groups them by
``(model, role)`` and gives P50/P90/P99 (linear interpolation), the share of calls under
:data:`FAST_S` seconds, and sums of tokens, retries, errors and cost. Written as ``profile.json``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from casework.reports.analysis import mean, percentile

#: Calls faster than this count as "fast" (the share is reported).
FAST_S = 5.0


def _quantiles(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "mean": mean(values),
        "max": max(values) if values else None,
    }


def model_calls(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every model call record of the run, in result order."""
    return [call for r in results for call in r.get("model_calls") or []]


def latency_profile(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per (model, role) statistics of the model calls; see the module docstring. Calls that name
    the replica that answered (``base_url``) are also grouped per (model, role, replica) under
    ``replicas``; an expert consulted by the agent is the role ``expert:NAME``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    replicas: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for call in model_calls(results):
        key = (str(call.get("model") or "(unknown)"), str(call.get("role") or "agent"))
        groups[key].append(call)
        if call.get("base_url"):
            replicas[(*key, str(call["base_url"]))].append(call)
    rows = [{"model": m, "role": r, **_stats(calls)} for (m, r), calls in sorted(groups.items())]
    out = {
        "percentiles": "linear interpolation between order statistics",
        "fast_threshold_s": FAST_S,
        "calls": sum(row["calls"] for row in rows),
        "groups": rows,
    }
    if replicas:
        out["replicas"] = [
            {"model": m, "role": r, "base_url": u, **_stats(calls)}
            for (m, r, u), calls in sorted(replicas.items())
        ]
    return out


def _stats(calls: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [float(c["latency_s"]) for c in calls if c.get("latency_s") is not None]
    ttfts = [float(c["ttft_s"]) for c in calls if c.get("ttft_s") is not None]
    speeds = [float(c["decode_tokens_per_s"]) for c in calls if c.get("decode_tokens_per_s") is not None]
    return {
        "calls": len(calls),
        "latency_s": _quantiles(latencies),
        "ttft_s": _quantiles(ttfts),
        "decode_tokens_per_s": {
            "mean": mean(speeds),
            "p50": percentile(speeds, 50),
            "n": len(speeds),
        },
        "prompt_tokens": sum(int(c.get("prompt_tokens") or 0) for c in calls),
        "completion_tokens": sum(int(c.get("completion_tokens") or 0) for c in calls),
        "cached_tokens": sum(int(c.get("cached_tokens") or 0) for c in calls),
        "share_under_5s": (sum(1 for v in latencies if v < FAST_S) / len(latencies)) if latencies else None,
        "retries": sum(int(c.get("retries") or 0) for c in calls),
        "errors": sum(1 for c in calls if c.get("error")),
        "cost_usd": math.fsum(float(c.get("cost_usd") or 0.0) for c in calls),
    }
