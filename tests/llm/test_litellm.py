"""The litellm provider (``casework[litellm]``): provider strings, requests, streaming, retries.

The protocol tests talk to the scripted fake endpoint through litellm's ``openai/`` route; the last
test runs litellm against the real embedded model. All skip when litellm is not installed.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from casework.llm import EndpointConfig, LLMClient, LLMUnavailable
from casework.llm.config import ConfigError

from .fake_server import FakeServer, chat_json, sse_chunks
from .test_client import MSGS, TOOLS, Sleeps

HAVE_LITELLM = importlib.util.find_spec("litellm") is not None
needs_litellm = pytest.mark.skipif(
    not HAVE_LITELLM, reason="litellm is not installed (pip install 'casework[litellm]')"
)


def test_provider_strings_select_litellm():
    assert EndpointConfig(model="xai/grok-2").provider == "litellm"
    assert EndpointConfig(model="anthropic/claude-sonnet-4").provider == "litellm"
    # model names an OpenAI-compatible server serves stay on the openai SDK
    assert EndpointConfig(model="Qwen/Qwen2.5-7B-Instruct").provider == "openai"
    assert EndpointConfig(model="openai/gpt-oss-20b").provider == "openai"
    assert EndpointConfig(model="gpt-4o-mini").provider == "openai"
    # with a base URL the user names the provider; an explicit provider always wins
    assert EndpointConfig(model="xai/grok-2", base_url="http://127.0.0.1:8000/v1").provider == "openai"
    assert (
        EndpointConfig(model="openai/bench", base_url="http://h/v1", provider="litellm").provider == "litellm"
    )


@pytest.mark.skipif(HAVE_LITELLM, reason="litellm is installed")
def test_missing_litellm_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"xai/grok-2.*pip install 'casework\[litellm\]'"):
        LLMClient(EndpointConfig(model="xai/grok-2"))


def _client(fake: FakeServer, **cfg) -> LLMClient:
    cfg.setdefault("timeout_s", 10)
    cfg.setdefault("max_retries", 2)
    config = EndpointConfig(model="openai/fake-model", base_url=fake.base_url, provider="litellm", **cfg)
    return LLMClient(config, role="agent", sleep=Sleeps())


def _chat(client: LLMClient, *args, **kw):
    async def go():
        try:
            return await client.chat(*args, **kw)
        finally:
            await client.aclose()

    return asyncio.run(go())


@needs_litellm
def test_litellm_tool_call_without_streaming():
    tc = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_order_details", "arguments": '{"order_id": "#W1"}'},
        }
    ]
    with FakeServer() as fake:
        fake.set_script([{"json": chat_json(None, tool_calls=tc, finish_reason="tool_calls")}])
        c = _chat(_client(fake, stream=False), MSGS, tools=TOOLS, tool_choice="auto")
        body = fake.requests[0]["body"]
    assert [(t.name, t.arguments) for t in c.tool_calls] == [("get_order_details", '{"order_id": "#W1"}')]
    assert c.finish_reason == "tool_calls" and c.usage.prompt_tokens == 10 and c.usage.completion_tokens == 5
    assert body["model"] == "fake-model" and body["tools"][0]["function"]["name"] == "get_order_details"
    assert not c.usage.streamed and c.usage.retries == 0


@needs_litellm
def test_litellm_streamed_text_records_time_to_first_token():
    with FakeServer() as fake:
        fake.set_script([{"sse": sse_chunks(["Your order ", "has shipped."])}])
        c = _chat(_client(fake), MSGS)
    assert c.content == "Your order has shipped." and c.usage.streamed
    assert c.usage.ttft_s is not None and 0 <= c.usage.ttft_s <= c.usage.latency_s


@needs_litellm
def test_litellm_retries_rate_limits_then_gives_up_with_a_record():
    limited = {"status": 429, "json": {"error": {"message": "slow down", "type": "rate_limit"}}}
    with FakeServer() as fake:
        fake.set_script([limited, {"json": chat_json("ok")}])
        c = _chat(_client(fake, stream=False), MSGS)
        assert c.content == "ok" and c.usage.retries == 1
    with FakeServer() as fake:
        fake.set_script([limited])
        with pytest.raises(LLMUnavailable) as caught:
            _chat(_client(fake, stream=False, max_retries=1), MSGS)
    assert caught.value.record.retries == 1 and "429" in caught.value.record.error


@needs_litellm
@pytest.mark.llm
def test_litellm_against_the_embedded_model(local_model_url):
    from casework.llm.local import MODEL_NAME

    config = EndpointConfig(
        model=f"openai/{MODEL_NAME}",
        base_url=local_model_url,
        provider="litellm",
        temperature=0.0,
        max_tokens=64,
        timeout_s=300,
        parse_text_tool_calls=True,
    )
    messages = [
        {"role": "system", "content": "You are a retail support agent. Use the tools to look up orders."},
        {"role": "user", "content": "Please look up order #W1234567."},
    ]
    c = _chat(LLMClient(config, role="agent"), messages, tools=TOOLS, tool_choice="required")
    assert [t.name for t in c.tool_calls] == ["get_order_details"]
    assert c.usage.prompt_tokens and c.usage.completion_tokens and c.usage.error is None
