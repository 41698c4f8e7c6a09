"""Loading, validating and building airline databases.

Two on-disk layouts are read by :func:`load_airline`:

* a **tau-bench v1 directory** holding ``users.json``, ``flights.json`` and ``reservations.json``,
  each a JSON object ``{id: record}``;
* a **single JSON file** ``{"flights": ..., "users": ..., "reservations": ...}``: τ³'s ``db.json``.
  The copy of τ³'s airline ``db.json`` in ``../shared/data/tau3/airline`` is a *reconstruction*
  (v1's data in τ³'s layout with τ³'s documented data fixes), not a file published by τ³; results
  measured on it are labelled as such.

Every record is checked against :mod:`casework.domains.airline.models`, ids against their keys,
and references across tables (``reservation.user_id``, ``user.reservations``, each reserved flight
and date). Any problem raises :class:`~casework.domains.domain.DataError` naming the file, the
record and the field, e.g. ``reservations.json: reservation '4WQ150' field 'cabin': expected one of
basic_economy, economy, business, got 'first'``. The tables are kept as raw dicts, in file order.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from casework.domains.airline.models import DISCRIMINATORS, TABLE_ADAPTERS
from casework.domains.domain import DataError
from casework.domains.loading import json_kind, read_tables
from casework.domains.state import Database

TABLES = ("flights", "reservations", "users")
_RECORD = {"users": "user", "flights": "flight", "reservations": "reservation"}
_LAYOUT_HINT = (
    "expected a tau-bench layout directory (users.json, flights.json, reservations.json) or a db.json file"
)
MAX_REPORTED = 5
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


@functools.cache
def default_airline_database() -> Database:
    """The embedded default database: ``generate_airline(seed=0)`` with default sizes, built once."""
    from casework.domains.airline.generator import generate_airline

    return Database(generate_airline(seed=0))


def load_airline(path: Path) -> Database:
    """Read and validate an airline database from a tau-bench directory or a τ³ ``db.json`` file."""
    tables, sources = _read(Path(path))
    check_airline(tables, sources)
    return Database(tables)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    return read_tables(path, TABLES, domain="airline", layout_hint=_LAYOUT_HINT, single_file="τ³'s db.json")


def check_airline(tables: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> None:
    """Validate airline tables (record shapes, ids, references); raise :class:`DataError` on any problem."""
    sources = dict(sources or {name: f"{name}.json" for name in TABLES})
    for name in TABLES:
        if name not in tables:
            raise DataError(f"no table {name!r}: an airline database has flights, users and reservations")
        if not isinstance(tables[name], dict):
            raise DataError(
                f"{sources[name]}: expected a JSON object of {name} keyed by id, got {_kind(tables[name])}"
            )
    for name in TABLES:
        try:
            TABLE_ADAPTERS[name].validate_python(tables[name])
        except ValidationError as exc:
            _raise(list(_describe_errors(name, sources[name], exc)), exc.error_count())
    _raise(list(_check_ids(tables, sources)))
    _raise(list(_check_references(tables, sources)))


def _raise(problems: list[str], total: int | None = None) -> None:
    if not problems:
        return
    total = max(total or 0, len(problems))
    shown = problems[:MAX_REPORTED]
    if total > len(shown):
        shown.append(f"... and {total - len(shown)} more problem(s)")
    raise DataError("\n".join(shown))


def _describe_errors(table: str, source: str, exc: ValidationError) -> Iterator[str]:
    for error in exc.errors(include_url=False)[:MAX_REPORTED]:
        loc = list(error["loc"])
        record_id = loc[0]
        path = [part for i, part in enumerate(loc[1:]) if not (i >= 2 and part in DISCRIMINATORS)]
        where = f"{source}: {_RECORD[table]} {record_id!r}"
        kind, given, ctx = error["type"], error.get("input"), error.get("ctx") or {}
        if kind == "missing":
            yield f"{where} field {_path(path)!r}: required field is missing"
            continue
        if kind == "union_tag_not_found":
            tag = "status" if "dates" in path else "source"
            yield f"{where} field {_path([*path, tag])!r}: required field is missing"
            continue
        if kind == "union_tag_invalid":
            tag = "status" if "dates" in path else "source"
            path = [*path, tag]
            expected = "expected one of " + ", ".join(_QUOTED.findall(str(ctx.get("expected_tags", ""))))
            given = ctx.get("tag")
        elif kind == "literal_error":
            expected = "expected one of " + ", ".join(_QUOTED.findall(str(ctx.get("expected", ""))))
        elif kind in ("dict_type", "model_type"):
            expected = "expected an object"
        else:
            msg = error["msg"]
            expected = (
                "expected " + msg[len("Input should be ") :] if msg.startswith("Input should be ") else msg
            )
        field = f" field {_path(path)!r}" if path else ""
        yield f"{where}{field}: {expected}, got {_show(given)}"


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENT.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    return json_kind(value)


def _check_ids(tables: Mapping[str, Any], sources: Mapping[str, str]) -> Iterator[str]:
    """Each record's own id fields match the keys they are stored under."""
    for key, user in tables["users"].items():
        if user.get("user_id") not in (None, key):
            yield f"{sources['users']}: user {key!r} field 'user_id': expected {key!r} (the record's key), got {_show(user['user_id'])}"
        for pm_key, method in user["payment_methods"].items():
            if method["id"] != pm_key:
                yield (
                    f"{sources['users']}: user {key!r} field {_path(['payment_methods', pm_key, 'id'])!r}: "
                    f"expected {pm_key!r} (the payment method's key), got {_show(method['id'])}"
                )
    for key, flight in tables["flights"].items():
        if flight["flight_number"] != key:
            yield f"{sources['flights']}: flight {key!r} field 'flight_number': expected {key!r} (the record's key), got {_show(flight['flight_number'])}"
    for key, reservation in tables["reservations"].items():
        if reservation["reservation_id"] != key:
            yield f"{sources['reservations']}: reservation {key!r} field 'reservation_id': expected {key!r} (the record's key), got {_show(reservation['reservation_id'])}"


def _check_references(tables: Mapping[str, Any], sources: Mapping[str, str]) -> Iterator[str]:
    """reservation.user_id, user.reservations and every reserved flight and date resolve."""
    users, flights, reservations = tables["users"], tables["flights"], tables["reservations"]
    for key, reservation in reservations.items():
        if reservation["user_id"] not in users:
            yield f"{sources['reservations']}: reservation {key!r} field 'user_id': no user {reservation['user_id']!r} in {sources['users']}"
        for i, leg in enumerate(reservation["flights"]):
            flight = flights.get(leg["flight_number"])
            if flight is None:
                yield (
                    f"{sources['reservations']}: reservation {key!r} field 'flights[{i}].flight_number': "
                    f"no flight {leg['flight_number']!r} in {sources['flights']}"
                )
            elif leg["date"] not in flight["dates"]:
                yield (
                    f"{sources['reservations']}: reservation {key!r} field 'flights[{i}].date': flight "
                    f"{leg['flight_number']!r} does not fly on {leg['date']!r} in {sources['flights']}"
                )
    for key, user in users.items():
        for i, reservation_id in enumerate(user["reservations"]):
            if reservation_id not in reservations:
                yield f"{sources['users']}: user {key!r} field 'reservations[{i}]': no reservation {reservation_id!r} in {sources['reservations']}"


__all__ = ["TABLES", "check_airline", "default_airline_database", "load_airline"]
