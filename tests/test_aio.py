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


class _Resource:
    def __init__(self, log: list[str], name: str):
        self.log, self.name = log, name

    async def aclose(self) -> None:
        self.log.append(self.name)


def test_clients_are_closed_on_the_loop_after_the_work_even_when_it_fails():
    log: list[str] = []
    first, second = _Resource(log, "first"), _Resource(log, "second")

    async def work() -> int:
        log.append("work")
        return 7

    assert aio.run(work(), closing=[first, None, second, first]) == 7
    assert log == ["work", "first", "second"]  # each once, None skipped

    async def broken() -> None:
        raise RuntimeError("boom")

    log.clear()
    with pytest.raises(RuntimeError, match="boom"):
        aio.run(broken(), closing=[first])
    assert log == ["first"]
