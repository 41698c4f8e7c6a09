"""Argument normalisation, so that actions that mean the same call compare equal.

:func:`normalize_arguments` applies these rules, recursively through nested objects and lists
(a value inside a list or object is treated as belonging to the nearest enclosing field name).
Rules 2, 3, 5 and 6 come from the domain (:class:`casework.domains.ArgumentRules`, passed as
``rules``); without rules only the generic ones apply.

1. **Whitespace**: surrounding whitespace is stripped from every string.
2. **Id prefixes** (``rules.id_prefixes``): a field such as ``ticket_id`` gets its canonical
   prefix (say ``#``) when it lacks one, so ``T5442520`` and ``#T5442520`` compare equal.
3. **Case-insensitive fields** (``rules.case_insensitive``, e.g. emails and names) are lower-cased
   (``str.casefold``).
4. **Numbers given as strings** become numbers (``"12.5"`` → ``12.5``, ``"3"`` → ``3``) unless the
   field is id-like or code-like (:func:`is_string_field`: ``id``, ``*_id``, ``*_ids``, zip/postal
   codes, ``last_four``, phone numbers, ..., plus ``rules.string_fields``), so the zip ``"80218"``
   and the item id ``"1008292230"`` stay strings. Only plain decimals are converted
   (``-?digits[.digits]``), and never a value with a leading zero such as ``"0042"`` (that is a
   code, not a quantity). Floats with an integral value become ints, so ``12``, ``12.0`` and
   ``"12"`` all compare equal.
5. **List order**, per tool (``rules.sorted_lists``): where a tool sorts a list argument itself,
   the order the caller gave does not matter. A group of several fields that the tool pairs
   positionally (``old_ids[i]`` is swapped for ``new_ids[i]``) is sorted *jointly* as
   tuples, so the pairing is preserved; a group of one field is simply sorted. Groups whose lists
   differ in length are left as given (the pairing is broken, so any order is as good). Other lists
   keep their order.
6. **Free text** (``rules.free_text``): prose arguments such as a transfer's ``summary`` or a
   ``think`` thought are dropped, so two transfers match whatever their summaries say.

:func:`normalize_action` turns an action into a hashable key (the stripped tool name and the
canonical JSON of its normalised arguments); :func:`actions_equal` compares two actions by key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from casework.domains.domain import ArgumentRules
from casework.tasks.model import Action

NO_RULES = ArgumentRules()

#: Exact field names (besides ``id``/``*_id``/``*_ids``) whose numeric-looking strings stay strings.
STRING_FIELDS: frozenset[str] = frozenset(
    {
        "zip",
        "zipcode",
        "zip_code",
        "postal_code",
        "postcode",
        "last_four",
        "phone",
        "phone_number",
        "card_number",
        "account_number",
        "flight_number",
        "cvv",
        "pin",
        "code",
    }
)

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")


def is_string_field(field: str | None, rules: ArgumentRules = NO_RULES) -> bool:
    """True for id-like and code-like fields, whose numeric-looking values must stay strings."""
    if field is None:
        return False
    name = field.lower()
    return (
        name in ("id", "ids")
        or name.endswith(("_id", "_ids", "zip", "_code", "_number"))
        or name in STRING_FIELDS
        or field in rules.string_fields
    )


def _to_number(text: str) -> int | float | str:
    if not _NUMBER.fullmatch(text):
        return text
    if "." in text:
        value = float(text)
        return int(value) if value.is_integer() else value
    return int(text)


def _normalize_value(field: str | None, value: Any, rules: ArgumentRules) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _normalize_value(str(k), v, rules) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalize_value(field, v, rules) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return value
    text = value.strip()
    prefix = rules.id_prefixes.get(field) if field is not None else None
    if prefix:
        return text if not text or text.startswith(prefix) else prefix + text
    if field in rules.case_insensitive:
        return text.casefold()
    if is_string_field(field, rules):
        return text
    return _to_number(text)


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _sort_lists(tool_name: str, arguments: dict[str, Any], rules: ArgumentRules) -> None:
    for group in rules.sorted_lists.get(tool_name, ()):
        lists = [arguments.get(name) for name in group]
        if not all(isinstance(v, list) for v in lists):
            continue
        if len({len(v) for v in lists}) != 1:
            continue  # pairing broken: leave as given
        rows = sorted(zip(*lists, strict=True), key=_sort_key)
        for position, name in enumerate(group):
            arguments[name] = [row[position] for row in rows]


def normalize_arguments(
    tool_name: str, arguments: Mapping[str, Any], rules: ArgumentRules = NO_RULES
) -> dict[str, Any]:
    """Return a normalised copy of ``arguments`` for ``tool_name`` under the domain's ``rules``
    (see the module docstring)."""
    prose = rules.free_text.get(tool_name.strip(), frozenset())
    normalized = {
        str(k): _normalize_value(str(k), v, rules) for k, v in arguments.items() if str(k) not in prose
    }
    _sort_lists(tool_name.strip(), normalized, rules)
    return normalized


def _name_and_arguments(action: Any) -> tuple[str, Mapping[str, Any]]:
    if isinstance(action, Action):
        return action.name, action.arguments
    if isinstance(action, Mapping):
        arguments = action.get("arguments", action.get("kwargs", {}))
        return str(action["name"]), arguments or {}
    if isinstance(action, tuple | list) and len(action) == 2:
        return str(action[0]), action[1] or {}
    raise TypeError(
        f"expected an Action, a {{name, arguments}} mapping or a (name, arguments) pair, got {action!r}"
    )


def normalize_action(
    action: Action | Mapping[str, Any] | tuple[str, Mapping[str, Any]], rules: ArgumentRules = NO_RULES
) -> tuple[str, str]:
    """A hashable key: (tool name, canonical JSON of the normalised arguments).

    Accepts an :class:`Action`, a mapping with ``name`` and ``arguments`` (or tau-bench's
    ``kwargs``), or a ``(name, arguments)`` pair.
    """
    name, arguments = _name_and_arguments(action)
    name = name.strip()
    canonical = json.dumps(
        normalize_arguments(name, arguments, rules), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return name, canonical


def actions_equal(a: Any, b: Any, rules: ArgumentRules = NO_RULES) -> bool:
    """True when the two actions are the same call once their arguments are normalised."""
    return normalize_action(a, rules) == normalize_action(b, rules)
