"""A domain bundles its data model, its tools, its policy text and its initial database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from casework.domains.state import Database, State
from casework.domains.tools import Toolbox, ToolKind


@dataclass
class Domain:
    """Everything a simulation or validation needs to know about one world (retail, airline, ...).

    ``load_data(path)`` reads a database from disk in the domain's supported layouts (raising
    :class:`DataError` with the file and field on bad input); ``default_data()`` builds the embedded
    default database. ``grounding(state, user_id, tool, arguments)`` lists the ids in an action that do
    not exist or do not belong to the task's user.
    """

    name: str
    tables: tuple[str, ...]
    toolbox: Toolbox
    policy: str
    default_data: Callable[[], Database]
    load_data: Callable[[Path], Database]
    grounding: Callable[[State, str | None, str, dict[str, Any]], list[str]] | None = None
    _default_db: Database | None = field(default=None, repr=False)

    def database(self, data: Path | None = None) -> Database:
        """The database at ``data`` (a file or directory), or the embedded default (built once)."""
        if data is not None:
            return self.load_data(Path(data))
        if self._default_db is None:
            self._default_db = self.default_data()
        return self._default_db

    def fork(self, data: Path | None = None) -> State:
        return self.database(data).fork()

    def call(self, state: State, name: str, arguments: Any) -> str:
        return self.toolbox.call(state, name, arguments)

    def is_write(self, tool_name: str) -> bool:
        found = self.toolbox.tools.get(tool_name)
        return found is not None and found.kind == ToolKind.WRITE


class DataError(ValueError):
    """A database file is missing or malformed; the message names the file and the field."""
