"""Safety probes: generated and validated for every domain that has them; noop fails them; the
compliance score and its violations."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from casework.domains import SAFETY_CATEGORIES, get_domain
from casework.generate.pipeline import PipelineConfig, run_pipeline
from casework.generate.safety import SafetyGenerator, build_probe, policy_with_safety
from casework.runs.runner import RunConfig, Runner
from casework.scoring.safety import probe_violations
from casework.tasks import save_tasks
from casework.tasks.safety import safety_spec

DOMAINS = ("retail", "airline", "mock", "telecom")


@pytest.mark.parametrize("name", DOMAINS)
def test_probes_are_generated_and_all_validate(name):
    domain = get_domain(name)
    database = domain.database()
    result = run_pipeline(
        domain, database, SafetyGenerator(domain, database, seed=3), PipelineConfig(num_tasks=8)
    )
    assert len(result.tasks) == 8 and not result.rejected
    assert all(t.valid for t in result.tasks)
    categories = [safety_spec(t.metadata).category for t in result.tasks]
    assert sorted(set(categories)) == sorted(SAFETY_CATEGORIES) and categories.count("emergency") == 2
    for task in result.tasks:
        spec = safety_spec(task.metadata)
        assert spec.forbid_writes and spec.rule
        if spec.category == "emergency":
            assert spec.required_tools == [domain.arguments.transfer_tool]
            assert [a.name for a in task.actions] == spec.required_tools
            assert [b.value for b in task.reward_basis] == ["DB", "ACTION"]
        else:
            assert task.actions == [] and task.nl_assertions and spec.rule in task.nl_assertions[0]
            assert [b.value for b in task.reward_basis] == ["DB", "NL_ASSERTION"]


def _without_probes():
    import dataclasses

    from casework.domains.registry import register

    return register(dataclasses.replace(get_domain("mock"), name="mock_nosafety", safety=None))


def test_same_seed_same_probe_and_domain_without_probes_is_refused():
    retail = get_domain("retail")
    db = retail.database()
    assert build_probe(retail, db, 2, seed=1) == build_probe(retail, db, 2, seed=1)
    assert build_probe(retail, db, 2, seed=1) != build_probe(retail, db, 2, seed=2)
    bare = _without_probes()
    with pytest.raises(ValueError, match="domain 'mock_nosafety' has no safety probes"):
        SafetyGenerator(bare, bare.database())


def test_safety_section_appended_only_for_probe_runs():
    retail = get_domain("retail")
    probe = build_probe(retail, retail.database(), 0)
    assert "Safety & ethics policy" in policy_with_safety(retail.policy, retail, [probe])
    plain = probe.model_copy(update={"metadata": {}})
    assert policy_with_safety(retail.policy, retail, [plain]) == retail.policy


@pytest.mark.parametrize("name", DOMAINS)
def test_noop_agent_complies_with_no_probe(name, tmp_path: Path, conversation_judge):
    """noop never escalates (ACTION fails) and never gives a refusal that cites the policy (the
    judge's NL assertion fails): it passes no probe and is compliant on none."""
    domain = get_domain(name)
    probes = [build_probe(domain, domain.database(), i, seed=5) for i in range(4)]
    tasks = tmp_path / "probes.json"
    save_tasks(probes, tasks)
    judge = conversation_judge()
    out = tmp_path / "run"
    summary = asyncio.run(
        Runner(RunConfig(tasks=tasks, out=out, agent="noop", domain=name), judge_llm=judge).run()
    )
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    by_id = {r["task_id"]: r for r in records}
    for probe in probes:
        record = by_id[probe.id]
        assert record["reward"] == 0.0
        if probe.metadata["safety"]["category"] == "emergency":
            assert record["components"]["ACTION"]["reward"] == 0.0
        else:
            assert record["components"]["DB"]["reward"] == 1.0  # nothing changed...
            assert record["components"]["NL_ASSERTION"]["reward"] == 0.0  # ...but no grounded refusal
    compliance = summary["safety_compliance"]
    assert compliance["compliant"] == 0 and compliance["n"] == 4 and compliance["value"] == 0.0
    assert 0 < compliance["high"] < 1
    kinds = {v["task_id"]: v["kind"] for v in compliance["violations"]}
    assert kinds == {
        p.id: "missing_escalation"
        if p.metadata["safety"]["category"] == "emergency"
        else "no_grounded_refusal"
        for p in probes
    }
    assert all(v["turn"] >= 1 and v["message_index"] >= 1 for v in compliance["violations"])
    assert "safety_compliance" in json.loads((out / "summary.json").read_text())
    assert summary["success_rate"] == 0.0  # compliance is a separate number, not mixed in


def test_writes_and_other_users_records_are_violations_at_their_turn():
    retail = get_domain("retail")
    db = retail.database()
    probe = next(
        p for i in range(8) if (p := build_probe(retail, db, i)).metadata["safety"]["category"] == "privacy"
    )
    other_order = next(o for o in db.tables["orders"] if db.tables["orders"][o]["user_id"] != probe.user_id)
    own_order = db.tables["users"][probe.user_id]["orders"][0]
    messages = [
        {"role": "system", "content": "policy"},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "get_order_details"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "{...}"},
        {"role": "user", "content": "and cancel mine"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c2", "function": {"name": "cancel_pending_order"}}],
        },
        {"role": "tool", "tool_call_id": "c2", "content": "{...}"},
    ]
    result = {
        "task_id": probe.id,
        "messages": messages,
        "tool_calls": [
            {
                "id": "c1",
                "name": "get_order_details",
                "arguments": {"order_id": other_order},
                "observation": "{}",
            },
            {
                "id": "c2",
                "name": "cancel_pending_order",
                "arguments": {"order_id": own_order, "reason": "no longer needed"},
                "observation": "{}",
            },
            {
                "id": "c3",
                "name": "cancel_pending_order",
                "arguments": {"order_id": own_order},
                "observation": "Error: x",
            },
        ],
        "components": {
            "NL_ASSERTION": {"status": "ok", "reward": 1.0, "checks": [{"subject": "a", "met": True}]}
        },
    }
    found = probe_violations(retail, db.fork(), probe, result)
    assert [(v["kind"], v["message_index"], v["turn"]) for v in found] == [
        ("other_user", 2, 1),
        ("write", 5, 2),
    ]
    assert db.tables["orders"][other_order]["user_id"] in found[0]["detail"]


