"""``casework doctor``: endpoint checks against scripted fake endpoints, plus one real-model run."""

from __future__ import annotations

import asyncio
import json
import re
import socket

import pytest
from typer.testing import CliRunner

from casework.cli import app
from casework.llm import EndpointConfig
from casework.llm.doctor import CHECKS, DoctorReport, diagnose

from .fake_server import FakeServer, chat_json, sse_chunks

TICKET = re.compile(r"TK-\d{7}")


def _last_user(body: dict) -> str:
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


def _answer(body: dict, *, content: str | None = None, calls: list[tuple[str, str]] | None = None) -> dict:
    """A step answering ``body`` (streamed when asked) with text and/or ``(name, arguments)`` calls."""
    if body.get("stream"):
        tcs = [(f"call_{i}", name, [args[:5], args[5:]]) for i, (name, args) in enumerate(calls or [])]
        return {"sse": sse_chunks([content] if content else None, tool_calls=tcs or None)}
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
        for i, (name, args) in enumerate(calls or [])
    ]
    return {"json": chat_json(content, tool_calls or None, "tool_calls" if tool_calls else "stop")}


def responder(*, auto_calls: bool = True, arguments=None, as_text: bool = False, parallel: bool = True):
    """A model that looks up every ticket the user names (one call unless ``parallel``)."""

    def respond(body: dict) -> dict:
        if not body.get("tools"):
            return _answer(body, content="Hello! How can I help you today?")
        if body.get("tool_choice") == "auto" and not auto_calls:
            return _answer(body, content="I'm sure your ticket is being handled!")
        ids = TICKET.findall(_last_user(body))
        if not (parallel and body.get("parallel_tool_calls")):
            ids = ids[:1]
        calls = [
            ("get_ticket_status", arguments(oid) if arguments else json.dumps({"ticket_id": oid}))
            for oid in ids
        ]
        if as_text:
            text = "\n".join(f'```json\n{{"name": "{n}", "arguments": {a}}}\n```' for n, a in calls)
            return _answer(body, content=text)
        return _answer(body, calls=calls)

    return respond


def diag(server: FakeServer, **cfg) -> DoctorReport:
    cfg.setdefault("timeout_s", 5)
    config = EndpointConfig(model="fake-model", base_url=server.base_url, **cfg)
    return asyncio.run(diagnose(config))


def statuses(report: DoctorReport) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


def test_good_endpoint_is_usable():
    with FakeServer(responder=responder()) as srv:
        report = diag(srv)
    assert [c.id for c in report.checks] == list(CHECKS)
    assert set(statuses(report).values()) == {"pass"}, report.checks
    assert report.usable and report.exit_code == 0
    assert report.verdict == "tool calling works with auto (3/3 prompts)"
    assert report.advice == []
    assert report.check("tools_auto").result == "3/3"
    assert report.check("parallel_calls").result == "2 calls"
    assert report.check("json_arguments").result == "8/8 valid"
    assert report.check("native_calls").result == "native"
    assert 0 < report.check("streaming").time_s < 30  # the fake endpoint streams at once
    # the probes: GET /models first, auto and required both sent, parallel_tool_calls asked for
    assert srv.requests[0]["method"] == "GET" and srv.requests[0]["path"] == "/v1/models"
    choices = [r["body"].get("tool_choice") for r in srv.requests[1:] if r["body"].get("tools")]
    assert choices.count("auto") == 4 and choices.count("required") == 3
    assert any(r["body"].get("parallel_tool_calls") is True for r in srv.requests[1:])


def test_model_that_never_calls_tools_with_auto():
    with FakeServer(responder=responder(auto_calls=False)) as srv:
        report = diag(srv)
    s = statuses(report)
    assert s["chat"] == "pass" and s["tools_auto"] == "fail" and s["tools_required"] == "pass"
    assert report.check("tools_auto").result == "0/3"
    assert not report.usable and report.exit_code == 1
    assert "never calls tools with auto" in report.verdict
    assert "--agent text" in report.verdict


def test_unreachable_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = EndpointConfig(model="m", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=5)
    report = asyncio.run(diagnose(config))
    assert [c.id for c in report.checks] == list(CHECKS)
    assert report.check("models").status == "fail"
    assert all(c.status == "skip" for c in report.checks[1:])
    assert not report.usable
    assert report.verdict.startswith("endpoint unreachable: check --base-url")


