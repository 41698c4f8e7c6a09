"""Pull a JSON value out of model text, repairing the usual near misses.

Models wrap JSON in prose or code fences, leave trailing commas, use Python literals
(``True``/``None``), curly quotes, ``//`` comments, or stop before the closing brackets.
:func:`extract_json` tries the text as is, then each repair in turn, and raises
:class:`JSONTextError` (with what it tried) when nothing parses.
"""

from __future__ import annotations

import json
import re
from typing import Any


class JSONTextError(ValueError):
    """No JSON value could be recovered from the text."""


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_LINE_COMMENT = re.compile(r"^\s*//.*$", re.M)
_PY_LITERALS = (
    (re.compile(r"\bTrue\b"), "true"),
    (re.compile(r"\bFalse\b"), "false"),
    (re.compile(r"\bNone\b"), "null"),
)


def _balanced_span(text: str) -> str | None:
    """From the first ``{`` or ``[``: the balanced span, or the rest with missing closers added."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    stack: list[str] = []
    in_string = escaped = False
    for position in range(start, len(text)):
        char = text[position]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]":
            if stack and stack[-1] == char:
                stack.pop()
            if not stack:
                return text[start : position + 1]
    tail = text[start:].rstrip().rstrip(",")
    return tail + ('"' if in_string else "") + "".join(reversed(stack))


def _repairs(text: str) -> list[str]:
    fixed = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
    fixed = _LINE_COMMENT.sub("", fixed)
    fixed = _TRAILING_COMMA.sub(r"\1", fixed)
    python = fixed
    for pattern, value in _PY_LITERALS:
        python = pattern.sub(value, python)
    single = re.sub(r"'([^'\"\n]*)'", r'"\1"', python)
    return [fixed, python, single]


def extract_json(text: str | None) -> Any:
    """The first JSON object or array in ``text`` (see the module docstring)."""
    if not text or not text.strip():
        raise JSONTextError("empty response")
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    span = _balanced_span(text)
    if span:
        candidates.append(span)
    for candidate in list(candidates):
        for repaired in _repairs(candidate):
            candidates.append(repaired)
            inner = _balanced_span(repaired)
            if inner:
                candidates.append(_TRAILING_COMMA.sub(r"\1", inner))
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict | list):
            return value
    raise JSONTextError(f"no JSON object found in the response (starts {text.strip()[:80]!r})")
