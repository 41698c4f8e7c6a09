"""LLMClient against a scripted fake endpoint: protocol edge cases and fault injection."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from casework.llm import (
    CallRecord,
    EndpointConfig,
    LLMClient,
    LLMOutputError,
    LLMRequestError,
    LLMUnavailable,
)
from casework.llm.config import PriceTable

from .fake_server import FakeServer, chat_json, sse_chunks

MSGS = [{"role": "user", "content": "Where is my order #W1?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_details",
            "description": "Get an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]


TRANSPORT = {"name": "aiohttp"}


@pytest.fixture(autouse=True, params=["aiohttp", "sdk"])
def transport(request):
    """Every protocol test runs on the lean aiohttp transport (the default) and on the openai SDK."""
    TRANSPORT["name"] = request.param
    yield request.param
    TRANSPORT["name"] = "aiohttp"


@pytest.fixture
def fake():
    with FakeServer() as srv:
        yield srv


class Sleeps:
    def __init__(self):
        self.delays: list[float] = []

    async def __call__(self, d: float) -> None:
        self.delays.append(d)


def make(fake, sleeps=None, **cfg) -> LLMClient:
    cfg.setdefault("timeout_s", 5)
    cfg.setdefault("max_retries", 3)
    cfg.setdefault("transport", TRANSPORT["name"])
    return LLMClient(
        EndpointConfig(model="fake-model", base_url=fake.base_url, **cfg),
        role="agent",
        sleep=sleeps or Sleeps(),
    )


def run(coro):
    return asyncio.run(coro)


async def _chat(client, *a, **kw):
    try:
        return await client.chat(*a, **kw)
    finally:
        await client.aclose()


# ----------------------------------------------------------------------------- happy paths


def test_streamed_text_and_usage(fake):
    fake.set_script([{"sse": sse_chunks(["Your order ", "has shipped."])}])
    client = make(fake, price=PriceTable(prompt=1.0, completion=2.0, cached=0.5))
    c = run(_chat(client, MSGS))
    assert c.content == "Your order has shipped." and c.tool_calls == [] and c.finish_reason == "stop"
    u = c.usage
    assert u.streamed and u.role == "agent" and u.model == "fake-model"
    assert (u.prompt_tokens, u.completion_tokens, u.cached_tokens) == (12, 6, 8)
    assert u.ttft_s is not None and 0 <= u.ttft_s <= u.latency_s
    assert u.decode_tokens_per_s and u.decode_tokens_per_s > 0
    assert u.cost_usd == pytest.approx((4 * 1.0 + 8 * 0.5 + 6 * 2.0) / 1e6)
    assert client.records == [u]
    req = fake.requests[0]["body"]
    assert req["stream"] is True and req["stream_options"] == {"include_usage": True}


def test_streamed_tool_call_deltas_assembled(fake):
    fake.set_script(
        [
            {
                "sse": sse_chunks(
                    tool_calls=[
                        ("call_a", "get_order_details", ['{"order', '_id": ', '"#W1"}']),
                        ("call_b", "get_order_details", ['{"order_id": "#W2"}']),
                    ]
                )
            }
        ]
    )
    c = run(_chat(make(fake), MSGS, tools=TOOLS, tool_choice="auto"))
    assert [(t.id, t.name, json.loads(t.arguments)) for t in c.tool_calls] == [
        ("call_a", "get_order_details", {"order_id": "#W1"}),
        ("call_b", "get_order_details", {"order_id": "#W2"}),
    ]
    assert c.finish_reason == "tool_calls" and c.content is None
    body = fake.requests[0]["body"]
    assert body["tools"] == TOOLS and body["tool_choice"] == "auto"


def test_non_streaming_tool_calls(fake):
    tc = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_order_details", "arguments": '{"order_id": "#W1"}'},
        }
    ]
    fake.set_script([{"json": chat_json(None, tool_calls=tc, finish_reason="tool_calls")}])
    c = run(_chat(make(fake, stream=False), MSGS, tools=TOOLS))
    assert c.tool_calls[0].arguments == '{"order_id": "#W1"}' and c.usage.cached_tokens == 4
    assert not c.usage.streamed and c.usage.ttft_s is None
    assert "stream" not in fake.requests[0]["body"]


def test_reasoning_is_cleaned(fake):
    fake.set_script([{"sse": sse_chunks(["<think>check the", " order</think>", "It shipped."])}])
    c = run(_chat(make(fake), MSGS))
    assert (
        c.content == "It shipped." and "<think>" in c.raw_content and "check the order" in c.reasoning_content
    )


def test_text_tool_call_recovery_when_enabled(fake):
    text = '```json\n{"name": "get_order_details", "arguments": {"order_id": "#W1"}}\n```'
    fake.set_script([{"sse": sse_chunks([text])}])
    c = run(_chat(make(fake, parse_text_tool_calls=True), MSGS, tools=TOOLS))
    assert (
        c.tool_calls[0].name == "get_order_details" and c.content is None and c.finish_reason == "tool_calls"
    )
    fake.set_script([{"sse": sse_chunks([text])}])
    c = run(_chat(make(fake), MSGS, tools=TOOLS))
    assert c.tool_calls == [] and c.content == text


def test_named_tool_choice_native_and_emulated(fake):
    named = {"type": "function", "function": {"name": "get_order_details"}}
    other = {
        "type": "function",
        "function": {"name": "other", "parameters": {"type": "object", "properties": {}}},
    }
    run(_chat(make(fake), MSGS, tools=[*TOOLS, other], tool_choice=named))
    assert fake.requests[-1]["body"]["tool_choice"] == named
    run(_chat(make(fake, named_tool_choice="emulate"), MSGS, tools=[*TOOLS, other], tool_choice=named))
    body = fake.requests[-1]["body"]
    assert body["tool_choice"] == "required" and [t["function"]["name"] for t in body["tools"]] == [
        "get_order_details"
    ]


def test_params_and_defaults_forwarded(fake):
    run(
        _chat(
            make(fake, temperature=0.0, max_tokens=50, extra_body={"cache_prompt": True}),
            MSGS,
            seed=7,
            max_tokens=20,
        )
    )
    body = fake.requests[0]["body"]
    assert (
        body["temperature"] == 0.0
        and body["max_tokens"] == 20
        and body["seed"] == 7
        and body["cache_prompt"] is True
    )


def test_stream_rejected_falls_back(fake):
    fake.set_script(
        [
            {
                "status": 400,
                "json": {"error": {"message": "streaming is not supported", "type": "invalid_request_error"}},
            },
            {"json": chat_json("fine")},
        ]
    )
    client = make(fake)
    c = run(_chat(client, MSGS))
    assert c.content == "fine" and not c.usage.streamed and c.usage.retries == 0
    assert fake.requests[0]["body"].get("stream") is True and "stream" not in fake.requests[1]["body"]


# ----------------------------------------------------------------------------- fault injection


def test_429_honours_retry_after(fake):
    sleeps = Sleeps()
    fake.set_script(
        [
            {"status": 429, "headers": {"Retry-After": "3"}, "json": {"error": {"message": "slow down"}}},
            {"sse": sse_chunks(["ok"])},
        ]
    )
    c = run(_chat(make(fake, sleeps), MSGS))
    assert c.content == "ok" and c.usage.retries == 1 and sleeps.delays == [3.0]


def test_500_then_success_with_jittered_backoff(fake):
    sleeps = Sleeps()
    fake.set_script(
        [
            {"status": 500, "json": {"error": {"message": "boom"}}},
            {"status": 503, "raw": b"oops", "content_type": "text/plain"},
            {"sse": sse_chunks(["ok"])},
        ]
    )
    client = make(fake, sleeps)
    client.backoff_base_s = 1.0
    c = run(_chat(client, MSGS))
    assert c.content == "ok" and c.usage.retries == 2
    assert 0 <= sleeps.delays[0] <= 1.0 and 0 <= sleeps.delays[1] <= 2.0


def test_retries_exhausted_raises_unavailable_with_record(fake):
    fake.set_script([{"status": 502, "json": {"error": {"message": "bad gateway"}}}])
    seen: list[CallRecord] = []
    client = make(fake, max_retries=2)
    client.on_record = seen.append
    with pytest.raises(LLMUnavailable) as ei:
        run(_chat(client, MSGS))
    rec = ei.value.record
    assert ei.value.infrastructure and rec.retries == 2 and "502" in rec.error
    assert len(fake.requests) == 3 and seen == [rec] and client.records == [rec]


def test_stall_beyond_timeout(fake):
    fake.set_script([{"stall": 3, "json": chat_json("late")}])
    client = make(fake, timeout_s=0.5, max_retries=1)
    with pytest.raises(LLMUnavailable) as ei:
        run(_chat(client, MSGS))
    assert "Timeout" in ei.value.record.error and ei.value.record.retries == 1
    assert ei.value.record.latency_s < 3


def test_stall_then_success(fake):
    fake.set_script([{"stall": 2, "json": chat_json("late")}, {"sse": sse_chunks(["on time"])}])
    c = run(_chat(make(fake, timeout_s=0.5), MSGS))
    assert c.content == "on time" and c.usage.retries == 1


def test_dropped_connection_retried(fake):
    fake.set_script([{"drop": True}, {"drop": True}, {"sse": sse_chunks(["back"])}])
    c = run(_chat(make(fake), MSGS))
    assert c.content == "back" and c.usage.retries == 2


def test_dropped_connection_exhausted(fake):
    fake.set_script([{"drop": True}])
    with pytest.raises(LLMUnavailable) as ei:
        run(_chat(make(fake, max_retries=1), MSGS))
    assert "Connection" in ei.value.record.error


def test_malformed_json_body_retried(fake):
    fake.set_script(
        [
            {"raw": b'{"choices": [{"message": ', "status": 200},
            {"raw": b"<html>proxy</html>", "content_type": "application/json"},
            {"json": chat_json("ok")},
        ]
    )
    c = run(_chat(make(fake, stream=False), MSGS))
    assert c.content == "ok" and c.usage.retries == 2


def test_body_without_choices_retried(fake):
    fake.set_script([{"json": {"object": "chat.completion", "choices": []}}, {"json": chat_json("ok")}])
    c = run(_chat(make(fake, stream=False), MSGS))
    assert c.content == "ok" and c.usage.retries == 1


def test_truncated_stream_retried(fake):
    full = sse_chunks(["Hello ", "world"])
    truncated = full[:2]  # no finish_reason, no [DONE]
    fake.set_script([{"sse": truncated, "done": False}, {"sse": full}])
    c = run(_chat(make(fake), MSGS))
    assert c.content == "Hello world" and c.usage.retries == 1


def test_invalid_json_in_stream_retried(fake):
    fake.set_script(
        [
            {"sse": [sse_chunks(["a"])[0], '{"choices": [{"delta": {"content": "x"'], "done": False},
            {"sse": sse_chunks(["ok"])},
        ]
    )
    c = run(_chat(make(fake), MSGS))
    assert c.content == "ok" and c.usage.retries == 1


def test_truncated_stream_exhausted(fake):
    fake.set_script([{"sse": sse_chunks(["Hel"])[:2], "done": False}])
    with pytest.raises(LLMUnavailable) as ei:
        run(_chat(make(fake, max_retries=1), MSGS))
    assert "truncated" in ei.value.record.error


def test_bad_request_not_retried(fake):
    fake.set_script([{"status": 400, "json": {"error": {"message": "context length exceeded"}}}])
    with pytest.raises(LLMRequestError) as ei:
        run(_chat(make(fake), MSGS))
    assert len(fake.requests) == 1 and not ei.value.infrastructure and "400" in ei.value.record.error


# llama.cpp's answer when the model's own output cannot be parsed (e.g. a tool call cut off by max_tokens)
UNPARSABLE = {
    "error": {
        "code": 500,
        "message": "Failed to parse tool call arguments as JSON: [json.exception.parse_error.101] parse "
        "error at line 1, column 31: syntax error while parsing object - unexpected end of input",
        "type": "server_error",
    }
}


def test_a_model_output_the_server_cannot_parse_is_the_models_fault_and_not_retried(fake):
    fake.set_script([{"status": 500, "json": UNPARSABLE}])
    with pytest.raises(LLMOutputError) as ei:
        run(_chat(make(fake, stream=False), MSGS))
    assert len(fake.requests) == 1 and not ei.value.infrastructure
    assert "Failed to parse tool call arguments" in ei.value.record.error
    # an ordinary 500 is still an endpoint fault, retried and then unavailable
    fake.set_script([{"status": 500, "json": {"error": {"message": "out of memory"}}}])
    with pytest.raises(LLMUnavailable):
        run(_chat(make(fake, stream=False, max_retries=1), MSGS))


def test_the_same_failure_as_an_error_event_in_a_stream(fake):
    fake.set_script([{"sse": [UNPARSABLE], "done": False}])
    with pytest.raises(LLMOutputError) as ei:
        run(_chat(make(fake), MSGS))
    assert len(fake.requests) == 1 and "Failed to parse tool call" in ei.value.record.error


def test_concurrency_cap(fake):
    fake.set_script([{"stall": 0.2, "json": chat_json("ok")}])

    async def main():
        client = make(fake, max_concurrency=2, stream=False)
        try:
            res = await asyncio.gather(*(client.chat(MSGS) for _ in range(6)))
        finally:
            await client.aclose()
        return res, client

    res, client = run(main())
    assert all(r.content == "ok" for r in res) and len(client.records) == 6
    assert fake.max_inflight == 2


# ----------------------------------------------------------------------------- secrets


def test_api_key_never_leaks(fake, monkeypatch, caplog):
    secret = "sk-test-SUPERSECRET-0123456789"
    monkeypatch.setenv("CW_FAKE_KEY", secret)
    caplog.set_level(logging.DEBUG)
    fake.set_script(
        [
            {"status": 500, "json": {"error": {"message": f"upstream said: Incorrect API key {secret}"}}},
            {"status": 401, "json": {"error": {"message": f"Incorrect API key provided: {secret}"}}},
        ]
    )
    client = make(fake, api_key_env="CW_FAKE_KEY", max_retries=2)
    with pytest.raises(LLMUnavailable) as ei:
        run(_chat(client, MSGS))
    assert fake.requests[0]["headers"]["authorization"] == f"Bearer {secret}"
    blobs = [
        str(ei.value),
        repr(ei.value),
        ei.value.record.model_dump_json(),
        repr(client),
        str(client),
        repr(client.config),
        client.config.model_dump_json(),
        caplog.text,
        *(r.model_dump_json() for r in client.records),
    ]
    for b in blobs:
        assert secret not in b
    assert "***" in ei.value.record.error


def test_no_key_env_uses_placeholder(fake):
    run(_chat(make(fake), MSGS))
    assert fake.requests[0]["headers"]["authorization"] == "Bearer not-needed"


def test_request_body_encoding_matches_the_payload_and_reuses_tool_json():
    from casework.domains import get_domain
    from casework.llm.client import _JsonBody

    tools = get_domain("retail").toolbox.openai_schemas()
    body = _JsonBody(size=2)
    payload = {"model": "m", "messages": [{"role": "user", "content": 'héllo "x"'}], "tools": tools}
    assert json.loads(body.encode(payload)) == payload
    assert json.loads(body.encode({"model": "m", "messages": []})) == {"model": "m", "messages": []}
    first = body.tools_json(tools)
    # the toolbox hands out the same schema dicts every time, so their encoding is reused
    assert body.tools_json(get_domain("retail").toolbox.openai_schemas()) is first
    # a different list of schemas (e.g. filtered for a named tool choice) is encoded on its own
    assert json.loads(body.tools_json(tools[:1])) == tools[:1]
    body.tools_json(tools[1:2])
    body.tools_json(tools[2:3])  # evicts the oldest entry; the cache stays small
    assert len(body._tools) == 2


class OneRequestPerConnection:
    """Like llama.cpp after a streamed answer: says keep-alive, then drops the connection's next
    request unanswered. Each connection answers exactly one request (HTTP/1.1, chunked SSE)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.connections = 0
        self.dropped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _accept(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(conn) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        return True

    def _serve(self, conn) -> None:
        with conn:
            if not self._read_request(conn):
                return
            events = (
                b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in sse_chunks(["hi"]))
                + b"data: [DONE]\n\n"
            )
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nKeep-Alive: timeout=5, max=100\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                + f"{len(events):x}\r\n".encode()
                + events
                + b"\r\n0\r\n\r\n"
            )
            if self._read_request(conn):  # the client reused the connection: drop the request
                self.dropped += 1

    def close(self) -> None:
        self.sock.close()


def test_a_request_on_a_kept_alive_connection_the_server_dropped_is_resent_without_a_retry(caplog):
    server = OneRequestPerConnection()
    try:
        client = LLMClient(EndpointConfig(model="m", base_url=server.base_url, max_retries=0), role="agent")

        async def calls():
            try:
                return [await client.chat(MSGS) for _ in range(4)]
            finally:
                await client.aclose()

        with caplog.at_level(logging.WARNING):
            completions = run(calls())
    finally:
        server.close()
    assert [c.content for c in completions] == ["hi"] * 4
    assert [c.usage.retries for c in completions] == [0] * 4 and not caplog.records
    if "aiohttp" in client.transport:  # httpx notices the closed connection before reusing it
        assert server.dropped >= 1
    assert server.connections >= 4
