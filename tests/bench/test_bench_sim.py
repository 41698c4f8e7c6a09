"""``casework bench sim`` with tiny sizes: the output's structure, not the timing targets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casework.bench.sim import InstantLLM, OracleScript
from casework.cli import app
from casework.domains import get_domain
from casework.generate.templated import generate_templated


def test_oracle_script_walks_the_ground_truth_then_says_the_outputs():
    domain = get_domain("retail")
    task = generate_templated(domain, domain.database(), 1, seed=2)[0]
    script = OracleScript([task])
    messages = [
        {"role": "system", "content": "policy"},
        {"role": "user", "content": next(iter(script.by_opening))},
    ]
    for action in task.actions:
        text, calls = script.reply(messages)
        assert text is None and [(c[1], json.loads(c[2])) for c in calls] == [(action.name, action.arguments)]
        messages.append({"role": "tool", "tool_call_id": calls[0][0], "content": "ok"})
    text, calls = script.reply(messages)
    assert not calls and all(o in text for o in task.outputs)
    assert "anything else" in text


def test_instant_llm_counts_its_own_time():
    import asyncio

    llm = InstantLLM(OracleScript([]))
    completion = asyncio.run(llm.chat([{"role": "user", "content": "hi"}]))
    assert completion.content and not completion.tool_calls and llm.calls == 1 and llm.model_time_s > 0


def test_bench_sim_cli_reports_overhead_throughput_and_memory(tmp_path: Path):
    out = tmp_path / "sim.json"
    args = ["bench", "sim", "--simulations", "12", "--in-flight", "4", "--delay", "0.01", "--rounds", "2"]
    result = CliRunner().invoke(app, [*args, "-n", "4", "--json", str(out)])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    pattern = (
        r"sim: overhead [\d.]+ ms/step \(target 0\.5\); throughput \d+ calls/s = [\d.]+% of ideal 400 "
        r"with 4 in flight; memory \d+ KiB per simulation; CPU per call: harness [\d.]+ ms, "
        r"endpoint [\d.]+ ms \((aiohttp|httpx) on (uvloop|asyncio)\); in the steady window: "
        r"harness [\d.]+ ms, endpoint [\d.]+ ms"
    )
    assert re.fullmatch(pattern, last), last
    numbers = json.loads(out.read_text())
    overhead, throughput = numbers["overhead"], numbers["throughput"]
    assert overhead["simulations"] >= 12 and overhead["agent_steps"] > overhead["simulations"]
    assert overhead["avg_reward"] == 1.0 and overhead["ms_per_step"] > 0
    assert throughput["simulations"] == 8 and throughput["infrastructure_errors"] == 0
    assert throughput["avg_reward"] == 1.0
    assert throughput["ideal_calls_per_s"] == 400 and throughput["model_calls"] > 8
    # the endpoint answers after the delay: no harness can beat the ideal rate (5 % slack for timers)
    assert 0 < throughput["percent_of_ideal"] <= 105
    assert throughput["client_cpu_ms_per_call"] > 0 and throughput["endpoint_cpu_ms_per_call"] > 0


def test_window_cpu_interpolates_between_samples():
    from casework.bench.sim import _window_cpu

    samples = [(0.0, 0.0, 0.0), (1.0, 0.5, 0.1), (2.0, 1.5, 0.3)]
    client, endpoint = _window_cpu(samples, 0.5, 1.5)
    assert client == pytest.approx(0.75) and endpoint == pytest.approx(0.15)
    assert _window_cpu(samples, 0.0, 2.0) == pytest.approx((1.5, 0.3))
    assert _window_cpu(samples[:1], 0.0, 1.0) == (0.0, 0.0)
