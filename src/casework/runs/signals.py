"""SIGTERM handled like Ctrl-C, so that schedulers and ``timeout`` can stop a run cleanly.

Inside :func:`sigterm_as_interrupt`, SIGTERM calls whatever handles SIGINT at that moment: during
``asyncio.run`` that cancels the main task (the runner's ``finally`` closes the results file and
writes the summary), otherwise it raises ``KeyboardInterrupt``. ``state.terminated`` tells the
caller to exit with :data:`SIGTERM_EXIT_CODE` (128 + 15) rather than 130.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SIGTERM_EXIT_CODE = 143
SIGINT_EXIT_CODE = 130


@dataclass
class Interrupts:
    terminated: bool = False

    @property
    def exit_code(self) -> int:
        return SIGTERM_EXIT_CODE if self.terminated else SIGINT_EXIT_CODE


@contextmanager
def sigterm_as_interrupt(state: Interrupts | None = None) -> Iterator[Interrupts]:
    """Route SIGTERM to the current SIGINT handler while the block runs (main thread only).

    Enter it again (with the same ``state``) after starting anything that may install its own
    SIGTERM handler, such as the embedded model server.
    """
    state = state if state is not None else Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def on_sigterm(signum, frame) -> None:
        state.terminated = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)
