"""The harness's speed-ups must not change a single byte of a deterministic run's results.

Three deterministic runs (the oracle agent; the tool-calling agent with an instant in-process oracle
model; the tool-calling agent through the real HTTP client against the benchmark's oracle endpoint)
are compared line by line with ``data/identity_results.json``: the sha256 of each result line as
``results.jsonl`` holds it, with the wall-clock fields (timings, timestamps, latencies) taken out.
The expectation was written by the code before the speed-ups of issue 14 (``python -m
tests.bench.test_result_identity`` from a checkout of that code prints it)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

EXPECTED = Path(__file__).parent / "data" / "identity_results.json"
# fields that hold wall-clock times (and the endpoint's random port): they differ between any two runs
VOLATILE = {
    "execution_time",
    "model_response_time",
    "user_response_time",
    "tool_execution_time",
    "message_times",
}
VOLATILE_CALL = {"started_at", "latency_s", "decode_tokens_per_s", "ttft_s", "duration_s", "base_url"}


def stable(raw: bytes) -> str:
    """A result line as written (key order kept) without its wall-clock fields."""
    line = json.loads(raw)
    for key in VOLATILE:
        line.pop(key, None)
    for key in ("model_calls", "tool_calls"):
        line[key] = [{k: v for k, v in c.items() if k not in VOLATILE_CALL} for c in line.get(key) or []]
    return json.dumps(line)


def _lines(out: Path) -> dict[str, str]:
    lines = (out / "results.jsonl").read_bytes().splitlines()
    keyed = {}
    for raw in lines:
        line = json.loads(raw)
        keyed[f"{line['task_id']}#{line['trial']}"] = hashlib.sha256(stable(raw).encode()).hexdigest()
    return dict(sorted(keyed.items()))


def identity_digests(work: Path) -> dict[str, dict[str, str]]:
    from casework.bench.sim import EndpointProcess, InstantLLM, OracleScript
    from casework.domains import get_domain
    from casework.generate.templated import generate_templated
    from casework.llm import EndpointConfig, LLMClient
    from casework.runs.runner import RunConfig, Runner
    from casework.tasks import save_tasks

    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 6, seed=3)
    tasks_file = work / "tasks.json"
    save_tasks(tasks, tasks_file)
    out: dict[str, dict[str, str]] = {}

    def run(name: str, agent: str, llm: Any) -> None:
        config = RunConfig(tasks=tasks_file, out=work / name, agent=agent, trials=2, concurrency=3)

        async def main() -> None:
            client = llm() if callable(llm) else llm
            try:
                await Runner(config, agent_llm=client).run()
            finally:
                if hasattr(client, "aclose"):
                    await client.aclose()

        asyncio.run(main())
        out[name] = _lines(work / name)

    run("oracle", "oracle", None)
    run("instant", "tool-calling", InstantLLM(OracleScript(tasks)))
    with EndpointProcess(tasks_file, 0.0) as endpoint:
        config = EndpointConfig(model="bench", base_url=endpoint.base_url, max_retries=0)
        run("http", "tool-calling", lambda: LLMClient(config, role="agent"))
    return out


def test_deterministic_results_are_byte_identical_to_the_stored_expectation(tmp_path: Path):
    expected = json.loads(EXPECTED.read_text())
    got = identity_digests(tmp_path)
    for name in expected:
        assert got[name].keys() == expected[name].keys(), name
        changed = [pair for pair, digest in expected[name].items() if got[name][pair] != digest]
        assert not changed, f"{name}: result lines changed for {changed}"


if __name__ == "__main__":  # pragma: no cover - writes the expectation (run with the reference code)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        json.dump(identity_digests(Path(tmp)), sys.stdout, indent=1)
