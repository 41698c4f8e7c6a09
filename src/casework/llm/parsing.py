"""Clean raw model output and recover tool calls that a model wrote as text.

Small models often leak reasoning (``<think>…</think>``, harmony channels) and write tool calls
as text instead of using the structured API: ```json blocks, ``<tool_call>`` tags, a bare JSON
object, ReAct ``Action:`` lines. ``clean_model_text`` removes the debris and
``parse_text_tool_calls`` turns the calls into :class:`ToolCall` objects.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from typing import Any

from .types import ToolCall

__all__ = ["clean_model_text", "parse_text_tool_calls", "split_reasoning"]

# ---------------------------------------------------------------------------- cleaning

_THINK_TAGS = ("think", "thinking", "reasoning", "thought")
_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning|thought)>.*?</\1>", re.S | re.I)
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning|thought)>", re.I)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning|thought)>", re.I)

_HARMONY_FINAL = re.compile(
    r"<\|channel\|>\s*final\s*(?:<\|constrain\|>[^<]*)?<\|message\|>(.*?)(?=<\|end\|>|<\|return\|>|<\|start\|>|$)",
    re.S,
)
_HARMONY_SEGMENT = re.compile(
    r"<\|channel\|>\s*(\w+)[^<]*?(?:<\|constrain\|>[^<]*)?<\|message\|>(.*?)(?:<\|end\|>|<\|return\|>|<\|call\|>|(?=<\|start\|>)|$)",
    re.S,
)
_SPECIAL_TOKENS = re.compile(
    r"<\|start\|>\s*(?:assistant|user|system|developer|tool)?|<\|(?:end|return|call|message|channel|constrain)\|>"
    r"|<\|im_start\|>\s*(?:assistant|user|system|tool)?|<\|im_end\|>|<\|endoftext\|>|<\|eot_id\|>|<\|eom_id\|>"
    r"|<\|start_header_id\|>\w*<\|end_header_id\|>|<end_of_turn>|<start_of_turn>(?:model|user)?|</s>|<s>",
)


def split_reasoning(text: str | None) -> tuple[str, str]:
    """Split raw output into ``(answer, reasoning)``; reasoning is whatever was in think blocks or
    non-final harmony channels."""
    if not text:
        return "", ""
    reasoning: list[str] = []
    s = text

    # Harmony (gpt-oss) format: keep the final channel, drop analysis/commentary channels.
    if "<|channel|>" in s or "<|message|>" in s:
        finals = _HARMONY_FINAL.findall(s)
        for m in _HARMONY_SEGMENT.finditer(s):
            if m.group(1).lower() != "final":
                reasoning.append(m.group(2).strip())
        if finals:
            s = "\n".join(f.strip() for f in finals)
        else:
            s = _HARMONY_SEGMENT.sub(lambda m: m.group(2) if m.group(1).lower() == "final" else "", s)

    # Closed think blocks anywhere.
    for m in _THINK_BLOCK.finditer(s):
        reasoning.append(m.group(0)[m.group(0).index(">") + 1 : m.group(0).rindex("<")].strip())
    s = _THINK_BLOCK.sub("", s)

    # A closing tag without an opener: the template opened the block in the prompt.
    closers = list(_THINK_CLOSE.finditer(s))
    if closers:
        close = closers[-1]
        reasoning.append(s[: close.start()].strip())
        s = s[close.end() :]

    # An opener that is never closed: the rest is reasoning (cut off before the answer).
    m = _THINK_OPEN.search(s)
    if m is not None:
        reasoning.append(s[m.end() :].strip())
        s = s[: m.start()]

    s = _SPECIAL_TOKENS.sub("", s)
    return s.strip(), "\n\n".join(r for r in reasoning if r)


def clean_model_text(text: str | None) -> str:
    """Remove leaked reasoning and chat-template debris; returns the user-visible answer."""
    return split_reasoning(text)[0]


# ---------------------------------------------------------------------------- tool calls

_ARG_KEYS = ("arguments", "parameters", "args", "input", "tool_input", "action_input")
_NAME_KEYS = ("name", "tool", "tool_name", "function", "action")

_TAG_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*([\w\-]*)[ \t]*\n?(.*?)(?:```|$)", re.S)
_FENCE_LANGS = {
    "",
    "json",
    "json5",
    "tool_call",
    "tool_calls",
    "tool_code",
    "toolcall",
    "function_call",
    "javascript",
    "js",
}
_REACT = re.compile(
    r"^[ \t]*Action[ \t]*:[ \t]*`?([A-Za-z_][\w.\-]*)`?[ \t]*\r?\n[ \t]*Action[ \t]+Input[ \t]*:[ \t]*",
    re.M | re.I,
)
_ACTION_JSON = re.compile(r"^[ \t]*Action[ \t]*:[ \t]*(?=[\[{])", re.M | re.I)

_decoder = json.JSONDecoder()


def _loads_lenient(s: str) -> Any:
    s = s.strip()
    if not s:
        raise ValueError("empty")
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        pass
    # trailing commas
    t = re.sub(r",\s*([}\]])", r"\1", s)
    try:
        return json.loads(t)
    except json.JSONDecodeError:
        pass
    # python-literal dicts: {'name': 'x', 'arguments': {'a': True}}
    v = ast.literal_eval(s)
    json.dumps(v)
    return v


def _raw_decode_at(s: str, pos: int) -> tuple[Any, int] | None:
    """Decode one JSON value starting at ``pos``; returns (value, end) or None."""
    try:
        return _decoder.raw_decode(s, pos)
    except json.JSONDecodeError:
        pass
    # fall back: balanced-brace scan, then lenient parse
    end = _balanced_end(s, pos)
    if end is None:
        return None
    try:
        return _loads_lenient(s[pos:end]), end
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _balanced_end(s: str, pos: int) -> int | None:
    open_ch = s[pos]
    close_ch = {"{": "}", "[": "]"}.get(open_ch)
    if close_ch is None:
        return None
    depth = 0
    quote: str | None = None
    esc = False
    for i in range(pos, len(s)):
        c = s[i]
        if quote:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == quote:
                quote = None
            continue
        if c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _as_args(v: Any) -> dict | None:
    if v is None:
        return {}
    if isinstance(v, dict):
        return v
    if isinstance(v, str):
        if not v.strip():
            return {}
        try:
            parsed = _loads_lenient(v)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _call_from_obj(obj: Any) -> tuple[str, dict] | None:
    """Interpret one JSON value as a call: {"name", "arguments"|"parameters"|...}, OpenAI
    {"function": {...}}, llama.cpp generic {"tool_call": {...}}."""
    if not isinstance(obj, dict):
        return None
    for wrapper in ("tool_call", "function_call", "function", "call"):
        inner = obj.get(wrapper)
        if isinstance(inner, dict) and ("name" in inner or "arguments" in inner):
            return _call_from_obj(inner)
    name = None
    for k in _NAME_KEYS:
        v = obj.get(k)
        if isinstance(v, str) and v.strip():
            name = v.strip()
            break
    if name is None:
        return None
    present = [k for k in _ARG_KEYS if k in obj]
    if present:
        args = _as_args(obj[present[0]])
        if args is None:
            return None
    else:
        # {"name": "x"} alone is a call without arguments; {"name": "Bob", "age": 3} is data.
        others = set(obj) - {"name", "type", "id"}
        if others:
            return None
        args = {}
    return name, args


def _calls_from_value(v: Any) -> list[tuple[str, dict]] | None:
    if isinstance(v, dict) and isinstance(v.get("tool_calls"), list):
        v = v["tool_calls"]
    if isinstance(v, list):
        if not v:
            return None
        out = []
        for item in v:
            c = _call_from_obj(item)
            if c is None:
                return None
            out.append(c)
        return out
    c = _call_from_obj(v)
    return [c] if c else None


def _parse_calls_text(s: str) -> list[tuple[str, dict]] | None:
    s = s.strip()
    if not s or s[0] not in "[{":
        return None
    dec = _raw_decode_at(s, 0)
    if dec is None:
        return None
    value, end = dec
    calls = _calls_from_value(value)
    if calls is None:
        return None
    # several objects one after another (one per line)
    rest = s[end:].strip()
    while rest:
        if rest[0] == ",":
            rest = rest[1:].strip()
            continue
        if rest[0] not in "[{":
            break
        dec = _raw_decode_at(rest, 0)
        if dec is None:
            break
        more = _calls_from_value(dec[0])
        if more is None:
            break
        calls.extend(more)
        rest = rest[dec[1] :].strip()
    return calls


def parse_text_tool_calls(
    text: str | None, tool_names: Iterable[str] | None = None
) -> tuple[str, list[ToolCall]]:
    """Find tool calls written as text. Returns ``(text_without_calls, calls)``.

    Recognised: ```json / ```tool_call / plain ``` blocks, ``<tool_call>…</tool_call>`` tags, a bare
    JSON object or list of objects, ``Action: {json}`` and ReAct ``Action: name`` + ``Action Input:
    {json}``. Objects may use ``"parameters"`` instead of ``"arguments"`` and arguments may be a JSON
    string. When ``tool_names`` is given only calls to those names are accepted (others stay in text).
    """
    if not text:
        return "", []
    allowed = set(tool_names) if tool_names is not None else None
    s = clean_model_text(text) if ("<|" in text or "think>" in text.lower()) else text
    spans: list[tuple[int, int]] = []
    protected: list[tuple[int, int]] = []  # code blocks in other languages: never scanned
    found: list[tuple[int, str, dict]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in spans + protected)

    def accept(a: int, b: int, calls: list[tuple[str, dict]] | None) -> bool:
        if not calls or not free(a, b):
            return False
        if allowed is not None and any(name not in allowed for name, _ in calls):
            return False
        spans.append((a, b))
        found.extend((a, n, args) for n, args in calls)
        return True

    for m in _TAG_CALL.finditer(s):
        body = m.group(1)
        body = re.sub(r"^```[\w\-]*\s*|\s*```$", "", body.strip())
        accept(m.start(), m.end(), _parse_calls_text(body))

    for m in _FENCE.finditer(s):
        if m.group(1).lower() not in _FENCE_LANGS:
            protected.append((m.start(), m.end()))
            continue
        accept(m.start(), m.end(), _parse_calls_text(m.group(2)))

    for m in _REACT.finditer(s):
        name = m.group(1)
        pos = m.end()
        rest = s[pos:]
        stripped = rest.lstrip()
        pos += len(rest) - len(stripped)
        if stripped.startswith("```"):
            fm = _FENCE.match(s, pos)
            if fm is None:
                continue
            args = _as_args(fm.group(2).strip())
            end = fm.end()
        elif stripped[:1] in ("{", "["):
            dec = _raw_decode_at(s, pos)
            if dec is None:
                continue
            args = dec[0] if isinstance(dec[0], dict) else None
            end = dec[1]
        else:
            line_end = s.find("\n", pos)
            line_end = len(s) if line_end < 0 else line_end
            args = _as_args(s[pos:line_end])
            end = line_end
        if args is None:
            continue
        accept(m.start(), end, [(name, args)])

    for m in _ACTION_JSON.finditer(s):
        dec = _raw_decode_at(s, m.end())
        if dec is None:
            continue
        accept(m.start(), dec[1], _calls_from_value(dec[0]))

    # bare JSON objects / lists anywhere else
    i = 0
    while i < len(s):
        c = s[i]
        if c in "{[" and free(i, i + 1):
            dec = _raw_decode_at(s, i)
            if dec is not None:
                calls = _calls_from_value(dec[0])
                if calls and accept(i, dec[1], calls):
                    i = dec[1]
                    continue
        i += 1

    found.sort(key=lambda t: t[0])
    calls = [ToolCall(name=n, arguments=json.dumps(a, ensure_ascii=False)) for _, n, a in found]
    if not spans:
        return s.strip(), []
    out, last = [], 0
    for a, b in sorted(spans):
        out.append(s[last:a])
        last = b
    out.append(s[last:])
    remaining = "".join(out)
    remaining = re.sub(r"[ \t]+\n", "\n", remaining)
    remaining = re.sub(r"\n{3,}", "\n\n", remaining).strip()
    return remaining, calls
