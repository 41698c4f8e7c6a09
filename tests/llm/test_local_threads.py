"""The embedded server's thread count follows the idle cores (see auto_threads for the measurement)."""

from __future__ import annotations

import os

import pytest

from casework.llm.local import LocalServerProcess, auto_threads


@pytest.mark.parametrize(
    ("cores", "load", "expected"),
    [(2, 0.1, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 11.9, 1), (16, 3.0, 2), (1, 0.0, 1)],
)
def test_threads_are_the_idle_cores_between_1_and_2(monkeypatch, cores, load, expected):
    monkeypatch.delenv("CASEWORK_LOCAL_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert auto_threads() == expected
    assert LocalServerProcess().threads == expected
    assert LocalServerProcess(threads=3).threads == 3


def test_the_environment_can_force_a_thread_count(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 50.0, 50.0))
    monkeypatch.setenv("CASEWORK_LOCAL_THREADS", "4")
    assert auto_threads() == 4
    monkeypatch.setenv("CASEWORK_LOCAL_THREADS", "lots")
    assert auto_threads() == 1
