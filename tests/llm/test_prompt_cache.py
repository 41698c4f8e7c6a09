"""The prompt-prefix cache: restored from disk when saved, otherwise warmed once, saved and shared
with every slot; an unusable file is replaced. Against a fake llama.cpp slots API, and (marked llm)
against the real embedded server."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from casework.llm.prompt_cache import prefix_key, prepare_prompt_cache

from .fake_server import FakeServer, chat_json

MESSAGES = [{"role": "system", "content": "You are a careful agent. " * 20}]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
IDENTITY = {"model": "sha", "runtime": "1", "template": "t", "ctx": 8192}


class FakeSlots:
    """llama.cpp's slot save/restore over files in ``directory`` (a file holds its token count)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = FakeServer(responder=self.respond)
        self.actions: list[tuple[str, int, str]] = []

    def respond(self, body: dict) -> dict:
        path = self.server.requests[-1]["path"]
        slot = re.match(r"/slots/(\d+)\?action=(\w+)", path)
        if slot is None:
            self.actions.append(("chat", body.get("id_slot"), json.dumps(body["messages"][-1])))
            return {"json": chat_json("x")}
        number, action = int(slot.group(1)), slot.group(2)
        target = self.directory / body["filename"]
        self.actions.append((action, number, body["filename"]))
        if action == "save":
            target.write_text("120")
            return {"json": {"id_slot": number, "filename": body["filename"], "n_saved": 120}}
        text = target.read_text() if target.exists() else ""
        if not text.isdigit():
            return {"status": 400, "json": {"error": {"message": "Unable to restore slot"}}}
        return {"json": {"id_slot": number, "n_restored": int(text)}}


@pytest.fixture
def slots(tmp_path: Path):
    fake = FakeSlots(tmp_path)
    fake.server.start()
    yield fake
    fake.server.stop()


def prepare(fake: FakeSlots, key: str, slot_count: int = 3, notes: list | None = None):
    return prepare_prompt_cache(
        fake.server.base_url,
        fake.directory,
        key,
        MESSAGES,
        TOOLS,
        model="m",
        slots=slot_count,
        on_status=(notes.append if notes is not None else None),
    )


def test_cold_warms_slot_0_saves_atomically_and_restores_into_the_other_slots(slots: FakeSlots):
    key = prefix_key(MESSAGES, TOOLS, identity=IDENTITY)
    result = prepare(slots, key)
    assert result.action == "warmed" and result.tokens == 120
    name = f"prefix-{key[:32]}.bin"
    assert result.path == slots.directory / name and result.path.read_text() == "120"
    kinds = [(a, s) for a, s, _ in slots.actions]
    assert kinds == [("chat", 0), ("save", 0), ("restore", 1), ("restore", 2)]
    assert slots.actions[1][2].startswith("tmp-") and slots.actions[2][2] == name
    warm = slots.server.requests[0]["body"]
    assert warm["messages"][:-1] == MESSAGES and warm["tools"] == TOOLS and warm["max_tokens"] == 1
    assert not list(slots.directory.glob("tmp-*"))


def test_a_saved_prefix_is_restored_into_every_slot_without_a_model_call(slots: FakeSlots):
    key = prefix_key(MESSAGES, TOOLS, identity=IDENTITY)
    prepare(slots, key)
    slots.actions.clear()
    result = prepare(slots, key)
    assert result.action == "restored" and result.tokens == 120
    assert [(a, s) for a, s, _ in slots.actions] == [("restore", 0), ("restore", 1), ("restore", 2)]


def test_an_unusable_file_is_replaced(slots: FakeSlots):
    key = prefix_key(MESSAGES, TOOLS, identity=IDENTITY)
    (slots.directory / f"prefix-{key[:32]}.bin").write_text("garbage")
    notes: list[str] = []
    result = prepare(slots, key, slot_count=1, notes=notes)
    assert result.action == "warmed" and "not usable" in (result.detail or "")
    assert "HTTP 400" in notes[0]
    assert result.path.read_text() == "120"


def test_the_key_covers_prefix_tools_and_server_identity():
    base = prefix_key(MESSAGES, TOOLS, identity=IDENTITY)
    assert base == prefix_key(list(MESSAGES), list(TOOLS), identity=dict(IDENTITY))
    assert base != prefix_key(MESSAGES, None, identity=IDENTITY)
    assert base != prefix_key([{"role": "system", "content": "other"}], TOOLS, identity=IDENTITY)
    for field, value in (("model", "other"), ("runtime", "2"), ("template", "u"), ("ctx", 4096)):
        assert base != prefix_key(MESSAGES, TOOLS, identity={**IDENTITY, field: value})


def _chat(base_url: str, messages: list[dict], slot: int) -> dict:
    body = {
        "model": "m",
        "messages": messages,
        "tools": TOOLS,
        "max_tokens": 4,
        "temperature": 0,
        "id_slot": slot,
    }
    request = urllib.request.Request(
        base_url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


@pytest.mark.llm
def test_real_server_first_call_reuses_a_restored_prefix(tmp_path: Path, request):
    """Warm a short prefix on one server and restore it on a fresh one (two slots): the fresh
    server's first calls, on either slot, read only the tokens after the prefix."""
    import os

    from casework.domains import get_domain
    from casework.llm.local import LocalServerProcess, local_extra_missing, server_identity

    opted_in = (
        "llm" in (request.config.getoption("markexpr") or "") or os.environ.get("CASEWORK_LLM_TESTS") == "1"
    )
    if not opted_in:
        pytest.skip("real-model test: run with -m llm or CASEWORK_LLM_TESTS=1")
    if reason := local_extra_missing():
        pytest.skip(reason)
    messages = [{"role": "system", "content": get_domain("retail").policy[:1500]}]
    directory = tmp_path / "prompt-cache"

    def server() -> LocalServerProcess:
        return LocalServerProcess(
            ctx=2048, parallel=2, slot_save_path=directory, log_path=tmp_path / "server.log"
        )

    results = []
    for _ in range(2):
        with server() as srv:
            key = prefix_key(messages, TOOLS, identity=server_identity(srv.model_path, ctx=2048))
            results.append(
                prepare_prompt_cache(srv.base_url, directory, key, messages, TOOLS, model="m", slots=2)
            )
            if len(results) == 2:
                answers = [
                    _chat(
                        srv.base_url, [*messages, {"role": "user", "content": f"Where is order {n}?"}], slot=n
                    )
                    for n in (0, 1)
                ]
    warmed, restored = results
    assert warmed.action == "warmed" and restored.action == "restored"
    assert restored.tokens == warmed.tokens > 300
    for answer in answers:
        usage = answer["usage"]
        assert usage["prompt_tokens_details"]["cached_tokens"] >= warmed.tokens - 8, usage
        assert usage["prompt_tokens"] - usage["prompt_tokens_details"]["cached_tokens"] < 30, usage
