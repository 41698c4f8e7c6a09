"""User errors: mistakes in what the user asked for (a file, a flag's value), reported as one line.

Raise :class:`UserError` (or one of the existing input errors listed in :func:`user_error_types`)
from any package; the ``casework`` command turns it into ``error: <message>`` on stderr and exit
code 2, never a traceback. The message names the value and says what was expected.
"""

from __future__ import annotations


class UserError(ValueError):
    """A user mistake: the message is one line naming the value and what was expected."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Every exception type that means "bad input", imported lazily (the CLI catches these)."""
    from casework.domains import DataError
    from casework.llm import ConfigError
    from casework.reports.analysis import ReportError
    from casework.runs.store import RunDirError
    from casework.tasks import TaskFormatError

    return (UserError, DataError, ConfigError, ReportError, RunDirError, TaskFormatError)


def one_line(message: str) -> str:
    """``message`` on one line (newlines become ``; ``)."""
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())
