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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from casework.domains.airline.models import DISCRIMINATORS, TABLE_ADAPTERS
from casework.domains.loading import TableSchema, field_path, read_tables, show_value
from casework.domains.state import Database

TABLES = ("flights", "reservations", "users")
_RECORD = {"users": "user", "flights": "flight", "reservations": "reservation"}
_LAYOUT_HINT = (
    "expected a tau-bench layout directory (users.json, flights.json, reservations.json) or a db.json file"
)


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
    _SCHEMA.check(tables, sources)


def _strip_tags(path: list[Any]) -> list[Any]:
    """Drop the discriminator tags pydantic inserts in error locations (payment source, date status)."""
    return [part for i, part in enumerate(path) if not (i >= 2 and part in DISCRIMINATORS)]


def _tag_field(path: list[Any]) -> str:
    return "status" if "dates" in path else "source"


def _check_ids(tables: Mapping[str, Any], sources: Mapping[str, str]) -> Iterator[str]:
    """Each record's own id fields match the keys they are stored under."""
    for key, user in tables["users"].items():
        if user.get("user_id") not in (None, key):
            yield f"{sources['users']}: user {key!r} field 'user_id': expected {key!r} (the record's key), got {show_value(user['user_id'])}"
        for pm_key, method in user["payment_methods"].items():
            if method["id"] != pm_key:
                yield (
                    f"{sources['users']}: user {key!r} field {field_path(['payment_methods', pm_key, 'id'])!r}: "
                    f"expected {pm_key!r} (the payment method's key), got {show_value(method['id'])}"
                )
    for key, flight in tables["flights"].items():
        if flight["flight_number"] != key:
            yield f"{sources['flights']}: flight {key!r} field 'flight_number': expected {key!r} (the record's key), got {show_value(flight['flight_number'])}"
    for key, reservation in tables["reservations"].items():
        if reservation["reservation_id"] != key:
            yield f"{sources['reservations']}: reservation {key!r} field 'reservation_id': expected {key!r} (the record's key), got {show_value(reservation['reservation_id'])}"


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


_SCHEMA = TableSchema(
    domain="airline",
    tables=TABLES,
    adapters=TABLE_ADAPTERS,
    records=_RECORD,
    checks=(_check_ids, _check_references),
    strip_loc=_strip_tags,
    tag_field=_tag_field,
)

__all__ = ["TABLES", "check_airline", "default_airline_database", "load_airline"]
