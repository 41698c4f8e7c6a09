"""Shared fixtures. Reference data lives in ../shared/data (never copied into the repository)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CASEWORK_SHARED", REPO.parent / "shared"))
TAU_RETAIL = SHARED / "data" / "tau-bench-v1" / "retail"
TAU3 = SHARED / "data" / "tau3"


class ConversationJudge:
    """A stand-in for a judge that looks for a grounded refusal: it meets an assertion only when one
    agent line of the conversation mentions ``word`` (default "policy") and every id of the assertion
    (a token with both letters and digits, e.g. an order or reservation id)."""

    class config:
        model = "conversation-judge"

    def __init__(self, word: str = "policy"):
        self.word = word
        self.prompts: list[str] = []

    async def chat(self, messages, role=None, **params):
        import re

        from casework.llm.types import CallRecord, Completion

        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        assertion = prompt.rsplit("Expected outcome:", 1)[-1] if "Expected outcome:" in prompt else ""
        ids = [
            t
            for t in re.findall(r"#?\b\w*\d\w*\b", assertion)
            if re.search(r"[A-Za-z]", t) and re.search(r"\d", t)
        ]
        agent_lines = [line.lower() for line in prompt.splitlines() if line.startswith("assistant:")]
        met = any(self.word in line and all(i.lower() in line for i in ids) for line in agent_lines)
        record = CallRecord(
            role=role, model="conversation-judge", latency_s=0.01, prompt_tokens=len(prompt) // 4
        )
        content = json.dumps({"reasoning": "scripted", "met": met})
        return Completion(content=content, usage=record.model_copy(update={"completion_tokens": 9}))


@pytest.fixture(scope="session")
def conversation_judge():
    """``conversation_judge(word="policy")`` -> a new :class:`ConversationJudge`."""
    return ConversationJudge


@pytest.fixture(scope="session")
def tau_retail_dir() -> Path:
    """The tau-bench v1 retail data directory; skips the test when ../shared is absent."""
    if not (TAU_RETAIL / "orders.json").exists():
        pytest.skip(f"reference data not found at {TAU_RETAIL} (needs ../shared/data beside the repository)")
    return TAU_RETAIL


@pytest.fixture(scope="session")
def tau3_dir() -> Path:
    """τ³'s reference data (``retail/``, ``airline/``, ``telecom/``); skips the test when absent."""
    if not (TAU3 / "retail" / "tasks_train.json").exists():
        pytest.skip(f"τ³ reference data not found at {TAU3} (needs ../shared/data beside the repository)")
    return TAU3


@pytest.fixture(scope="session")
def tau_retail_tables(tau_retail_dir: Path) -> dict:
    """Plain dict tables of the tau-bench retail database (do not mutate)."""
    return {
        name: json.loads((tau_retail_dir / f"{name}.json").read_text())
        for name in ("orders", "products", "users")
    }


@pytest.fixture(scope="session")
def tau_retail_db(tau_retail_tables: dict):
    from casework.domains.state import Database

    return Database({k: dict(v) for k, v in tau_retail_tables.items()})


# -- the real embedded local model (casework[local]) --------------------------------------------


def _opted_in(config: pytest.Config) -> bool:
    return "llm" in (config.getoption("markexpr") or "") or os.environ.get("CASEWORK_LLM_TESTS") == "1"


@pytest.fixture(scope="session")
def local_model_url(request: pytest.FixtureRequest):
    """Base URL (``http://127.0.0.1:PORT/v1``) of the real local model server.

    The real model takes both cores for a couple of minutes, so it only runs when asked for:
    ``pytest -m llm`` or ``CASEWORK_LLM_TESTS=1``."""
    if not _opted_in(request.config):
        pytest.skip("real-model test: run with -m llm or CASEWORK_LLM_TESTS=1")
    from casework.llm.local import local_extra_missing

    reason = local_extra_missing()
    if reason:
        pytest.skip(reason)
    from casework.llm.local import ensure_local_model, spawn_local_server

    ensure_local_model()
    threads = int(os.environ.get("CASEWORK_TEST_THREADS", "2"))
    log = tempfile.NamedTemporaryFile(prefix="casework-local-server-", suffix=".log", delete=False)  # noqa: SIM115
    proc, url = spawn_local_server(threads=threads, ctx=8192, parallel=1, log_file=log)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()
            proc.wait()
        log.close()
        os.unlink(log.name)


# -- the whole training loop on the real model (marker train_loop) ------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``train_loop`` tests take tens of minutes and ~12 GB RAM: they run only when asked for
    (``CASEWORK_SLOW_TESTS=1`` or ``-m train_loop``), never in the default suite or ``make test``."""
    if os.environ.get("CASEWORK_SLOW_TESTS") == "1" or "train_loop" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(
        reason="the real-model training loop: run with CASEWORK_SLOW_TESTS=1 or -m train_loop"
    )
    for item in items:
        if "train_loop" in item.keywords:
            item.add_marker(skip)
