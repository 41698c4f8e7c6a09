"""Async chat client (a lean aiohttp transport by default, or the official ``openai`` SDK) with retries, a concurrency cap, streaming
(time to first token) and per-call usage/cost records.

    client = LLMClient(EndpointConfig(model="gpt-4o-mini", api_key_env="OPENAI_API_KEY"), role="agent")
    completion = await client.chat(messages, tools=tools)
    client.records  # one CallRecord per chat() call
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import importlib.util
import json
import logging
import os
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import openai

from .config import ConfigError, EndpointConfig
from .parsing import parse_text_tool_calls, split_reasoning
from .transport import _dumps
from .types import CallRecord, Completion, LLMError, LLMOutputError, LLMRequestError, LLMUnavailable, ToolCall

__all__ = ["LLMClient", "MalformedResponse"]

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 425, 429}


class MalformedResponse(Exception):
    """The server answered, but not with a usable chat completion (bad JSON, truncated stream...)."""


class _StreamRejected(Exception):
    pass


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _retry_after(exc: BaseException) -> float | None:
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None)
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return max(0.0, (dt - datetime.now(UTC)).total_seconds())


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError | asyncio.TimeoutError) or "timeout" in type(exc).__name__.lower()


_STALE_RESENDS = 3
# aiohttp's names for "the server closed this connection before answering" (httpx resends these itself)
_STALE_CAUSES = frozenset({"ServerDisconnectedError", "ClientConnectionResetError"})


def _stale_connection(exc: BaseException) -> bool:
    return isinstance(exc, openai.APIConnectionError) and type(_root_cause(exc)).__name__ in _STALE_CAUSES


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRY_STATUS or exc.status_code >= 500
    return isinstance(
        exc,
        (
            openai.APIConnectionError,  # includes APITimeoutError
            openai.APIResponseValidationError,
            openai.APIError,  # error event inside a stream
            MalformedResponse,
            json.JSONDecodeError,
            httpx.TransportError,
            _sdk_httpx().TransportError,
            TimeoutError,
            asyncio.TimeoutError,
            ConnectionError,
        ),
    )


# What servers say when the model's own output cannot be parsed into a reply (llama.cpp's tool-call and
# chat-format parsers); the same prompt fails the same way again, so it is the model's fault
_UNPARSABLE_OUTPUT = re.compile(r"Failed to parse (tool call|input at pos)", re.IGNORECASE)


def _unparsable_output(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return False
    return isinstance(exc, openai.APIError) and bool(_UNPARSABLE_OUTPUT.search(str(exc)))


def _stream_rejected(exc: BaseException) -> bool:
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 404, 405, 415, 422, 501):
        return False
    return "stream" in str(exc).lower()


class _JsonBody:
    """The request body as JSON bytes (orjson), with each tool list serialised once.

    An agent sends the same tool schemas (a few KB for a whole domain) on every turn; re-encoding
    them for every call is most of the JSON work of a request. Lists are remembered by the identity
    of the schemas they hold (a reference is kept, so an identity is never reused); the schemas
    themselves are treated as immutable once sent. orjson writes compact UTF-8 JSON (the same
    values as ``json.dumps``; non-ASCII text as UTF-8 instead of ``\\u`` escapes); a value it
    cannot encode (an integer beyond 64 bits, a non-string key) falls back to the standard library.
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._tools: dict[tuple[int, ...], tuple[Sequence[Any], bytes]] = {}

    def tools_json(self, tools: Sequence[Any]) -> bytes:
        key = tuple(map(id, tools))
        hit = self._tools.get(key)
        if hit is None:
            if len(self._tools) >= self.size:
                self._tools.pop(next(iter(self._tools)))
            kept = list(tools)
            hit = self._tools[key] = (kept, _dumps(kept))
        return hit[1]

    def encode(self, payload: dict[str, Any]) -> bytes:
        tools = payload.get("tools")
        if not tools:
            return _dumps(payload)
        rest = {k: v for k, v in payload.items() if k != "tools"}
        head = _dumps(rest)
        return head[:-1] + (b',"tools":' if len(head) > 2 else b'"tools":') + self.tools_json(tools) + b"}"


