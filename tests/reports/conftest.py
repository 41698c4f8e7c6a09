"""A small hand-made run directory: 4 tasks × 2 trials with known successes, errors and personas.

Success by construction (task: trial 0, trial 1):
    T1 cancel          3 actions r2_w1: success, failure (parameter)
    T2 return          3 actions r2_w1: success, success
    T3 info            2 actions r2_w0: failure (outputs; its user message holds a <script>), success
    T4 exchange+address 4 actions r2_w2: failure (execution), failure (action_sequence)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SCRIPT = "<script>document.title='XSS'</script><script>alert(1)</script>"

TASKS: dict[str, dict[str, Any]] = {
    "T1": {
        "scenario": "cancel",
        "actions": [
            ("find_user_id_by_email", {"email": "ann@example.com"}),
            ("get_order_details", {"order_id": "#W1"}),
            ("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"}),
        ],
    },
    "T2": {
        "scenario": "return",
        "actions": [
            ("find_user_id_by_name_zip", {"first_name": "Bo", "last_name": "Li", "zip": "10001"}),
            ("get_order_details", {"order_id": "#W2"}),
            (
                "return_delivered_order_items",
                {"order_id": "#W2", "item_ids": ["1"], "payment_method_id": "gc_1"},
            ),
        ],
    },
    "T3": {
        "scenario": "info",
        "actions": [
            ("find_user_id_by_email", {"email": "cy@example.com"}),
            ("get_user_details", {"user_id": "cy_1"}),
        ],
    },
    "T4": {
        "scenario": ["exchange", "address"],
        "actions": [
            ("find_user_id_by_email", {"email": "di@example.com"}),
            ("get_order_details", {"order_id": "#W4"}),
            ("exchange_delivered_order_items", {"order_id": "#W4", "item_ids": ["2"], "new_item_ids": ["3"]}),
            ("modify_user_address", {"user_id": "di_1", "address1": "1 Main St"}),
        ],
    },
}

# (task, trial, success, category, persona, called indices into the expected actions (or a
#  (name, args, error) tuple for a call that is not one of them), matched pairs, execution time)
SIMULATIONS = [
    ("T1", 0, True, "none", "control", [0, 1, 2], [[0, 0], [1, 1], [2, 2]], 10.0),
    (
        "T1",
        1,
        False,
        "parameter",
        "anger",
        [0, 1, ("cancel_pending_order", {"order_id": "#W1", "reason": "ordered by mistake"}, False)],
        [[0, 0], [1, 1]],
        12.0,
    ),
    ("T2", 0, True, "none", "control", [0, 1, 2], [[0, 0], [1, 1], [2, 2]], 8.0),
    ("T2", 1, True, "none", "control", [0, 1, 2], [[0, 0], [1, 1], [2, 2]], 9.0),
    ("T3", 0, False, "outputs", "anger", [0, 1], [[0, 0], [1, 1]], 5.0),
    ("T3", 1, True, "none", "anger", [0, 1], [[0, 0], [1, 1]], 6.0),
    (
        "T4",
        0,
        False,
        "execution",
        "control",
        [
            0,
            1,
            (
                "exchange_delivered_order_items",
                {"order_id": "#W4", "item_ids": ["9"], "new_item_ids": ["3"]},
                True,
            ),
        ],
        [[0, 0], [1, 1]],
        20.0,
    ),
    ("T4", 1, False, "action_sequence", "anger", [0, 1, 3], [[0, 0], [1, 1], [3, 2]], 15.0),
]

WRITES = {
    "cancel_pending_order",
    "return_delivered_order_items",
    "exchange_delivered_order_items",
    "modify_user_address",
}


def _prf(tp: int, n_expected: int, n_called: int) -> dict[str, float]:
    p = tp / n_called if n_called else float(n_expected == 0)
    r = tp / n_expected if n_expected else float(n_called == 0)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def _model_calls(index: int) -> list[dict[str, Any]]:
    """Two agent calls and one user call per simulation, with varied numbers."""
    calls = []
    for j in range(2):
        calls.append(
            {
                "role": "agent",
                "model": "agent-model",
                "latency_s": 0.7 * (index + 1) + 1.3 * j,  # simulation 7 call 1: 6.9 s (over 5 s)
                "ttft_s": 0.1 * (index + 1) + 0.05 * j,
                "prompt_tokens": 1000 + 10 * index,
                "completion_tokens": 50 + j,
                "cached_tokens": 200 * j,
                "decode_tokens_per_s": 40.0 + index,
                "cost_usd": 0.001 * (index + 1),
                "retries": 1 if (index, j) == (2, 0) else 0,
                "error": "HTTP 500" if (index, j) == (5, 1) else None,
            }
        )
    calls.append(
        {
            "role": "user",
            "model": "user-model",
            "latency_s": 0.2 + 0.1 * index,
            "ttft_s": None,
            "prompt_tokens": 300,
            "completion_tokens": 20,
            "cached_tokens": 0,
            "decode_tokens_per_s": None,
            "cost_usd": 0.0005,
            "retries": 0,
            "error": None,
        }
    )
    return calls


def build_results() -> list[dict[str, Any]]:
    results = []
    for index, (task_id, trial, success, category, persona, called_spec, matched, exec_time) in enumerate(
        SIMULATIONS
    ):
        task = TASKS[task_id]
        expected = [{"name": n, "arguments": a} for n, a in task["actions"]]
        tool_calls = []
        for step, spec in enumerate(called_spec):
            if isinstance(spec, int):
                name, args, error = expected[spec]["name"], expected[spec]["arguments"], False
            else:
                name, args, error = spec
            observation = "Error: item not found" if error else f"ok {name}"
            tool_calls.append(
                {
                    "id": f"call_{step}",
                    "name": name,
                    "arguments": args,
                    "observation": observation,
                    "error": error,
                    "duration_s": 0.001,
                    "step": step,
                }
            )
        user_text = f"Hi, I need help with {task_id}."
        if (task_id, trial) == ("T3", 0):
            user_text = f"My name is {SCRIPT} please help"
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are a retail agent."},
            {"role": "user", "content": user_text},
        ]
        for call in tool_calls:
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
                        }
                    ],
                }
            )
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "name": call["name"],
                    "content": call["observation"],
                }
            )
        messages.append({"role": "assistant", "content": "Done. ###STOP###"})
        tp = len(matched)
        n_exp, n_called = len(expected), len(tool_calls)
        overall = _prf(tp, n_exp, n_called)
        exp_w = sum(e["name"] in WRITES for e in expected)
        cal_w = sum(c["name"] in WRITES for c in tool_calls)
        tp_w = sum(expected[e]["name"] in WRITES for e, _ in matched)
        exact = tp == n_exp == n_called and all(e == c for e, c in matched)
        results.append(
            {
                "task_id": task_id,
                "trial": trial,
                "reward": 1.0 if success else 0.0,
                "success": success,
                "db_match": success or category == "outputs",
                "outputs_match": category != "outputs",
                "outputs_found": [category != "outputs"],
                "expected_state_sha256": "a" * 64,
                "final_state_sha256": "a" * 64 if success else "b" * 64,
                "action_precision": overall["precision"],
                "action_recall": overall["recall"],
                "action_f1": overall["f1"],
                "exact_match": exact,
                "action_metrics": {
                    **overall,
                    "exact_match": exact,
                    "tp": tp,
                    "fp": n_called - tp,
                    "fn": n_exp - tp,
                    "read": _prf(tp - tp_w, n_exp - exp_w, n_called - cal_w),
                    "write": _prf(tp_w, exp_w, cal_w),
                    "matched": matched,
                },
                "shaped_reward": 0.5 + 0.5 * success,
                "shaped_reward_normalized": 0.5 + 0.5 * success,
                "shaped": {},
                "error_category": category,
                "error_detail": "" if success else f"{category} problem in {task_id}",
                "termination_reason": "agent_stop" if index != 6 else "max_errors",
                "error": None,
                "persona": persona,
                "scenario": task["scenario"],
                "agent_steps": len(tool_calls) + 1,
                "tool_errors": sum(c["error"] for c in tool_calls),
                "dropped_tool_calls": 0,
                "execution_time": exec_time,
                "model_response_time": exec_time / 2,
                "user_response_time": 0.5,
                "tool_execution_time": 0.001 * len(tool_calls),
                "expected_actions": expected,
                "expected_outputs": ["42"] if task_id == "T3" else [],
                "tool_calls": tool_calls,
                "messages": messages,
                "message_times": [0.1 * i for i in range(len(messages))],
                "model_calls": _model_calls(index),
            }
        )
    return results


def write_run(run_dir: Path, results: list[dict[str, Any]], *, agent: str = "tool-calling") -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "config": {
            "agent": agent,
            "mode": "interactive",
            "user": "llm",
            "domain": "retail",
            "trials": 2,
            "exclude_infrastructure": False,
            "agent_endpoint": {"model": "agent-model", "base_url": "http://127.0.0.1:1/v1"},
            "user_endpoint": {"model": "user-model", "base_url": "http://127.0.0.1:1/v1"},
        },
        "tasks_sha256": "0" * 64,
        "seed": 0,
        "versions": {"casework": "0.1.0"},
        "git_commit": None,
        "created_at": "2025-01-01T00:00:00+00:00",
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with (run_dir / "results.jsonl").open("w", encoding="utf-8") as handle:
        for r in results:
            handle.write(json.dumps(r) + "\n")
    return run_dir


@pytest.fixture
def results() -> list[dict[str, Any]]:
    return build_results()


@pytest.fixture
def run_dir(tmp_path: Path, results: list[dict[str, Any]]) -> Path:
    return write_run(tmp_path / "run", results)


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report written once per session (charts take a second)."""
    from casework.reports import write_report

    base = tmp_path_factory.mktemp("report")
    run = write_run(base / "run", build_results())
    write_report(run)
    return run
