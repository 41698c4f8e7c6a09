"""``casework doctor``: is an endpoint usable for ``casework run``?

Pure async checks against one OpenAI-compatible endpoint::

    report = await diagnose(EndpointConfig(model="gpt-4o-mini", api_key_env="OPENAI_API_KEY"))
    report.usable, report.verdict, report.checks

Checks, in order: ``models`` (GET /v1/models lists the model?), ``chat`` (a plain answer),
``tools_auto`` / ``tools_required`` (does the model call a lookup tool on its own with
``tool_choice="auto"``, and when forced with ``"required"``; rate over a few prompts),
``streaming`` (time to first token), ``parallel_calls`` (two lookups at once with
``parallel_tool_calls=true``), ``json_arguments`` (arguments are JSON objects with the schema's
required fields) and ``native_calls`` (tool calls arrived structured, or only as text that
casework's parser recovers).

The endpoint is *usable* when it answers chats and the model calls tools with ``auto`` (natively or
as recoverable text) with valid arguments at least once: that is what the default tool-calling
agent needs. The API key is never part of a report: errors are redacted.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from .client import LLMClient
from .config import EndpointConfig
from .parsing import parse_text_tool_calls
from .types import Completion, LLMError, LLMRequestError

__all__ = ["CHECKS", "CheckResult", "DoctorReport", "diagnose"]

Status = Literal["pass", "warn", "fail", "skip"]

CHECKS: dict[str, str] = {
    "models": "models listed",
    "chat": "plain chat",
    "tools_auto": "tools (auto)",
    "tools_required": "tools (required)",
    "streaming": "streaming TTFT",
    "parallel_calls": "parallel calls",
    "json_arguments": "JSON arguments",
    "native_calls": "native tool calls",
}
"""Check id -> label shown in the table."""

TOOL_NAME = "get_ticket_status"
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": "Get the status and details of a support ticket (state, assignee, history).",
            "parameters": {
                "type": "object",
                "properties": {
                    "ticket_id": {
                        "type": "string",
                        "description": "The ticket id, such as 'TK-0000000'. Include the 'TK-'.",
                    }
                },
                "required": ["ticket_id"],
            },
        },
    }
]
SYSTEM = (
    "You are a customer-service agent. You cannot see any support ticket unless you look it up with "
    "the get_ticket_status tool. Always look up a ticket before answering questions about it."
)
TOOL_PROMPTS = [
    "Hi, can you check the status of my ticket TK-2378156?",
    "What is the history of my ticket TK-8732376? Please look it up.",
    "My ticket TK-5918442 still hasn't been answered. What is going on?",
    "Has ticket TK-4817420 been resolved yet?",
    "Please tell me who is assigned to ticket TK-6304490.",
]
PARALLEL_PROMPT = (
    "I have two tickets, TK-2378156 and TK-8732376. Look up both of them at the same time, "
    "please: call the tool once for each ticket."
)
_TICKET_ID = re.compile(r"TK-\d{7}")


class CheckResult(BaseModel):
    id: str
    label: str
    status: Status
    result: str
    detail: str = ""
    time_s: float | None = None


class DoctorReport(BaseModel):
    model: str
    base_url: str | None
    api_key_env: str | None = None
    """The NAME of the key's variable; the key itself is never stored."""
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    duration_s: float = 0.0
    checks: list[CheckResult] = Field(default_factory=list)
    usable: bool = False
    verdict: str = ""
    advice: list[str] = Field(default_factory=list)

    def check(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def exit_code(self) -> int:
        return 0 if self.usable else 1


class _Call(BaseModel):
    """One tool call seen by a probe, with where it came from."""

    name: str
    arguments: str
    native: bool
    auto: bool
    """Made with tool_choice auto (what ``casework run`` sends)."""


def _args_problem(call: _Call) -> str | None:
    """Why a call's arguments are unusable (None when they are a JSON object with ``ticket_id``)."""
    if call.name != TOOL_NAME:
        return f"unknown tool {call.name!r}"
    try:
        args = json.loads(call.arguments or "{}")
    except ValueError:
        return f"not JSON: {call.arguments[:60]!r}"
    if not isinstance(args, dict):
        return f"not a JSON object: {call.arguments[:60]!r}"
    missing = [f for f in TOOLS[0]["function"]["parameters"]["required"] if f not in args]
    if missing:
        return f"missing {', '.join(missing)}: {call.arguments[:60]!r}"
    if not isinstance(args["ticket_id"], str):
        return f"ticket_id is not a string: {call.arguments[:60]!r}"
    return None


class _Doctor:
    def __init__(self, config: EndpointConfig, *, prompts: int, discover_model: bool) -> None:
        # Own settings: few retries (a dead endpoint should fail fast), structured tool calls only
        # (text calls are recovered here, so that native and text calls can be told apart).
        self.config = config.model_copy(
            update={"max_retries": min(config.max_retries, 1), "parse_text_tool_calls": False, "stream": True}
        )
        self.prompts = TOOL_PROMPTS[: max(1, min(prompts, len(TOOL_PROMPTS)))]
        self.discover_model = discover_model
        self._secret = config.api_key() or None
        self.report = DoctorReport(
            model=config.model, base_url=config.base_url, api_key_env=config.api_key_env
        )
        self.calls: list[_Call] = []
        self.unreachable = False
        self.auth_failed = False

    # ------------------------------------------------------------------ helpers

    def redact(self, text: str) -> str:
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text

    def add(self, check_id: str, status: Status, result: str, detail: str = "", t: float | None = None):
        self.report.checks.append(
            CheckResult(
                id=check_id,
                label=CHECKS[check_id],
                status=status,
                result=result,
                detail=self.redact(detail)[:300],
                time_s=None if t is None else round(t, 3),
            )
        )

    def skip(self, check_id: str, why: str) -> None:
        self.add(check_id, "skip", "skipped", why)

    def error_text(self, exc: BaseException) -> str:
        text = str(exc)
        if isinstance(exc, LLMError) and exc.record is not None and exc.record.error:
            text = exc.record.error
        return self.redact(text)

    def _note_error(self, exc: BaseException) -> None:
        text = self.error_text(exc)
        if re.search(r"HTTP (401|403)\b|AuthenticationError|PermissionDenied", text):
            self.auth_failed = True
        if re.search(r"APIConnectionError|ConnectError|Connection refused|Name or service", text):
            self.unreachable = True

    def tool_calls(self, completion: Completion, auto: bool) -> list[_Call]:
        """Native calls, or else the calls recovered from the text; all are recorded."""
        calls = [
            _Call(name=c.name, arguments=c.arguments, native=True, auto=auto) for c in completion.tool_calls
        ]
        if not calls and completion.content:
            _, parsed = parse_text_tool_calls(completion.content, [TOOL_NAME])
            calls = [_Call(name=c.name, arguments=c.arguments, native=False, auto=auto) for c in parsed]
        self.calls.extend(calls)
        return calls

    # ------------------------------------------------------------------ checks

    async def check_models(self) -> None:
        base = (self.config.base_url or "https://api.openai.com/v1").rstrip("/")
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        t0 = time.perf_counter()
        try:
            async with httpx.AsyncClient(timeout=min(self.config.timeout_s, 20.0)) as http:
                resp = await http.get(base + "/models", headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            self.unreachable = True
            self.add(
                "models", "fail", "unreachable", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0
            )
            return
        except httpx.HTTPError as exc:  # reachable but slow or odd: the chat checks decide
            self.add("models", "warn", "error", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
            return
        dt = time.perf_counter() - t0
        if resp.status_code in (401, 403):
            self.auth_failed = True
            self.add("models", "fail", f"HTTP {resp.status_code}", "authentication failed", dt)
            return
        if resp.status_code != 200:
            self.add(
                "models", "warn", f"HTTP {resp.status_code}", "GET /models not served (not required)", dt
            )
            return
        try:
            data = resp.json()
            ids = [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict) and m.get("id")]
        except (ValueError, AttributeError):
            self.add("models", "warn", "bad JSON", "GET /models did not return a model list", dt)
            return
        if self.discover_model and ids:
            self.config = self.config.model_copy(update={"model": ids[0]})
            self.report.model = ids[0]
            self.add("models", "pass", "listed", f"using the served model {ids[0]!r} ({len(ids)} listed)", dt)
            return
        shown = ", ".join(ids[:5]) + (f" (+{len(ids) - 5} more)" if len(ids) > 5 else "")
        if self.config.model in ids:
            self.add("models", "pass", "listed", f"{len(ids)} model(s) served", dt)
        else:
            self.add(
                "models", "warn", "not listed", f"{self.config.model!r} not in: {shown or 'empty list'}", dt
            )

    async def check_chat(self, client: LLMClient) -> bool:
        messages = [{"role": "user", "content": "Say hello to a customer in one short sentence."}]
        t0 = time.perf_counter()
        try:
            completion = await client.chat(messages, stream=False)
        except LLMError as exc:
            self._note_error(exc)
            self.add("chat", "fail", "error", self.error_text(exc), time.perf_counter() - t0)
            return False
        dt = time.perf_counter() - t0
        text = (completion.content or "").strip()
        if not text and not completion.tool_calls:
            self.add("chat", "fail", "empty", f"no text (finish_reason={completion.finish_reason})", dt)
            return False
        self.add("chat", "pass", "answers", repr(text[:80]), dt)
        return True

    async def check_tools(self, client: LLMClient, choice: str) -> tuple[int, int]:
        check_id = f"tools_{choice}"
        hits, details, t0 = 0, [], time.perf_counter()
        for prompt in self.prompts:
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
            try:
                completion = await client.chat(messages, tools=TOOLS, tool_choice=choice)
            except LLMRequestError as exc:
                self.add(
                    check_id,
                    "fail" if choice == "auto" else "warn",
                    "rejected",
                    self.error_text(exc),
                    time.perf_counter() - t0,
                )
                return 0, len(self.prompts)
            except LLMError as exc:
                self._note_error(exc)
                details.append(self.error_text(exc)[:100])
                continue
            calls = self.tool_calls(completion, choice == "auto")
            if calls:
                hits += 1
            else:
                details.append(f"answered in text: {(completion.content or '')[:60]!r}")
        n = len(self.prompts)
        status: Status = "pass" if hits == n else "warn" if hits else ("fail" if choice == "auto" else "warn")
        detail = f"called {TOOL_NAME} for {hits} of {n} prompts"
        if details:
            detail += "; " + details[0]
        self.add(check_id, status, f"{hits}/{n}", detail, time.perf_counter() - t0)
        return hits, n

    async def check_streaming(self, client: LLMClient) -> None:
        messages = [{"role": "user", "content": "Count from 1 to 10, separated by spaces."}]
        t0 = time.perf_counter()
        try:
            completion = await client.chat(messages, stream=True)
        except LLMError as exc:
            self._note_error(exc)
            self.add("streaming", "warn", "error", self.error_text(exc), time.perf_counter() - t0)
            return
        dt = time.perf_counter() - t0
        rec = completion.usage
        if not rec.streamed:
            self.add(
                "streaming", "warn", "rejected", "endpoint refused streaming; no time to first token", dt
            )
        elif rec.ttft_s is None:
            self.add("streaming", "warn", "no tokens", "stream carried no content", dt)
        else:
            rate = f", {rec.decode_tokens_per_s:.0f} tok/s" if rec.decode_tokens_per_s else ""
            self.add(
                "streaming", "pass", f"{rec.ttft_s:.2f}s", f"time to first token {rec.ttft_s:.3f}s{rate}", dt
            )

    async def check_parallel(self, client: LLMClient) -> None:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PARALLEL_PROMPT}]
        t0 = time.perf_counter()
        try:
            completion = await client.chat(
                messages, tools=TOOLS, tool_choice="auto", parallel_tool_calls=True
            )
        except LLMError as exc:
            self._note_error(exc)
            self.add("parallel_calls", "warn", "error", self.error_text(exc), time.perf_counter() - t0)
            return
        dt = time.perf_counter() - t0
        calls = self.tool_calls(completion, True)
        ids = {m for c in calls for m in _TICKET_ID.findall(c.arguments)}
        got = f"{len(calls)} call{'s' if len(calls) != 1 else ''}"
        if len(calls) >= 2 and len(ids) >= 2:
            self.add(
                "parallel_calls", "pass", got, f"both tickets in one turn ({', '.join(sorted(ids))})", dt
            )
        elif len(calls) >= 2:
            self.add("parallel_calls", "warn", got, "several calls, but not one per ticket", dt)
        else:
            self.add("parallel_calls", "warn", got, "one call per turn: leave --parallel-tool-calls off", dt)

    def check_arguments(self) -> int:
        if not self.calls:
            self.skip("json_arguments", "no tool calls to check")
            return 0
        problems = [p for p in (_args_problem(c) for c in self.calls) if p]
        ok = len(self.calls) - len(problems)
        status: Status = "pass" if not problems else "warn" if ok else "fail"
        detail = "arguments are JSON objects with ticket_id" if not problems else problems[0]
        self.add("json_arguments", status, f"{ok}/{len(self.calls)} valid", detail)
        return ok

    def check_native(self) -> None:
        if not self.calls:
            self.skip("native_calls", "no tool calls seen")
            return
        native = sum(c.native for c in self.calls)
        n = len(self.calls)
        if native == n:
            self.add("native_calls", "pass", "native", f"all {n} calls structured (tool_calls)")
        elif native == 0:
            self.add(
                "native_calls",
                "warn",
                "text only",
                f"all {n} calls written as text; casework's parser recovers them",
            )
        else:
            self.add(
                "native_calls", "warn", "mixed", f"{native} of {n} structured, the rest recovered from text"
            )

    # ------------------------------------------------------------------ driver

    async def run(self) -> DoctorReport:
        t0 = time.perf_counter()
        await self.check_models()
        rest = [
            "chat",
            "tools_auto",
            "tools_required",
            "streaming",
            "parallel_calls",
            "json_arguments",
            "native_calls",
        ]
        auto_hits = req_hits = 0
        chat_ok = False
        if self.unreachable or self.auth_failed:
            why = "endpoint unreachable" if self.unreachable else "authentication failed"
            for c in rest:
                self.skip(c, why)
        else:
            async with LLMClient(self.config, role="doctor", backoff_base_s=0.2, backoff_max_s=1.0) as client:
                chat_ok = await self.check_chat(client)
                if not chat_ok:
                    for c in rest[1:]:
                        self.skip(c, "no chat answer")
                else:
                    auto_hits, _ = await self.check_tools(client, "auto")
                    req_hits, _ = await self.check_tools(client, "required")
                    await self.check_streaming(client)
                    await self.check_parallel(client)
                    self.check_arguments()
                    self.check_native()
        self._verdict(chat_ok, auto_hits, req_hits)
        self.report.duration_s = round(time.perf_counter() - t0, 3)
        return self.report

    def _verdict(self, chat_ok: bool, auto_hits: int, req_hits: int) -> None:
        r = self.report
        n = len(self.prompts)
        if self.unreachable and not chat_ok:
            r.usable, r.verdict = False, "endpoint unreachable: check --base-url (is the server running?)"
            return
        if self.auth_failed and not chat_ok:
            r.usable = False
            r.verdict = (
                "authentication failed: check --api-key-env (the NAME of the variable holding the key)"
            )
            return
        if not chat_ok:
            chat = r.check("chat")
            r.usable = False
            r.verdict = f"model does not answer chats: check --model ({chat.detail if chat else ''})"
            return
        if auto_hits == 0:
            r.usable = False
            if req_hits:
                r.verdict = (
                    f"model never calls tools with auto (only when forced: {req_hits}/{n} with required): "
                    "use --agent text or a bigger model"
                )
            else:
                r.verdict = "model never calls tools: use --agent text or a bigger model"
            return
        if not any(_args_problem(c) is None for c in self.calls if c.auto):
            r.usable = False
            args = r.check("json_arguments")
            r.verdict = (
                "tool-call arguments are never valid JSON with the required fields: use a bigger model "
                f"({args.detail if args else ''})"
            )
            return
        r.usable = True
        r.verdict = f"tool calling works with auto ({auto_hits}/{n} prompts)"
        advice = []
        if auto_hits < n:
            advice.append(
                "the model sometimes answers without looking the ticket up: expect lower pass rates"
            )
        native = r.check("native_calls")
        if native and native.result == "text only":
            advice.append("tool calls arrive only as text: casework recovers them (or use --agent text)")
        args = r.check("json_arguments")
        if args and args.status != "pass":
            advice.append(f"some tool-call arguments are invalid ({args.result}): expect tool errors")
        par = r.check("parallel_calls")
        if par and par.status != "pass":
            advice.append("no parallel tool calls: leave --parallel-tool-calls off")
        stream = r.check("streaming")
        if stream and stream.status != "pass":
            advice.append("streaming unavailable: runs work, but without time to first token")
        r.advice = advice


async def diagnose(config: EndpointConfig, *, prompts: int = 3, discover_model: bool = False) -> DoctorReport:
    """Run every check against ``config``'s endpoint; never raises for endpoint problems.

    ``prompts``: how many tool prompts to try per tool_choice (1-5). ``discover_model``: use the
    first model that ``GET /models`` lists instead of ``config.model`` (for single-model servers).
    """
    return await _Doctor(config, prompts=prompts, discover_model=discover_model).run()
