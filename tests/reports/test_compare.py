"""Run comparison: the exact sign test against brute-force enumeration, and the paired table."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from casework.reports import load_run
from casework.reports.compare import compare, render_comparison_markdown, sign_test

from .conftest import build_results, write_run


def brute_two_sided(plus: int, minus: int) -> float:
    """P(an outcome at least as unbalanced as observed) over all 2^n equally likely sign vectors."""
    n = plus + minus
    if n == 0:
        return 1.0
    observed = abs(plus - minus)
    extreme = sum(1 for signs in itertools.product((1, -1), repeat=n) if abs(sum(signs)) >= observed)
    return extreme / 2**n


@pytest.mark.parametrize("plus,minus", [(p, m) for p in range(8) for m in range(8) if p + m <= 11])
def test_sign_test_matches_enumeration(plus: int, minus: int):
    assert sign_test(plus, minus) == pytest.approx(brute_two_sided(plus, minus))
    assert sign_test(plus, minus) == sign_test(minus, plus)


def test_sign_test_known_values():
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 0) == pytest.approx(0.0625)  # 2 / 2^5
    assert sign_test(10, 0) == pytest.approx(2 / 1024)
    assert sign_test(60, 40) == pytest.approx(0.056887, abs=1e-6)  # McNemar exact, 100 discordant pairs
    assert 0.0 < sign_test(1000, 0) < 1e-300 or sign_test(1000, 0) == 0.0  # no overflow


def test_paired_comparison_flips_and_rows(tmp_path: Path):
    base = build_results()
    other = build_results()
    for r in other:
        if r["task_id"] == "T2":  # regress T2 entirely, improve T4 on one trial
            r["success"], r["reward"] = False, 0.0
        if (r["task_id"], r["trial"]) == ("T4", 0):
            r["success"], r["reward"] = True, 1.0
    other = [r for r in other if r["task_id"] != "T1"] + [dict(base[0], task_id="T9")]
    result = compare([load_run(write_run(tmp_path / "a", base)), load_run(write_run(tmp_path / "b", other))])
    pair = result["pairs"][0]
    assert pair["common_tasks"] == 3 and pair["only_in_a"] == ["T1"] and pair["only_in_b"] == ["T9"]
    assert [(f["task_id"], f["a"], f["b"]) for f in pair["flips"]] == [("T2", 1.0, 0.0), ("T4", 0.0, 0.5)]
    assert (pair["a_better"], pair["b_better"], pair["ties"]) == (1, 1, 1)
    assert pair["p_value"] == 1.0
    a_row, b_row = result["runs"]
    assert (a_row["success"]["successes"], a_row["success"]["n"]) == (4, 8)
    assert (b_row["success"]["successes"], b_row["success"]["n"]) == (3, 7)  # T3 trial 1, T4 trial 0, T9
    assert [p["k"] for p in a_row["pass_k"]] == [1, 2]
    md = render_comparison_markdown(result)
    assert "| T2 | 100.0% | 0.0% | -100.0 pts |" in md and "p = 1" in md


def test_compare_needs_two_runs(tmp_path: Path):
    with pytest.raises(ValueError):
        compare([load_run(write_run(tmp_path / "a", build_results()))])
