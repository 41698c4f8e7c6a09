"""Reading a domain's tables from disk: a directory of one JSON file per table (tau-bench's layout)
or one JSON object holding every table (τ³'s ``db.json``). Every problem is a
:class:`~casework.domains.DataError` naming the file and what was expected."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from casework.domains.domain import DataError

MAX_REPORTED = 5  # problems listed in one error message
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


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


# -- checking tables -------------------------------------------------------------------------------
def field_path(parts: Sequence[Any]) -> str:
    """A field location as users write it: ``items[0].price``, ``payment_methods["gift card"]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENT.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def show_value(value: Any) -> str:
    """A value in a message, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def raise_problems(problems: list[str], total: int | None = None) -> None:
    """Raise one :class:`DataError` listing the first :data:`MAX_REPORTED` problems (and how many more)."""
    if not problems:
        return
    total = max(total or 0, len(problems))
    shown = problems[:MAX_REPORTED]
    if total > len(shown):
        shown.append(f"... and {total - len(shown)} more problem(s)")
    raise DataError("\n".join(shown))


#: A domain's own consistency check over validated tables: yields one message per problem.
TableCheck = Callable[[Mapping[str, Any], Mapping[str, str]], Iterator[str]]


@dataclass(frozen=True)
class TableSchema:
    """How a domain's tables are checked: record shapes (one pydantic adapter per table), then the
    domain's own checks (ids against keys, references across tables). Messages name the file, the
    record and the field, e.g. ``tickets.json: ticket 'T1' field 'status': expected one of ..., got 'x'``.

    ``strip_loc`` drops the discriminator tags pydantic inserts in error locations of tagged unions;
    ``tag_field`` names the discriminator field at such a location (for "required field is missing").
    """

    domain: str
    tables: tuple[str, ...]
    adapters: Mapping[str, TypeAdapter]
    records: Mapping[str, str]  # table -> what one record is called ("order")
    checks: tuple[TableCheck, ...] = ()
    strip_loc: Callable[[list[Any]], list[Any]] = field(default=lambda loc: loc)
    tag_field: Callable[[list[Any]], str] = field(default=lambda loc: "source")

    def check(self, tables: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> None:
        """Validate ``tables``; raise :class:`DataError` on any problem. ``sources`` names where each
        table came from (defaults to ``<table>.json``)."""
        sources = dict(sources or {name: f"{name}.json" for name in self.tables})
        article = "an" if self.domain[:1].lower() in "aeiou" else "a"
        for name in self.tables:
            if name not in tables:
                raise DataError(
                    f"no table {name!r}: {article} {self.domain} database has {_listed(self.tables)}"
                )
            if not isinstance(tables[name], dict):
                raise DataError(
                    f"{sources[name]}: expected a JSON object of {name} keyed by id, "
                    f"got {json_kind(tables[name])}"
                )
        for name in self.tables:
            try:
                self.adapters[name].validate_python(tables[name])
            except ValidationError as exc:
                raise_problems(list(self.describe(name, sources[name], exc)), exc.error_count())
        for check in self.checks:
            raise_problems(list(check(tables, sources)))

    def describe(self, table: str, source: str, exc: ValidationError) -> Iterator[str]:
        """pydantic's errors as ``file: record 'id' field 'path': expected ..., got ...`` lines."""
        for error in exc.errors(include_url=False)[:MAX_REPORTED]:
            loc = list(error["loc"])
            if not loc:  # the table itself (already checked to be a dict, so not expected)
                yield f"{source}: {error['msg']}"
                continue
            record_id, path = loc[0], self.strip_loc(loc[1:])
            where = f"{source}: {self.records[table]} {record_id!r}"
            kind, given, ctx = error["type"], error.get("input"), error.get("ctx") or {}
            if kind in ("missing", "union_tag_not_found"):
                if kind == "union_tag_not_found":
                    path = [*path, self.tag_field(path)]
                yield f"{where} field {field_path(path)!r}: required field is missing"
                continue
            if kind == "union_tag_invalid":
                path = [*path, self.tag_field(path)]
                expected = "expected one of " + ", ".join(_QUOTED.findall(str(ctx.get("expected_tags", ""))))
                given = ctx.get("tag")
            elif kind == "literal_error":
                expected = "expected one of " + ", ".join(_QUOTED.findall(str(ctx.get("expected", ""))))
            elif kind in ("dict_type", "model_type", "typed_dict_type"):
                expected = "expected an object"
            else:
                msg = error["msg"]
                expected = (
                    "expected " + msg[len("Input should be ") :]
                    if msg.startswith("Input should be ")
                    else msg
                )
            where_field = f" field {field_path(path)!r}" if path else ""
            yield f"{where}{where_field}: {expected}, got {show_value(given)}"