def _litellm() -> Any:
    """litellm, kept offline: its bundled model price map instead of a download at import."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _sdk_httpx() -> Any:
    """The httpx package the installed SDK is built on (``httpx2`` from openai 3, ``httpx`` before)."""
    base = openai.DefaultAsyncHttpxClient.__mro__[1]
    return sys.modules[base.__module__.split(".")[0]]


def public_url(url: str | None) -> str | None:
    """A base URL as it may be recorded: without user info, query or fragment."""
    if not url:
        return None
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _http_client(config: EndpointConfig, cap: int) -> tuple[Any, str]:
    """``(client, "aiohttp")``: the SDK's aiohttp transport (made for many concurrent requests) with
    one kept-alive connection per allowed concurrent call; the SDK's default httpx transport when
    aiohttp is not installed."""
    limits = _sdk_httpx().Limits(max_connections=cap, max_keepalive_connections=cap)
    try:
        transport_class = _aiohttp_transport_class()
    except ImportError:  # the SDK was installed without its aiohttp extra
        return openai.DefaultAsyncHttpxClient(limits=limits, timeout=config.timeout_s), "httpx"
    import aiohttp

    transport = transport_class(limits=limits)

    def session() -> Any:  # the transport's own session, plus the connection-reuse trace
        connector = aiohttp.TCPConnector(
            keepalive_timeout=limits.keepalive_expiry, ssl=transport.ssl_context, limit=limits.max_connections
        )
        return aiohttp.ClientSession(connector=connector, trace_configs=[_reuse_trace()])

    transport.client = session
    return openai.DefaultAioHttpClient(transport=transport, timeout=config.timeout_s), "aiohttp"


def _aiohttp_transport_class() -> Any:
    """The aiohttp transport ``openai.DefaultAioHttpClient`` is built on (vendored in openai 3)."""
    try:
        from openai._vendor.httpx_aiohttp import AiohttpTransport
    except ImportError:
        from httpx_aiohttp import AiohttpTransport  # openai 2 with its aiohttp extra
    return AiohttpTransport


# Whether the current request went out on a kept-alive connection (set by the aiohttp trace below).
_REUSED_CONNECTION: contextvars.ContextVar[bool] = contextvars.ContextVar("casework_reused", default=False)


def _reuse_trace() -> Any:
    import aiohttp

    async def reused(*_: Any) -> None:
        _REUSED_CONNECTION.set(True)

    async def fresh(*_: Any) -> None:
        _REUSED_CONNECTION.set(False)

    trace = aiohttp.TraceConfig()
    trace.on_connection_reuseconn.append(reused)
    trace.on_connection_create_end.append(fresh)
    return trace


def _with_suffix(messages: list[Any], suffix: str) -> list[Any]:
    """The messages with ``suffix`` appended to the last user message's text (e.g. ``/no_think``)."""
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str) and not content.endswith(suffix):
                messages = list(messages)
                messages[i] = {**message, "content": content + suffix}
            break
    return messages


class _ToolCallAcc:
    __slots__ = ("id", "name", "args")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.args: list[str] = []


