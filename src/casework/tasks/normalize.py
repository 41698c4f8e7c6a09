"""Argument normalisation, so that actions that mean the same call compare equal.

:func:`normalize_arguments` applies these rules, recursively through nested objects and lists
(a value inside a list or object is treated as belonging to the nearest enclosing field name):

1. **Whitespace**: surrounding whitespace is stripped from every string.
2. **Order ids**: a field named ``order_id`` gets a leading ``#`` when it lacks one, so ``W5442520``
   and ``#W5442520`` compare equal (``#`` is the canonical form, as the tau-bench retail data uses).
3. **Case-insensitive fields** (:data:`CASE_INSENSITIVE_FIELDS`: ``email``, ``first_name``,
   ``last_name``) are lower-cased (``str.casefold``).
4. **Numbers given as strings** become numbers (``"12.5"`` → ``12.5``, ``"3"`` → ``3``) unless the
   field is id-like or code-like (:func:`is_string_field`: ``id``, ``*_id``, ``*_ids``, zip/postal
   codes, ``last_four``, phone numbers, ...), so the zip ``"80218"`` and the item id
   ``"1008292230"`` stay strings. Only plain decimals are converted (``-?digits[.digits]``), and
   never a value with a leading zero such as ``"0042"`` (that is a code, not a quantity). Floats
   with an integral value become ints, so ``12``, ``12.0`` and ``"12"`` all compare equal.
5. **List order**, per tool (:data:`SORTED_LIST_ARGUMENTS`): where a tool sorts a list argument
   itself, the order the caller gave does not matter. A group of several fields that the tool
   pairs positionally (``item_ids[i]`` is exchanged for ``new_item_ids[i]``) is sorted *jointly*
   as tuples, so the pairing is preserved; a group of one field is simply sorted. Groups whose
   lists differ in length are left as given (the pairing is broken, so any order is as good).
   Other lists keep their order.
6. **Free text** (:data:`FREE_TEXT_ARGUMENTS`): prose arguments such as a transfer's ``summary``
   or a ``think`` thought are dropped, so two transfers match whatever their summaries say.

:func:`normalize_action` turns an action into a hashable key (the stripped tool name and the
canonical JSON of its normalised arguments); :func:`actions_equal` compares two actions by key.
New domains add their own sorted-list rules with :func:`register_sorted_lists`, or by editing
:data:`SORTED_LIST_ARGUMENTS` directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from casework.tasks.model import Action

#: tool name -> groups of argument names whose lists the tool sorts. A group with several names
#: is sorted jointly (as positional pairs); a group with one name is sorted alone.
SORTED_LIST_ARGUMENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "exchange_delivered_order_items": (("item_ids", "new_item_ids"),),
    "modify_pending_order_items": (("item_ids", "new_item_ids"),),
    "return_delivered_order_items": (("item_ids",),),
}

#: Fields compared case-insensitively.
CASE_INSENSITIVE_FIELDS: frozenset[str] = frozenset({"email", "first_name", "last_name"})

#: Fields normalised as order ids (leading ``#``).
ORDER_ID_FIELDS: frozenset[str] = frozenset({"order_id"})

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


def register_sorted_lists(tool_name: str, *groups: tuple[str, ...] | str) -> None:
    """Declare that ``tool_name`` sorts these list arguments (a tuple = fields paired positionally)."""
    SORTED_LIST_ARGUMENTS[tool_name] = tuple((g,) if isinstance(g, str) else tuple(g) for g in groups)


def is_string_field(field: str | None) -> bool:
    """True for id-like and code-like fields, whose numeric-looking values must stay strings."""
    if field is None:
        return False
    name = field.lower()
    return (
        name in ("id", "ids")
        or name.endswith(("_id", "_ids", "zip", "_code", "_number"))
        or name in STRING_FIELDS
    )


def _to_number(text: str) -> int | float | str:
    if not _NUMBER.fullmatch(text):
        return text
    if "." in text:
        value = float(text)
        return int(value) if value.is_integer() else value
    return int(text)


def _normalize_value(field: str | None, value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _normalize_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalize_value(field, v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return value
    text = value.strip()
    if field in ORDER_ID_FIELDS:
        return text if not text or text.startswith("#") else "#" + text
    if field in CASE_INSENSITIVE_FIELDS:
        return text.casefold()
    if is_string_field(field):
        return text
    return _to_number(text)


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _sort_lists(tool_name: str, arguments: dict[str, Any]) -> None:
    for group in SORTED_LIST_ARGUMENTS.get(tool_name, ()):
        lists = [arguments.get(name) for name in group]
        if not all(isinstance(v, list) for v in lists):
            continue
        if len({len(v) for v in lists}) != 1:
            continue  # pairing broken: leave as given
        rows = sorted(zip(*lists, strict=True), key=_sort_key)
        for position, name in enumerate(group):
            arguments[name] = [row[position] for row in rows]


#: tool name -> free-text arguments left out of comparisons (prose, not a decision).
FREE_TEXT_ARGUMENTS: dict[str, frozenset[str]] = {
    "transfer_to_human_agents": frozenset({"summary"}),
    "think": frozenset({"thought"}),
}


def normalize_arguments(tool_name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Return a normalised copy of ``arguments`` for ``tool_name`` (see the module docstring)."""
    prose = FREE_TEXT_ARGUMENTS.get(tool_name.strip(), frozenset())
    normalized = {str(k): _normalize_value(str(k), v) for k, v in arguments.items() if str(k) not in prose}
    _sort_lists(tool_name.strip(), normalized)
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


def normalize_action(action: Action | Mapping[str, Any] | tuple[str, Mapping[str, Any]]) -> tuple[str, str]:
    """A hashable key: (tool name, canonical JSON of the normalised arguments).

    Accepts an :class:`Action`, a mapping with ``name`` and ``arguments`` (or tau-bench's
    ``kwargs``), or a ``(name, arguments)`` pair.
    """
    name, arguments = _name_and_arguments(action)
    name = name.strip()
    canonical = json.dumps(
        normalize_arguments(name, arguments), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return name, canonical


def actions_equal(a: Any, b: Any) -> bool:
    """True when the two actions are the same call once their arguments are normalised."""
    return normalize_action(a) == normalize_action(b)