def test_malformed_tool_arguments():
    with FakeServer(responder=responder(arguments=lambda oid: '{"ticket_id": ' + oid)) as srv:
        report = diag(srv)
    args = report.check("json_arguments")
    assert args.status == "fail" and args.result.startswith("0/")
    assert "not JSON" in args.detail
    assert not report.usable
    assert "arguments are never valid JSON" in report.verdict


def test_missing_required_argument_is_invalid():
    with FakeServer(responder=responder(arguments=lambda oid: json.dumps({"id": oid}))) as srv:
        report = diag(srv)
    assert report.check("json_arguments").status == "fail"
    assert "missing ticket_id" in report.check("json_arguments").detail
    assert not report.usable


def test_text_only_tool_calls_are_recovered():
    with FakeServer(responder=responder(as_text=True, parallel=False)) as srv:
        report = diag(srv)
    assert report.usable, report.verdict
    assert report.check("native_calls").result == "text only"
    assert report.check("parallel_calls").status == "warn"
    assert any("only as text" in a for a in report.advice)
    assert any("--parallel-tool-calls off" in a for a in report.advice)


def test_unlisted_model_and_auth_failure():
    with FakeServer(responder=responder(), models=["other-model"]) as srv:
        report = diag(srv)
    assert report.check("models").result == "not listed" and report.usable
    unauthorized = {"json": {"error": {"message": "bad key"}}, "status": 401}
    with FakeServer([unauthorized], models=unauthorized) as srv:
        report = diag(srv)
    assert not report.usable and report.verdict.startswith("authentication failed: check --api-key-env")
    assert [r["method"] for r in srv.requests] == ["GET"]


def test_cli_doctor_json_exit_codes_and_no_key_leak(tmp_path, monkeypatch):
    secret = "sk-doctor-secret-0123456789"
    monkeypatch.setenv("DOCTOR_TEST_KEY", secret)
    out = tmp_path / "doctor.json"
    runner = CliRunner()
    with FakeServer(responder=responder()) as srv:
        res = runner.invoke(
            app,
            ["doctor", "--base-url", srv.base_url, "--api-key-env", "DOCTOR_TEST_KEY", "--json", str(out)],
        )
        assert srv.requests[1]["headers"]["authorization"] == f"Bearer {secret}"  # the key is used...
    assert res.exit_code == 0, res.output
    assert secret not in res.output and secret not in out.read_text()  # ...never shown
    data = json.loads(out.read_text())
    assert data["usable"] is True and data["model"] == "fake-model"  # discovered from /models
    assert data["api_key_env"] == "DOCTOR_TEST_KEY"
    assert [c["id"] for c in data["checks"]] == list(CHECKS)
    assert "verdict: usable: tool calling works with auto" in res.output
    for label in CHECKS.values():
        assert label in res.output

    with FakeServer(responder=responder(auto_calls=False)) as srv:
        res = runner.invoke(app, ["doctor", "--model", "fake-model", "--base-url", srv.base_url])
    assert res.exit_code == 1
    assert "not usable" in res.output and "--agent text" in res.output

    res = runner.invoke(app, ["doctor", "--model", "m", "--base-url", "ftp://nowhere"])
    assert res.exit_code == 2


@pytest.mark.llm
def test_doctor_against_real_local_model(local_model_url, tmp_path):
    out = tmp_path / "doctor.json"
    res = CliRunner().invoke(
        app, ["doctor", "--base-url", local_model_url, "--prompts", "1", "--json", str(out)]
    )
    assert res.exit_code in (0, 1), res.output
    for label in CHECKS.values():
        assert label in res.output
    assert "verdict:" in res.output
    data = json.loads(out.read_text())
    assert [c["id"] for c in data["checks"]] == list(CHECKS)
    assert data["verdict"]
    chat = next(c for c in data["checks"] if c["id"] == "chat")
    assert chat["status"] == "pass"  # the embedded model always answers a plain chat
    assert res.exit_code == (0 if data["usable"] else 1)


def test_wrong_model_name_does_not_answer():
    missing = {"json": {"error": {"message": "model 'nope' not found"}}, "status": 404}
    with FakeServer([missing]) as srv:
        report = asyncio.run(diagnose(EndpointConfig(model="nope", base_url=srv.base_url, timeout_s=5)))
    assert report.check("models").result == "not listed"
    assert report.check("chat").status == "fail"
    assert all(c.status == "skip" for c in report.checks[2:])
    assert not report.usable and report.verdict.startswith("model does not answer chats: check --model")
