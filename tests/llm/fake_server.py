"""A scripted OpenAI-compatible chat-completions endpoint on 127.0.0.1 for client tests.

Each request to ``/v1/chat/completions`` consumes the next step of the script (the last step
repeats; with no script a plain answer, streamed if asked for, is given when the script runs out). A step is a dict:

* ``{"json": {...}, "status": 200, "headers": {...}}``  - JSON body
* ``{"raw": b"...", "status": 200, "content_type": "..."}``  - raw body (e.g. malformed JSON)
* ``{"sse": [chunk, ...], "done": True}``  - an SSE stream (``done`` adds ``data: [DONE]``)
* ``{"stall": seconds}`` added to any step: sleep first
* ``{"hang": seconds}`` added to any step: answer nothing until the client hangs up (its timeout),
  at most that long (a stall whose length does not depend on the machine's speed)
* ``{"drop": True}``  - close the connection without answering

``server.requests`` records every request (method, path, headers, JSON body); ``server.max_inflight``
is the largest number of requests handled at once.

``responder``: a callable ``body -> step`` used instead of the script (answers by request content).
``GET /v1/models`` lists ``server.models`` (model ids), or answers the step dict given instead.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def chat_json(
    content: str | None = "Hello!",
    tool_calls: list[dict] | None = None,
    finish_reason: str = "stop",
    usage: dict | None = None,
) -> dict:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "message": msg, "finish_reason": finish_reason}],
        "usage": usage
        or {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }


def _chunk(delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def sse_chunks(
    pieces: list[str] | None = None,
    tool_calls: list[tuple[str, str, list[str]]] | None = None,
    finish_reason: str | None = None,
    usage: dict | None = None,
) -> list[dict]:
    """Chunks for a streamed answer: text ``pieces`` and/or tool calls given as
    ``(id, name, [argument fragments])``; the last chunks carry finish_reason and usage."""
    out = [_chunk({"role": "assistant", "content": None})]
    for p in pieces or []:
        out.append(_chunk({"content": p}))
    for i, (cid, name, frags) in enumerate(tool_calls or []):
        out.append(
            _chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": cid,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for f in frags:
            out.append(_chunk({"tool_calls": [{"index": i, "function": {"arguments": f}}]}))
    out.append(_chunk({}, finish_reason or ("tool_calls" if tool_calls else "stop")))
    out.append(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake-model",
            "choices": [],
            "usage": usage
            or {
                "prompt_tokens": 12,
                "completion_tokens": 6,
                "total_tokens": 18,
                "prompt_tokens_details": {"cached_tokens": 8},
            },
        }
    )
    return out


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # many clients connecting at once (concurrency tests)


def models_json(ids: list[str]) -> dict:
    return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in ids]}


class FakeServer:
    def __init__(
        self,
        script: list[dict] | None = None,
        *,
        responder: Callable[[Any], dict] | None = None,
        models: list[str] | dict | None = None,
    ) -> None:
        self.script: list[dict] = list(script or [])
        self.responder = responder
        self.models: list[str] | dict = ["fake-model"] if models is None else models
        self.requests: list[dict] = []
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def set_script(self, script: list[dict]) -> None:
        with self._lock:
            self.script = list(script)

    def _next_step(self, body: Any) -> dict:
        if self.responder is not None:
            return self.responder(body)
        with self._lock:
            if not self.script:
                if isinstance(body, dict) and body.get("stream"):
                    return {"sse": sse_chunks(["Hello!"])}
                return {"json": chat_json()}
            if len(self.script) == 1:
                return self.script[0]
            return self.script.pop(0)

    def start(self) -> FakeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(
                        {
                            "method": "GET",
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": None,
                        }
                    )
                    models = server.models
                if self.path.rstrip("/").endswith("/models"):
                    step = models if isinstance(models, dict) else {"json": models_json(list(models))}
                else:
                    step = {"json": {"error": {"message": "not found"}}, "status": 404}
                self._respond(step)

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                with server._lock:
                    server.requests.append(
                        {
                            "method": "POST",
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                try:
                    self._respond(server._next_step(body))
                finally:
                    with server._lock:
                        server.inflight -= 1

            def _respond(self, step: dict) -> None:
                if step.get("hang") and self._hang(step["hang"]):
                    return  # the client gave up (its timeout): nobody to answer
                if step.get("stall"):
                    time.sleep(step["stall"])
                if step.get("drop"):
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status = step.get("status", 200)
                if "sse" in step:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/event-stream")
                    for k, v in (step.get("headers") or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    for ch in step["sse"]:
                        data = ch if isinstance(ch, str) else json.dumps(ch)
                        self.wfile.write(f"data: {data}\n\n".encode())
                        self.wfile.flush()
                        if step.get("chunk_delay"):
                            time.sleep(step["chunk_delay"])
                    if step.get("done", True):
                        self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if "raw" in step:
                    payload = step["raw"] if isinstance(step["raw"], bytes) else step["raw"].encode()
                    ctype = step.get("content_type", "application/json")
                else:
                    payload = json.dumps(step.get("json", chat_json())).encode()
                    ctype = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (step.get("headers") or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
                self.close_connection = True

            def _hang(self, limit_s: float) -> bool:
                """Answer nothing until the client closes the connection (True) or ``limit_s`` passed."""
                deadline = time.monotonic() + limit_s
                self.connection.settimeout(0.02)
                try:
                    while time.monotonic() < deadline:
                        try:
                            if self.connection.recv(1, socket.MSG_PEEK) == b"":
                                self.close_connection = True
                                return True
                        except TimeoutError:
                            continue
                        except OSError:
                            self.close_connection = True
                            return True
                finally:
                    with contextlib.suppress(OSError):
                        self.connection.settimeout(None)
                return False

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