class LLMClient:
    """Async chat-completions client for one endpoint.

    ``records`` collects one CallRecord per ``chat()`` call unless ``keep_records=False`` (``on_record``
    is also called with it),
    so a runner can aggregate latency, tokens and cost. The API key is read from the environment
    variable named by ``config.api_key_env`` and never appears in reprs, records or errors.
    """

    def __init__(
        self,
        config: EndpointConfig,
        *,
        role: str | None = None,
        on_record: Callable[[CallRecord], Any] | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_retry_after_s: float = 120.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        http_client: httpx.AsyncClient | None = None,
        keep_records: bool = True,
        max_in_flight: int | None = None,
        base_url: str | None = None,
        cache: Any = None,
    ) -> None:
        """``max_in_flight``: the default cap on calls in flight (the run's concurrency), lowered by
        the config's ``max_concurrency``; ``base_url``: the replica this client talks to (default
        the config's); ``cache``: a :class:`~casework.llm.cache.ResponseCache` or None."""
        if base_url is not None and base_url != config.base_url:
            config = config.model_copy(update={"base_url": base_url, "base_urls": []})
        self.config = config
        self.cap = config.in_flight_cap(max_in_flight)
        self.base_url = public_url(config.base_url)
        self.cache = cache
        self.cache_id = self.base_url  # a replica pool sets its replica set: any replica's answer counts
        self.role = role
        self.on_record = on_record
        self.records: list[CallRecord] = []
        self.keep_records = keep_records  # a long run stores records in its results instead
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(self.cap)
        self._tool_names: tuple[tuple[int, ...], set[str]] | None = None
        self._stream_ok = config.stream
        self._secret = config.api_key() or None
        self._client: Any = None
        self._json = _JsonBody()
        self.transport = config.provider  # "litellm", or the openai SDK's HTTP transport below
        if config.provider == "litellm" and importlib.util.find_spec("litellm") is None:
            raise ConfigError(
                f"model {config.model!r} uses the litellm provider, which is not installed: "
                "pip install 'casework[litellm]'"
            )
        self._lean: Any = None
        if config.provider == "openai" and config.transport == "aiohttp" and http_client is None:
            from .transport import LeanTransport

            self._lean = LeanTransport(
                config.base_url, self._secret or "not-needed", self.cap, _reuse_trace()
            )
            self.transport = "aiohttp"
        elif config.provider == "openai":
            if http_client is None:
                http_client, sdk_transport = _http_client(config, self.cap)
                self.transport = f"sdk/{sdk_transport}"
            else:
                self.transport = type(http_client).__name__
            self._client = openai.AsyncOpenAI(
                base_url=config.base_url,
                api_key=self._secret or "not-needed",
                max_retries=0,
                timeout=config.timeout_s,
                http_client=http_client,
            )

    def __repr__(self) -> str:
        c = self.config
        return (
            f"LLMClient(model={c.model!r}, base_url={c.base_url!r}, api_key_env={c.api_key_env!r}, "
            f"role={self.role!r}, calls={len(self.records)})"
        )

    __str__ = __repr__

    async def aclose(self) -> None:
        if self._lean is not None:
            await self._lean.close()
        if self._client is not None:
            await self._client.close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ helpers

    def _redact(self, text: str) -> str:
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, openai.APIStatusError):
            msg = f"{type(exc).__name__}: HTTP {exc.status_code}: {exc.message}"
        elif isinstance(exc, asyncio.TimeoutError | TimeoutError):
            msg = f"Timeout: no complete answer within {self.config.timeout_s:g}s"
        elif (
            isinstance(exc, openai.APIConnectionError)
            and (root := _root_cause(exc)) is not exc
            and not _is_timeout(root)
        ):
            # the aiohttp transport reports every lost connection as a (connect) timeout; name the cause
            msg = f"APIConnectionError: {type(root).__name__}: {root}"
        else:
            msg = f"{type(exc).__name__}: {exc}"
        return self._redact(msg)[:500]

    def _backoff(self, attempt: int, exc: BaseException) -> float:
        ra = _retry_after(exc)
        if ra is not None:
            return min(ra, self.max_retry_after_s)
        return random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * (2**attempt)))

    def _record(self, rec: CallRecord) -> None:
        if self.keep_records:
            self.records.append(rec)
        if self.on_record is not None:
            try:
                self.on_record(rec)
            except Exception:  # a broken sink must not break the run
                log.exception("on_record callback failed")

    # ------------------------------------------------------------------ public API

    async def chat(
        self,
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        *,
        role: str | None = None,
        stream: bool | None = None,
        **params: Any,
    ) -> Completion:
        """One chat completion. Extra ``params`` (temperature, max_tokens, seed, response_format...)
        override the endpoint's defaults. Raises LLMUnavailable after the retries are exhausted and
        LLMRequestError when the server rejects the request."""
        cfg = self.config
        rec = CallRecord(role=role or self.role, model=cfg.model, base_url=self.base_url)
        messages = list(messages)
        if cfg.prompt_suffix:
            messages = _with_suffix(messages, cfg.prompt_suffix)
        body: dict[str, Any] = {"model": cfg.model, "messages": messages}
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        if cfg.max_tokens is not None:
            body["max_tokens"] = cfg.max_tokens
        tool_names = None
        if tools:
            tools = list(tools)
            if cfg.parse_text_tool_calls:
                tool_names = self._names_of(tools)
            if (
                isinstance(tool_choice, dict)
                and cfg.named_tool_choice == "emulate"
                and _get(_get(tool_choice, "function"), "name")
            ):
                wanted = _get(_get(tool_choice, "function"), "name")
                tools = [t for t in tools if _get(_get(t, "function", t), "name") == wanted] or tools
                tool_choice = "required"
            body["tools"] = tools
            if tool_choice is not None:
                body["tool_choice"] = tool_choice
        body.update(params)
        extra_body = dict(cfg.extra_body) or None
        want_stream = self._stream_ok if stream is None else (stream and self._stream_ok)

        t0 = time.monotonic()
        cache_key = None
        if self.cache is not None:
            cache_key = self.cache.key(cfg.model, self.cache_id, {**body, **(extra_body or {})})
            hit = self.cache.get(cache_key)
            rec.cache_hit = hit is not None
            if hit is not None:
                result, attempt, t_attempt = hit, 0, t0
                rec.latency_s = time.monotonic() - t0
                return self._finish(rec, result, tools, tool_names, t0, t_attempt, 0, want_stream)
        attempt = 0
        stale_left = _STALE_RESENDS
        while True:
            try:
                async with self._semaphore, asyncio.timeout(cfg.timeout_s):
                    t_attempt = time.monotonic()
                    result = await self._attempt(body, extra_body, want_stream, t_attempt)
                break
            except _StreamRejected:
                log.info("endpoint %s rejected streaming; falling back to non-streaming", cfg.base_url)
                self._stream_ok = want_stream = False
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if stale_left and _REUSED_CONNECTION.get() and _stale_connection(exc):
                    # A kept-alive connection the server had just closed (llama.cpp closes it after a
                    # streamed answer): the request never reached the server; resend it at once, as
                    # httpx does. A fresh connection that fails is a real fault (retried below).
                    stale_left -= 1
                    log.debug("stale kept-alive connection to %s; resending", cfg.base_url)
                    continue
                unparsable = _unparsable_output(exc)
                if not unparsable and _is_retryable(exc) and attempt < cfg.max_retries:
                    delay = self._backoff(attempt, exc)
                    attempt += 1
                    log.warning(
                        "LLM call to %s failed (%s); retry %d/%d in %.2fs",
                        cfg.model,
                        self._describe(exc),
                        attempt,
                        cfg.max_retries,
                        delay,
                    )
                    await self._sleep(delay)
                    continue
                rec.latency_s = time.monotonic() - t0
                rec.retries = attempt
                rec.streamed = want_stream
                rec.error = self._describe(exc)
                self._record(rec)
                err_cls: type[LLMError]
                if unparsable:
                    err_cls = LLMOutputError
                    summary = f"{cfg.model}'s reply could not be parsed by the endpoint: {rec.error}"
                elif isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 413, 422):
                    err_cls = LLMRequestError
                    summary = f"LLM request rejected by {cfg.model}: {rec.error}"
                else:
                    err_cls = LLMUnavailable
                    summary = (
                        f"LLM endpoint unavailable (model={cfg.model}, base_url={cfg.base_url}) after "
                        f"{attempt + 1} attempt(s): {rec.error}"
                    )
                raise err_cls(summary, rec) from None

        if cache_key is not None:
            self.cache.put(cache_key, result)
        return self._finish(rec, result, tools, tool_names, t0, t_attempt, attempt, want_stream)

    def _names_of(self, tools: list[Any]) -> set[str]:
        key = tuple(map(id, tools))
        if self._tool_names is None or self._tool_names[0] != key:
            self._tool_names = (key, {_get(_get(t, "function", t), "name") for t in tools})
        return self._tool_names[1]

    def _finish(
        self,
        rec: CallRecord,
        result: tuple,
        tools: Any,
        tool_names: set[str] | None,
        t0: float,
        t_attempt: float,
        attempt: int,
        want_stream: bool,
    ) -> Completion:
        cfg = self.config
        raw, tool_calls, finish, usage, ttft, reasoning = result
        rec.latency_s = time.monotonic() - t0
        rec.retries = attempt
        rec.streamed = want_stream
        rec.finish_reason = finish
        if ttft is not None:
            rec.ttft_s = ttft + (t_attempt - t0)
        if usage is not None:
            rec.prompt_tokens = _get(usage, "prompt_tokens")
            rec.completion_tokens = _get(usage, "completion_tokens")
            details = _get(usage, "prompt_tokens_details")
            cached = _get(details, "cached_tokens")
            if cached is not None:
                rec.cached_tokens = cached
        if rec.completion_tokens and not rec.cache_hit:
            attempt_s = time.monotonic() - t_attempt
            decode_s = attempt_s - ttft if ttft is not None else attempt_s
            if decode_s > 0:
                rec.decode_tokens_per_s = rec.completion_tokens / decode_s
        rec.cost_usd = cfg.cost(rec.prompt_tokens, rec.completion_tokens, rec.cached_tokens)

        content, leaked = split_reasoning(raw)
        reasoning = "\n\n".join(r for r in (reasoning, leaked) if r) or None
        if cfg.parse_text_tool_calls and tools and not tool_calls and content:
            content, tool_calls = parse_text_tool_calls(content, tool_names)
            if tool_calls and finish in (None, "stop"):
                finish = "tool_calls"
        self._record(rec)
        return Completion(
            content=content or None,
            tool_calls=tool_calls,
            raw_content=raw,
            reasoning_content=reasoning,
            finish_reason=finish,
            usage=rec,
        )

    # ------------------------------------------------------------------ one attempt

    async def _attempt(
        self, body: dict[str, Any], extra_body: dict[str, Any] | None, stream: bool, t_attempt: float
    ) -> tuple[str | None, list[ToolCall], str | None, Any, float | None, str | None]:
        if self.config.provider == "litellm":
            return await self._attempt_litellm(body, extra_body, stream, t_attempt)
        # The SDK's low-level ``post`` with the body already encoded and the answer as plain JSON:
        # ``chat.completions.create`` would walk the whole request (every message and tool schema)
        # through its TypedDict transform and build pydantic models of the answer, which costs
        # milliseconds of CPU per call and caps a run at a few hundred calls/s per core.
        payload = {**body, **(extra_body or {})}
        if stream:
            payload.update(stream=True, stream_options={"include_usage": True})
        _REUSED_CONNECTION.set(False)
        if self._lean is not None:
            try:
                resp = await self._lean.post(self._json.encode(payload), stream)
            except openai.APIStatusError as e:
                if stream and _stream_rejected(e):
                    raise _StreamRejected() from e
                raise
            if stream:
                return await self._consume_stream(resp, t_attempt)
            return self._from_response(resp)
        try:
            resp = await self._client.post(
                "/chat/completions",
                content=self._json.encode(payload),
                options={"headers": {"Content-Type": "application/json"}},
                cast_to=object,
                stream=stream,
                stream_cls=openai.AsyncStream[object],
            )
            if stream:
                return await self._consume_stream(resp, t_attempt)
        except openai.APIStatusError as e:
            if stream and _stream_rejected(e):
                raise _StreamRejected() from e
            raise
        return self._from_response(resp)

    async def _attempt_litellm(
        self, body: dict[str, Any], extra_body: dict[str, Any] | None, stream: bool, t_attempt: float
    ) -> tuple[str | None, list[ToolCall], str | None, Any, float | None, str | None]:
        litellm = _litellm()
        kw: dict[str, Any] = dict(body)
        kw.update(extra_body or {})
        kw.update(timeout=self.config.timeout_s, num_retries=0)
        if self.config.base_url:
            kw["api_base"] = self.config.base_url
        if self._secret:
            kw["api_key"] = self._secret
        elif self.config.base_url:
            # a self-hosted server (litellm's ``openai/`` or ``hosted_vllm/`` routes) needs some key;
            # without a base URL litellm reads the provider's own variable (XAI_API_KEY, ...)
            kw["api_key"] = "not-needed"
        if stream:
            s = await litellm.acompletion(**kw, stream=True, stream_options={"include_usage": True})
            return await self._consume_stream(s, t_attempt)
        return self._from_response(await litellm.acompletion(**kw))

    def _from_response(self, resp: Any) -> tuple:
        if isinstance(resp, str | bytes):
            raise MalformedResponse("response body is not a JSON chat completion")
        choices = _get(resp, "choices")
        if not choices:
            err = _get(resp, "error")
            if err:
                raise MalformedResponse(f"error in response body: {str(err)[:200]}")
            raise MalformedResponse("response has no choices")
        ch = choices[0]
        msg = _get(ch, "message")
        if msg is None:
            raise MalformedResponse("response choice has no message")
        calls = []
        for tc in _get(msg, "tool_calls") or []:
            fn = _get(tc, "function")
            name = _get(fn, "name")
            if not name:
                raise MalformedResponse("tool call without a function name")
            calls.append(
                ToolCall(
                    id=_get(tc, "id") or ToolCall(name=name).id,
                    name=name,
                    arguments=_get(fn, "arguments") or "{}",
                )
            )
        reasoning = _get(msg, "reasoning_content") or _get(msg, "reasoning")
        return _get(msg, "content"), calls, _get(ch, "finish_reason"), _get(resp, "usage"), None, reasoning

    async def _consume_stream(self, stream: Any, t_attempt: float) -> tuple:
        parts: list[str] = []
        reasoning: list[str] = []
        accs: dict[int, _ToolCallAcc] = {}
        finish: str | None = None
        usage: Any = None
        ttft: float | None = None
        done = False
        try:
            async for chunk in stream:
                if _get(chunk, "usage") is not None:
                    usage = _get(chunk, "usage")
                err = _get(chunk, "error")
                if err:
                    raise MalformedResponse(f"error event in stream: {str(err)[:200]}")
                for ch in _get(chunk, "choices") or []:
                    delta = _get(ch, "delta")
                    got = False
                    text = _get(delta, "content")
                    if text:
                        parts.append(text)
                        got = True
                    r = _get(delta, "reasoning_content") or _get(delta, "reasoning")
                    if r:
                        reasoning.append(r)
                        got = True
                    for tc in _get(delta, "tool_calls") or []:
                        got = True
                        idx = _get(tc, "index")
                        if idx is None:
                            idx = len(accs) - 1 if accs and _get(tc, "id") is None else len(accs)
                        acc = accs.setdefault(idx, _ToolCallAcc())
                        if _get(tc, "id"):
                            acc.id = _get(tc, "id")
                        fn = _get(tc, "function")
                        name = _get(fn, "name")
                        if name and name != acc.name:
                            acc.name += name
                        a = _get(fn, "arguments")
                        if a:
                            acc.args.append(a)
                    if got and ttft is None:
                        ttft = time.monotonic() - t_attempt
                    if _get(ch, "finish_reason"):
                        finish = _get(ch, "finish_reason")
                        done = True
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                try:
                    res = close()
                    if asyncio.iscoroutine(res):
                        await res
                except Exception:
                    pass
        if not done:
            raise MalformedResponse("stream ended before a finish_reason (truncated)")
        calls = []
        for idx in sorted(accs):
            acc = accs[idx]
            if not acc.name:
                raise MalformedResponse("streamed tool call without a function name")
            calls.append(
                ToolCall(
                    id=acc.id or ToolCall(name=acc.name).id,
                    name=acc.name,
                    arguments="".join(acc.args) or "{}",
                )
            )
        return ("".join(parts) if parts else None), calls, finish, usage, ttft, ("".join(reasoning) or None)


def client_from_env(model: str, base_url: str | None = None, **kw: Any) -> LLMClient:
    """Convenience for scripts: ``OPENAI_API_KEY`` as key variable when set."""
    env = "OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else None
    return LLMClient(EndpointConfig(model=model, base_url=base_url, api_key_env=env, **kw))
