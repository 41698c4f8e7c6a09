"""A lean Chat Completions transport on plain aiohttp (the default for OpenAI-compatible URLs).

The openai SDK builds an httpx request (URL parsing, header merging, option models) and an httpx
response around every aiohttp exchange: about 2/3 of a call's CPU time on the client side. This
transport posts the already-encoded JSON body with aiohttp and reads the answer as JSON (or as SSE
events when streaming). Its errors are the SDK's exception types (``openai.APIStatusError``
subclasses by status code, carrying the response headers for ``Retry-After``;
``openai.APIConnectionError`` caused by the aiohttp error), so the client's retry, stale-connection
and fault handling are the same for both transports. ``transport = "sdk"`` selects the SDK.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import orjson

__all__ = ["LeanTransport"]

_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def loads(raw: bytes | str) -> Any:
    """JSON text to Python: orjson, or the standard library for what orjson refuses (NaN,
    integers beyond 64 bits) so that what parses is what ``json.loads`` parses."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def _dumps(value: Any) -> bytes:
    """Compact JSON bytes (orjson; the standard library for what orjson cannot encode)."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, separators=(",", ":")).encode()


def _httpx() -> Any:
    from .client import _sdk_httpx

    return _sdk_httpx()


def _request(url: str) -> Any:
    return _httpx().Request("POST", url)


def status_error(status: int, headers: Any, text: str, url: str) -> openai.APIStatusError:
    """The SDK's exception for an HTTP error answer (same classes and ``Error code: N - message``)."""
    httpx = _httpx()
    response = httpx.Response(status, headers=list(headers.items()), text=text, request=_request(url))
    body: Any = text.strip()
    message = f"Error code: {status}"
    try:
        body = json.loads(body)
    except ValueError:
        if body:
            message += f" - {body[:300]}"
    else:
        error = body.get("error", body) if isinstance(body, dict) else None
        detail = error.get("message") if isinstance(error, dict) else None
        message += f" - {detail}" if isinstance(detail, str) and detail else f" - {text.strip()[:300]}"
        body = error if error is not None else body
    cls = _STATUS_ERRORS.get(status) or (
        openai.InternalServerError if status >= 500 else openai.APIStatusError
    )
    return cls(message, response=response, body=body)


class LeanStream:
    """SSE events of a streamed answer as dicts; ``close()`` releases the connection."""

    def __init__(self, response: aiohttp.ClientResponse, url: str) -> None:
        self.response = response
        self.url = url

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        data: list[str] = []
        try:
            async for raw in self.response.content:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line:
                    if line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    continue
                if not data:
                    continue
                payload, data = "\n".join(data), []
                if payload.startswith("[DONE]"):
                    return
                event = loads(payload)
                if isinstance(event, dict) and event.get("error"):
                    raise openai.APIError(
                        f"error event in stream: {str(event['error'])[:200]}", _request(self.url), body=event
                    )
                yield event
            if data:  # the last event without its blank line
                payload = "\n".join(data)
                if not payload.startswith("[DONE]"):
                    yield loads(payload)
        except aiohttp.ClientError as exc:
            raise openai.APIConnectionError(
                message=f"{type(exc).__name__}: {exc}", request=_request(self.url)
            ) from exc

    def close(self) -> None:
        self.response.release()


class LeanTransport:
    """POSTs to ``{base_url}/chat/completions`` with up to ``cap`` kept-alive connections."""

    def __init__(self, base_url: str | None, api_key: str, cap: int, trace: Any = None) -> None:
        self.url = (base_url or "https://api.openai.com/v1").rstrip("/") + "/chat/completions"
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {api_key}",
            "User-Agent": "casework",
        }
        self.cap = cap
        self.trace = trace
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.cap, keepalive_timeout=5.0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),  # the client's asyncio.timeout bounds each call
                trace_configs=[self.trace] if self.trace is not None else None,
                auto_decompress=True,
            )
        return self._session

    async def post(self, body: bytes, stream: bool) -> Any:
        """The answer's JSON (a dict or list), or a :class:`LeanStream` when ``stream``."""
        session = self._open()
        try:
            response = await session.post(self.url, data=body, headers=self.headers)
        except aiohttp.ClientError as exc:
            raise openai.APIConnectionError(
                message=f"{type(exc).__name__}: {exc}", request=_request(self.url)
            ) from exc
        if response.status >= 400:
            try:
                text = await response.text(errors="replace")
            except aiohttp.ClientError:
                text = ""
            finally:
                response.release()
            raise status_error(response.status, response.headers, text, self.url)
        if stream:
            return LeanStream(response, self.url)
        try:
            raw = await response.read()
        except aiohttp.ClientError as exc:
            raise openai.APIConnectionError(
                message=f"{type(exc).__name__}: {exc}", request=_request(self.url)
            ) from exc
        finally:
            response.release()
        return loads(raw)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
