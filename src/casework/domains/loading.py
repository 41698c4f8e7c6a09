"""Reading a domain's tables from disk: a directory of one JSON file per table (tau-bench's layout)
or one JSON object holding every table (τ³'s ``db.json``). Every problem is a
:class:`~casework.domains.DataError` naming the file and what was expected."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from casework.domains.domain import DataError


def json_kind(value: Any) -> str:
    """How a JSON value is called in messages: an object, an array, a string, ..."""
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def read_json(file: Path) -> Any:
    """The JSON value in ``file``; :class:`DataError` with the position on bad input."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DataError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{file}: not valid UTF-8 text at byte {exc.start}") from exc


def read_tables(
    path: Path, tables: Sequence[str], *, domain: str, layout_hint: str, single_file: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """``(tables, sources)`` from a directory holding ``<table>.json`` files or one JSON file.

    ``sources`` names where each table came from, for the messages of the domain's own checks.
    ``single_file`` describes the one-file layout (e.g. "τ³'s db.json").
    """
    path = Path(path)
    if path.is_dir():
        found: dict[str, Any] = {}
        for name in tables:
            file = path / f"{name}.json"
            if not file.is_file():
                raise DataError(f"no {name}.json in {path}: {layout_hint}")
            found[name] = read_json(file)
        return found, {name: str(path / f"{name}.json") for name in tables}
    if not path.exists():
        raise DataError(f"{path}: no such file or directory: {layout_hint}")
    data = read_json(path)
    if not isinstance(data, dict):
        shape = ", ".join(f'"{name}": ...' for name in tables)
        raise DataError(f"{path}: expected a JSON object {{{shape}}}, got {json_kind(data)}")
    missing = [name for name in tables if name not in data]
    if missing:
        raise DataError(
            f"{path}: no table {', '.join(repr(m) for m in missing)}: expected a JSON object with the tables "
            f"{_listed(tables)} ({single_file}), found {sorted(data) or 'no tables'}"
        )
    unknown = sorted(set(data) - set(tables))
    if unknown:
        article = "an" if domain[:1].lower() in "aeiou" else "a"
        raise DataError(
            f"{path}: unknown table(s) {unknown}: {article} {domain} database has {_listed(tables)}"
        )
    return {name: data[name] for name in tables}, {name: f"{path} (table {name!r})" for name in tables}
