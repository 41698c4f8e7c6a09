import asyncio

import pytest

from casework import aio


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_run_uses_uvloop_when_installed(monkeypatch):
    pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")
    monkeypatch.delenv("CASEWORK_EVENT_LOOP", raising=False)
    assert aio.loop_name() == "uvloop"
    assert aio.run(_loop_module()).startswith("uvloop")


def test_environment_forces_the_standard_loop(monkeypatch):
    monkeypatch.setenv("CASEWORK_EVENT_LOOP", "asyncio")
    assert aio.loop_name() == "asyncio"
    assert aio.run(_loop_module()).startswith("asyncio")
