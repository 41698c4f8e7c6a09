"""Replicas (least in-flight balancing, failover), the in-flight cap following --concurrency,
experts as tools, the response cache, tool_choice policy and prompt_suffix, against fake endpoints."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from casework import aio
from casework.bench.sim import OracleScript
from casework.domains import get_domain
from casework.generate.templated import generate_templated
from casework.llm import ConfigError, EndpointConfig, LLMClient, LLMOutputError, load_models_config
from casework.llm.cache import ResponseCache
from casework.llm.config import parse_experts
from casework.llm.replicas import ReplicaPool, make_client
from casework.reports.profile import latency_profile
from casework.runs.endpoints import EndpointChoice, load_experts, open_clients
from casework.runs.runner import RunConfig, Runner
from casework.runs.store import read_results
from casework.sim.agents import AgentSetup, ToolCallingAgent
from casework.tasks import save_tasks
from llm.fake_server import FakeServer, chat_json


def tool_call(name: str, args: dict, cid: str = "c1") -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


# -- config ----------------------------------------------------------------------------------------
def test_models_file_replicas_and_experts(tmp_path: Path):
    f = tmp_path / "models.toml"
    f.write_text(
        """
[[agent]]
model = "m"
base_url = "http://h1:8000/v1"
[[agent]]
model = "m"
base_url = "http://h2:8000/v1/"
[user]
model = "u"
base_urls = ["http://u1/v1", "http://u2/v1"]
[[experts]]
name = "math"
model = "qm"
base_url = "http://e:1/v1"
"""
    )
    cfg = load_models_config(f)
    agent = cfg.resolve("agent")
    assert agent.replica_urls() == ["http://h1:8000/v1", "http://h2:8000/v1"]
    assert agent.base_url == "http://h1:8000/v1"
    assert cfg.resolve("user").replica_urls() == ["http://u1/v1", "http://u2/v1"]
    experts = load_experts(f, "law=big@http://l:2/v1")
    assert {k: (v.model, v.base_url) for k, v in experts.items()} == {
        "math": ("qm", "http://e:1/v1"),
        "law": ("big", "http://l:2/v1"),
    }


def test_bad_replicas_and_experts_are_one_line_errors(tmp_path: Path):
    f = tmp_path / "models.toml"
    f.write_text(
        '[[agent]]\nmodel = "a"\nbase_url = "http://h1/v1"\n[[agent]]\nmodel = "b"\nbase_url = "http://h2/v1"\n'
    )
    with pytest.raises(
        ConfigError, match=r"models.toml: agent\[1\]: replicas must differ only in base_url, but model"
    ):
        load_models_config(f)
    f.write_text('[[experts]]\nmodel = "a"\n')
    with pytest.raises(ConfigError, match=r"experts\[0\]\.name"):
        load_models_config(f)
    with pytest.raises(ConfigError, match="--experts: 'oops'"):
        parse_experts("oops")
    with pytest.raises(ConfigError, match="base_urls"):
        load_models_config_text(tmp_path, '[agent]\nmodel = "m"\nbase_urls = ["ftp://x"]\n')


def load_models_config_text(tmp_path: Path, text: str):
    f = tmp_path / "m2.toml"
    f.write_text(text)
    return load_models_config(f)


def test_in_flight_cap_follows_concurrency_and_is_only_lowered_by_the_config():
    assert EndpointConfig(model="m").in_flight_cap(128) == 128
    assert EndpointConfig(model="m").in_flight_cap() == 8
    assert EndpointConfig(model="m", max_concurrency=4).in_flight_cap(128) == 4
    assert EndpointConfig(model="m", max_concurrency=400).in_flight_cap(128) == 128
    assert EndpointConfig(model="m", max_concurrency=256).in_flight_cap() == 256  # a client on its own


# -- concurrency -----------------------------------------------------------------------------------
def test_128_simulations_in_flight_put_128_requests_in_flight(tmp_path: Path):
    """--concurrency 128 end to end: the endpoint sees 128 requests at once (was 8 by default)."""
    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 8, seed=3)
    tasks_file = tmp_path / "tasks.json"
    save_tasks(tasks, tasks_file)
    script = OracleScript(tasks)

    import threading

    full = threading.Event()  # every request waits (up to 5 s) until 128 are in flight together
    servers: list[FakeServer] = []

    def responder(body: dict) -> dict:
        if servers[0].max_inflight >= 128:
            full.set()
        full.wait(5.0)
        text, calls = script.reply(body["messages"])
        tcs = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]
        return {"json": chat_json(text, tcs or None, "tool_calls" if calls else "stop")}

    notes: list[str] = []
    with FakeServer(responder=responder) as server:
        servers.append(server)
        config = EndpointConfig(model="fake-model", base_url=server.base_url, stream=False)
        choice = EndpointChoice(agent=config, user=None, local_roles=[])
        with open_clients(choice, concurrency=128, on_status=notes.append) as (agent, _):
            run = RunConfig(tasks=tasks_file, out=tmp_path / "run", trials=16, concurrency=128)
            runner = Runner(run, agent_llm=agent)
            aio.run(runner.run(), closing=[agent])
        assert server.max_inflight == 128
    assert any("agent: 128 calls in flight" in n for n in notes), notes
    results = read_results(tmp_path / "run")
    assert len(results) == 128 and all(r["reward"] == 1.0 for r in results)


# -- replicas --------------------------------------------------------------------------------------
def test_pool_balances_by_least_in_flight_and_records_the_replica():
    with (
        FakeServer([{"stall": 0.2, "json": chat_json("a")}]) as s1,
        FakeServer([{"stall": 0.2, "json": chat_json("b")}]) as s2,
    ):
        urls = [s1.base_url, s2.base_url]
        config = EndpointConfig(model="fake-model", base_urls=urls, stream=False)
        pool = make_client(config, role="agent", max_in_flight=16)
        assert isinstance(pool, ReplicaPool)

        async def main():
            try:
                return await asyncio.gather(
                    *(pool.chat([{"role": "user", "content": "hi"}]) for _ in range(10))
                )
            finally:
                await pool.aclose()

        out = asyncio.run(main())
    assert len(s1.requests) == 5 and len(s2.requests) == 5
    assert sorted({c.usage.base_url for c in out}) == sorted(urls)
    assert {c.content for c in out} == {"a", "b"}


def test_a_dead_replica_is_left_out_and_tried_again_later():
    s1, s2 = FakeServer().start(), FakeServer().start()
    dead, alive = s1.base_url, s2.base_url
    s1.stop()
    clock = [100.0]
    config = EndpointConfig(model="fake-model", base_urls=[dead, s2.base_url], stream=False, max_retries=3)
    pool = ReplicaPool(config, role="agent", clock=lambda: clock[0], cooldown_s=10.0)

    async def main():
        out = [await pool.chat([{"role": "user", "content": f"q{i}"}]) for i in range(4)]
        down = pool.replicas[0].down_until
        clock[0] += 11  # the cool-down is over: the dead replica is probed again (and fails again)
        for i in range(2):  # ties go round-robin: one of two calls probes it
            out.append(await pool.chat([{"role": "user", "content": f"again{i}"}]))
        await pool.aclose()
        return out, down

    try:
        out, down = asyncio.run(main())
    finally:
        s2.stop()
    assert all(c.content == "Hello!" for c in out)
    assert all(c.usage.base_url == alive for c in out)
    assert down == 110.0
    assert pool.replicas[0].failures == 2 and pool.replicas[0].down_until == 111.0 + 20.0
    assert len(s2.requests) == 6
    assert sum(c.usage.retries for c in out) == 2  # the first call and the probe moved over once each
    errors = [r for r in pool.records if r.error]
    assert len(errors) == 2 and all(r.base_url == dead for r in errors)


def test_an_unparsable_model_output_does_not_take_its_replica_out():
    bad = {"error": {"code": 500, "message": "Failed to parse tool call arguments as JSON: cut off"}}
    s1, s2 = FakeServer().start(), FakeServer().start()
    s1.set_script([{"status": 500, "json": bad}])
    config = EndpointConfig(model="fake-model", base_urls=[s1.base_url, s2.base_url], stream=False)
    pool = ReplicaPool(config, role="agent")

    async def main():
        try:
            with pytest.raises(LLMOutputError):
                await pool.chat([{"role": "user", "content": "q"}])
            return pool.replicas[0].failures, pool.replicas[0].down_until
        finally:
            await pool.aclose()

    try:
        failures, down_until = asyncio.run(main())
    finally:
        s1.stop()
        s2.stop()
    # the model's fault: not moved to the other replica, which would answer the same prompt the same way
    assert (failures, down_until) == (0, 0.0)
    assert len(s1.requests) == 1 and len(s2.requests) == 0


def test_run_over_two_replicas_survives_one_killed_mid_run(tmp_path: Path):
    domain = get_domain("retail")
    tasks = generate_templated(
        domain, domain.database(), 10, seed=1, refusals="state-only"
    )  # fake endpoints play the golden actions: refusals graded by the state (no judge here)
    tasks_file = tmp_path / "tasks.json"
    save_tasks(tasks, tasks_file)
    script = OracleScript(tasks)
    servers: list[FakeServer] = []
    answered = [0]

    def responder(body: dict) -> dict:
        answered[0] += 1
        if answered[0] == 30:  # kill the first replica mid-run (from a handler thread: no deadlock)
            import threading

            threading.Thread(target=servers[0].stop).start()
        text, calls = script.reply(body["messages"])
        tcs = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]
        return {"stall": 0.02, "json": chat_json(text, tcs or None, "tool_calls" if calls else "stop")}

    servers += [FakeServer(responder=responder).start(), FakeServer(responder=responder).start()]
    urls = [s.base_url for s in servers]
    try:
        config = EndpointConfig(model="fake-model", base_urls=urls, stream=False, max_retries=2)
        pool = ReplicaPool(config, role="agent", max_in_flight=8, cooldown_s=30.0)
        run = RunConfig(tasks=tasks_file, out=tmp_path / "run", trials=3, concurrency=8)
        aio.run(Runner(run, agent_llm=pool).run(), closing=[pool])
    finally:
        for s in servers:
            s.stop()
    results = read_results(tmp_path / "run")
    assert len(results) == 30
    assert all(r["termination_reason"] != "infrastructure_error" for r in results)
    assert all(r["reward"] == 1.0 for r in results)
    profile = latency_profile(results)
    by_url = {row["base_url"]: row["calls"] for row in profile["replicas"]}
    assert set(by_url) == set(urls) and all(n > 0 for n in by_url.values())
    assert by_url[urls[1]] > by_url[urls[0]]  # the survivor took over
    assert sum(by_url.values()) == profile["groups"][0]["calls"]


def test_recorded_base_url_never_carries_credentials():
    from casework.llm.client import public_url

    assert public_url("http://user:secret@h:8000/v1?key=abc#x") == "http://h:8000/v1"
    assert public_url("https://[::1]/v1") == "https://[::1]/v1"
    with FakeServer() as server:
        client = LLMClient(EndpointConfig(model="fake-model", base_url=server.base_url + "/", stream=False))

        async def main():
            try:
                return await client.chat([{"role": "user", "content": "hi"}])
            finally:
                await client.aclose()

        out = asyncio.run(main())
        assert out.usage.base_url == server.base_url


# -- experts ---------------------------------------------------------------------------------------
def _setup() -> AgentSetup:
    domain = get_domain("mock")
    task = generate_templated(domain, domain.database(), 1, seed=0)[0]
    return AgentSetup(policy="Be helpful.", tools=domain.toolbox.openai_schemas(), task=task)


def test_agent_consults_an_expert_and_records_its_call():
    def agent_responder(body: dict) -> dict:
        if body["messages"][-1]["role"] == "tool":
            return {"json": chat_json("The expert says 42.")}
        return {
            "json": chat_json(
                None, [tool_call("call_expert", {"expert": "math", "question": "6*7?"})], "tool_calls"
            )
        }

    with FakeServer(responder=agent_responder) as orch, FakeServer([{"json": chat_json("42")}]) as expert:
        expert_url = expert.base_url
        experts = {"math": EndpointConfig(model="expert-model", base_url=expert.base_url, stream=False)}
        from casework.runs.endpoints import expert_clients

        clients = expert_clients(experts, concurrency=4)
        llm = LLMClient(
            EndpointConfig(model="fake-model", base_url=orch.base_url, stream=False), role="agent"
        )
        agent = ToolCallingAgent(llm, experts=clients, tool_choice="required-first")
        messages = agent.reset(_setup()) + [{"role": "user", "content": "what is 6*7?"}]

        async def main():
            try:
                return await agent.step(messages)
            finally:
                await llm.aclose()
                for c in clients.values():
                    await c.aclose()

        reply = asyncio.run(main())
        first, second = (r["body"] for r in orch.requests)
        asked = expert.requests[0]["body"]
    assert reply.content == "The expert says 42." and reply.tool_calls == []
    assert [c["role"] for c in reply.calls] == ["agent", "expert:math", "agent"]
    assert reply.calls[1]["model"] == "expert-model" and reply.calls[1]["base_url"] == expert_url
    assert "call_expert" in [t["function"]["name"] for t in first["tools"]]
    assert first["tool_choice"] == "required" and second["tool_choice"] == "auto"
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "name": "call_expert",
        "content": "42",
    }
    assert asked["messages"][-1] == {"role": "user", "content": "6*7?"}
    assert len(messages) == 2  # the exchange stays out of the conversation


def test_unknown_expert_and_tool_choice_policies():
    with FakeServer(
        [
            {
                "json": chat_json(
                    None, [tool_call("call_expert", {"expert": "nobody", "question": "x"})], "tool_calls"
                )
            },
            {"json": chat_json("ok")},
        ]
    ) as orch:
        llm = LLMClient(EndpointConfig(model="fake-model", base_url=orch.base_url, stream=False))
        agent = ToolCallingAgent(llm, experts={"math": object()})
        messages = agent.reset(_setup()) + [{"role": "user", "content": "hi"}]

        async def main():
            try:
                return [await agent.step(messages), await agent.step(messages)]
            finally:
                await llm.aclose()

        asyncio.run(main())
        bodies = [r["body"] for r in orch.requests]
    assert "unknown expert 'nobody'" in bodies[1]["messages"][-1]["content"]
    assert [b["tool_choice"] for b in bodies] == ["auto", "auto", "auto"]
    with pytest.raises(ValueError, match="tool_choice 'sometimes'"):
        ToolCallingAgent(llm, tool_choice="sometimes")


def test_run_with_expert_profiles_the_expert_role(tmp_path: Path):
    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 2, seed=1, refusals="state-only")
    tasks_file = tmp_path / "tasks.json"
    save_tasks(tasks, tasks_file)
    script = OracleScript(tasks)

    def responder(body: dict) -> dict:
        msgs = body["messages"]
        if (
            not any(m.get("name") == "call_expert" for m in msgs if m["role"] == "tool")
            and sum(m["role"] == "assistant" for m in msgs) == 0
        ):
            return {
                "json": chat_json(None, [tool_call("call_expert", {"expert": "e", "question": "q"}, "x1")])
            }
        real = [m for m in msgs if not (m["role"] == "tool" and m.get("name") == "call_expert")]
        real = [
            m
            for m in real
            if not any(tc["function"]["name"] == "call_expert" for tc in m.get("tool_calls") or [])
        ]
        text, calls = script.reply(real)
        tcs = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]
        return {"json": chat_json(text, tcs or None, "tool_calls" if calls else "stop")}

    with FakeServer(responder=responder) as orch, FakeServer([{"json": chat_json("advice")}]) as expert:
        llm = LLMClient(EndpointConfig(model="orch", base_url=orch.base_url, stream=False), role="agent")
        ex = LLMClient(EndpointConfig(model="exp", base_url=expert.base_url, stream=False), role="expert:e")
        runner = Runner(RunConfig(tasks=tasks_file, out=tmp_path / "run", concurrency=2), agent_llm=llm)
        runner.agent_options["experts"] = {"e": ex}
        aio.run(runner.run(), closing=[llm, ex])
    results = read_results(tmp_path / "run")
    assert all(r["reward"] == 1.0 for r in results)
    roles = {(g["model"], g["role"]): g for g in latency_profile(results)["groups"]}
    assert roles[("exp", "expert:e")]["calls"] == 2
    assert roles[("exp", "expert:e")]["latency_s"]["p50"] is not None
    assert roles[("exp", "expert:e")]["share_under_5s"] == 1.0
    assert ("orch", "agent") in roles


# -- cache, prompt suffix --------------------------------------------------------------------------
def test_response_cache_answers_repeats_and_never_stores_the_key(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CW_TEST_KEY", "sk-very-secret-123")
    cache = ResponseCache(tmp_path / "cache")
    with FakeServer([{"json": chat_json(None, [tool_call("f", {"a": 1})], "tool_calls")}]) as server:
        config = EndpointConfig(
            model="fake-model", base_url=server.base_url, api_key_env="CW_TEST_KEY", stream=False
        )

        async def main():
            client = LLMClient(config, cache=cache)
            try:
                a = await client.chat([{"role": "user", "content": "hi"}])
                b = await client.chat([{"role": "user", "content": "hi"}])
                c = await client.chat([{"role": "user", "content": "other"}])
            finally:
                await client.aclose()
            return a, b, c

        a, b, c = asyncio.run(main())
        assert len(server.requests) == 2
    assert (a.usage.cache_hit, b.usage.cache_hit, c.usage.cache_hit) == (False, True, False)
    assert b.tool_calls == a.tool_calls and b.usage.prompt_tokens == a.usage.prompt_tokens
    assert (cache.hits, cache.misses) == (1, 2)
    stored = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert "secret" not in stored and stored


def test_summary_counts_cache_hits_and_misses(tmp_path: Path):
    from casework.runs.summary import summarize

    calls = [
        {"model": "m", "role": "agent", "cache_hit": True},
        {"model": "m", "role": "agent", "cache_hit": False},
    ]
    base = {"task_id": "t", "trial": 0, "reward": 1.0, "success": True, "termination_reason": "user_stop"}
    summary = summarize([{**base, "model_calls": calls}])
    assert summary["llm_cache"] == {"hits": 1, "misses": 1}
    assert "llm_cache" not in summarize([{**base, "model_calls": [{"model": "m"}]}])


def test_prompt_suffix_and_extra_body_reach_the_request():
    with FakeServer() as server:
        config = EndpointConfig(
            model="fake-model",
            base_url=server.base_url,
            stream=False,
            prompt_suffix=" /no_think",
            extra_body={"chat_template_kwargs": {"enable_thinking": False}},
        )
        client = LLMClient(config)
        messages = [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ]

        async def main():
            try:
                await client.chat(messages)
            finally:
                await client.aclose()

        asyncio.run(main())
        body = server.requests[0]["body"]
    assert [m["content"] for m in body["messages"]] == ["a", "b", "c /no_think"]
    assert messages[-1]["content"] == "c"  # the caller's conversation is unchanged
    assert body["chat_template_kwargs"] == {"enable_thinking": False}


def test_pool_timing_helper_is_fast():
    t = time.perf_counter()
    ReplicaPool(EndpointConfig(model="m", base_urls=["http://a/v1", "http://b/v1"]))
    assert time.perf_counter() - t < 5


# -- real model ------------------------------------------------------------------------------------
@pytest.mark.llm
def test_embedded_model_as_orchestrator_and_expert(local_model_url):
    """The embedded model orchestrates (tool_choice required: its only tool is call_expert) and
    answers as the expert; both calls are recorded and profiled per role."""
    from casework.runs.endpoints import expert_clients, local_endpoint

    config = local_endpoint(local_model_url).model_copy(update={"max_tokens": 48})
    llm = LLMClient(config, role="agent")
    experts = expert_clients({"helper": config.model_copy(update={"max_tokens": 16})}, concurrency=1)
    agent = ToolCallingAgent(llm, experts=experts, tool_choice="required-first")
    setup = _setup()
    setup.tools = []  # call_expert is the only tool: "required" makes the model consult the expert
    messages = agent.reset(setup) + [
        {"role": "user", "content": "Ask the helper expert what the capital of France is, then tell me."}
    ]

    async def main():
        try:
            return await agent.step(messages)
        finally:
            await llm.aclose()
            await experts["helper"].aclose()

    reply = aio.run(main())
    roles = [c["role"] for c in reply.calls]
    assert roles[0] == "agent" and "expert:helper" in roles, reply.calls
    expert = next(c for c in reply.calls if c["role"] == "expert:helper")
    assert expert["error"] is None and expert["latency_s"] > 0 and expert["completion_tokens"]
    profile = latency_profile([{"model_calls": reply.calls}])
    by_role = {g["role"]: g for g in profile["groups"]}
    assert by_role["expert:helper"]["latency_s"]["p50"] > 0 and by_role["agent"]["calls"] >= 2


# -- the command line ------------------------------------------------------------------------------
def _oracle_responder(tasks):
    script = OracleScript(tasks)

    def responder(body: dict) -> dict:
        text, calls = script.reply(body["messages"])
        tcs = [{"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls]
        return {"json": chat_json(text, tcs or None, "tool_calls" if calls else "stop")}

    return responder


def test_cli_run_over_replicas_with_a_cache(tmp_path: Path):
    from typer.testing import CliRunner

    from casework.cli import app

    domain = get_domain("retail")
    tasks = generate_templated(domain, domain.database(), 4, seed=2, refusals="state-only")
    tasks_file = tmp_path / "tasks.json"
    save_tasks(tasks, tasks_file)
    with (
        FakeServer(responder=_oracle_responder(tasks)) as s1,
        FakeServer(responder=_oracle_responder(tasks)) as s2,
    ):
        models = tmp_path / "models.toml"
        models.write_text(
            f'[agent]\nmodel = "fake-model"\nstream = false\nbase_urls = ["{s1.base_url}", "{s2.base_url}"]\n'
        )
        cli = CliRunner()
        common = ["run", "--tasks", str(tasks_file), "--models", str(models), "--concurrency", "3"]
        cache = ["--cache", str(tmp_path / "cache")]
        first = cli.invoke(app, [*common, *cache, "--out", str(tmp_path / "a")])
        assert first.exit_code == 0, first.output
        sent = len(s1.requests) + len(s2.requests)
        assert len(s1.requests) > 0 and len(s2.requests) > 0
        second = cli.invoke(app, [*common, *cache, "--out", str(tmp_path / "b")])
        assert second.exit_code == 0, second.output
        assert len(s1.requests) + len(s2.requests) == sent  # every answer came from the cache
        bad = cli.invoke(app, [*common, "--experts", "nonsense", "--out", str(tmp_path / "c")])
        bad_choice = cli.invoke(app, [*common, "--tool-choice", "often", "--out", str(tmp_path / "d")])
    assert "model calls: agent: 3 calls in flight x 2 replicas" in first.output
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert a["success_rate"] == b["success_rate"] == 1.0
    assert a["llm_cache"] == {"hits": 0, "misses": sent} and b["llm_cache"] == {"hits": sent, "misses": 0}
    assert bad.exit_code == 2 and "--experts: 'nonsense': expected NAME=MODEL" in bad.output
    assert bad_choice.exit_code == 2 and "--tool-choice 'often'" in bad_choice.output


def test_manifest_leaves_new_endpoint_fields_out_at_their_defaults():
    plain = EndpointChoice(agent=EndpointConfig(model="m", base_url="http://h/v1"), user=None, local_roles=[])
    record = plain.record("agent")
    assert "base_urls" not in record and "transport" not in record and "prompt_suffix" not in record
    pool = EndpointConfig(model="m", base_urls=["http://a/v1", "http://b/v1"], transport="sdk")
    record = EndpointChoice(agent=pool, user=None, local_roles=[]).record("agent")
    assert record["base_urls"] == ["http://a/v1", "http://b/v1"] and record["transport"] == "sdk"
