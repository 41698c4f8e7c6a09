"""The ``casework`` command line. Thin: each module parses one noun's arguments and calls the packages.

``app`` is the root command (:mod:`casework.cli._app`); importing this package registers every
command module on it.
"""

from __future__ import annotations

# registration order is the order of `casework --help`
from casework.cli import run, collect  # noqa: F401, I001  isort: skip
from casework.cli import generate, studies, report, serve, demo, data, domain, tasks, bench, train  # noqa: F401, I001  isort: skip
from casework.cli._app import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - entry point
    app()
