"""Shared pieces of the domains' synthetic-data generators: people and places, and table files.

The names and places come from ``domains/data/people.json`` (first and last names, street names,
and ``(city, state, zip prefix)`` triples), read once. :func:`dumps_indented` is exactly
``json.dumps(value, indent=2)`` (ASCII, key order kept, finite floats), through orjson: about 7x
faster than the standard library's indenting encoder (20,000 users and 40,000 orders: 2.3 s instead
of 31 s, measured side by side). Where orjson's text could differ from the standard library's (non-ASCII
text, which json escapes; exponent floats such as ``1e+16``; integers beyond 64 bits; non-string keys)
it falls back to ``json.dumps``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson

_PEOPLE = json.loads((Path(__file__).parent / "data" / "people.json").read_text(encoding="utf-8"))
FIRST_NAMES: tuple[str, ...] = tuple(_PEOPLE["first_names"])
LAST_NAMES: tuple[str, ...] = tuple(_PEOPLE["last_names"])
STREETS: tuple[str, ...] = tuple(_PEOPLE["streets"])
#: (city, state, zip prefix)
CITIES: tuple[tuple[str, str, str], ...] = tuple((c, s, z) for c, s, z in _PEOPLE["cities"])


_EXPONENT = re.compile(rb"\d[eE][+-]?\d")


def _dumps(value: Any) -> bytes:
    try:
        out = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except (TypeError, orjson.JSONEncodeError):
        out = None
    if out is None or not out.isascii() or _EXPONENT.search(out):
        return json.dumps(value, indent=2).encode("ascii")
    return out


def dumps_indented(value: Any) -> str:
    """Exactly ``json.dumps(value, indent=2)`` (finite floats), several times faster."""
    return _dumps(value).decode("ascii")


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as ``json.dumps(value, indent=2)`` plus a final newline; the path."""
    path = Path(path)
    path.write_bytes(_dumps(value) + b"\n")
    return path