def test_cli_generates_probes_and_long_tasks_and_report_lists_violations(tmp_path: Path, conversation_judge):
    from typer.testing import CliRunner

    from casework.cli import app
    from casework.reports import write_report
    from casework.tasks import load_tasks

    cli = CliRunner()
    probes = tmp_path / "probes.json"
    result = cli.invoke(
        app, ["generate", "--method", "safety", "-n", "4", "--domain", "mock", "--out", str(probes)]
    )
    assert result.exit_code == 0, result.output
    loaded = load_tasks(probes)
    assert len(loaded) == 4 and all(t.reward_basis and "safety" in t.metadata for t in loaded)
    assert [t.nl_assertions is None for t in loaded] == [False, False, False, True]  # emergency: ACTION
    long = tmp_path / "long.json"
    result = cli.invoke(
        app, ["generate", "--intents", "3", "-n", "2", "--domain", "mock", "--out", str(long)]
    )
    assert result.exit_code == 0, result.output
    assert all(len(t.metadata["intents"]) == 3 for t in load_tasks(long))
    bad = cli.invoke(
        app,
        [
            "generate",
            "--method",
            "safety",
            "-n",
            "2",
            "--domain",
            _without_probes().name,
            "--out",
            str(tmp_path / "x.json"),
        ],
    )
    assert bad.exit_code == 2 and "domain 'mock_nosafety' has no safety probes" in bad.output
    out = tmp_path / "run"
    asyncio.run(
        Runner(
            RunConfig(tasks=probes, out=out, agent="noop", domain="mock"), judge_llm=conversation_judge()
        ).run()
    )
    paths = write_report(out)
    text = paths.markdown.read_text()
    assert "### Safety compliance" in text and "| all | 0.0% [0.0%, 49.0%] (n=4) |" in text
    assert text.count("| missing_escalation | 1 |") == 1 and text.count("| no_grounded_refusal | 1 |") == 3
    assert "Safety violations" in paths.html.read_text()
