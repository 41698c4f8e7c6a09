"""A llama.cpp server's prompt cache for a fixed prompt prefix, kept on disk between runs.

Every agent call of a run starts with the same few thousand tokens (instructions, policy, tool
schemas). On a small CPU the first call of a fresh server spends most of its time reading them
(prefill); later calls reuse the slot's KV cache. llama.cpp can save a slot's KV cache to a file and
restore it (``--slot-save-path`` and ``POST /slots/{id}?action=save|restore``), so the first run
warms the prefix once and saves it in the user cache directory, and later runs restore it in
milliseconds.

A saved prefix is keyed by everything that shapes its KV cache: the model file, the llama.cpp
runtime version, the context size per slot, the chat template and the prefix itself (messages and
tools). A file that does not restore is deleted and warmed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

KEEP_FILES = 8  # saved prefixes kept in the cache directory (the most recently used)
WARM_USER_MESSAGE = "Hello."  # closes the prefix with a user turn, as real requests do


class PromptCacheError(RuntimeError):
    """The server refused a slot action (save/restore)."""


class PromptCacheResult(BaseModel):
    """What :func:`prepare_prompt_cache` did."""

    action: Literal["restored", "warmed"]
    path: Path
    seconds: float
    tokens: int = 0  # tokens in the saved slot (prefix + the warm-up's few)
    slots: int = 1
    detail: str | None = None  # why a saved file was not used, when it was not


def prefix_key(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *, identity: dict[str, Any]
) -> str:
    """sha256 of the prefix and of what else shapes its KV cache (``identity``: model, runtime, ctx...)."""
    blob = json.dumps({"messages": messages, "tools": tools, **identity}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def post_json(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    """POST a JSON body; the JSON answer (HTTP errors become :class:`PromptCacheError`)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise PromptCacheError(f"{url}: HTTP {exc.code} {detail}") from None


def _root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[:-3] if root.endswith("/v1") else root


def restore_slot(base_url: str, slot: int, filename: str, timeout: float = 120.0) -> int:
    """Load a saved KV cache file (a name inside the server's slot-save path) into a slot; tokens restored."""
    out = post_json(f"{_root(base_url)}/slots/{slot}?action=restore", {"filename": filename}, timeout)
    return int(out.get("n_restored", 0))


def save_slot(base_url: str, slot: int, filename: str, timeout: float = 120.0) -> int:
    """Save a slot's KV cache under the server's slot-save path; tokens saved."""
    out = post_json(f"{_root(base_url)}/slots/{slot}?action=save", {"filename": filename}, timeout)
    return int(out.get("n_saved", 0))


def warm_prefix(
    base_url: str,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    slot: int = 0,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    """Process the prefix on ``slot`` (one generated token); returns the server's answer."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [*messages, {"role": "user", "content": WARM_USER_MESSAGE}],
        "max_tokens": 1,
        "temperature": 0.0,
        "id_slot": slot,
        "cache_prompt": True,
    }
    if tools:
        body["tools"] = tools
    return post_json(f"{_root(base_url)}/v1/chat/completions", body, timeout)


def _prune(directory: Path, keep: int) -> None:
    files = sorted(directory.glob("prefix-*.bin"), key=lambda p: p.stat().st_mtime, reverse=True)
    stale = files[keep:] + [p for p in directory.glob("tmp-*") if time.time() - p.stat().st_mtime > 3600]
    for path in stale:
        path.unlink(missing_ok=True)


def prepare_prompt_cache(
    base_url: str,
    directory: Path,
    key: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    model: str,
    slots: int = 1,
    on_status: Callable[[str], None] | None = None,
) -> PromptCacheResult:
    """Restore the saved prefix into every slot, or warm slot 0, save it and restore it into the others.

    ``directory`` must be the server's slot-save path (the server reads and writes the files).
    """
    say = on_status or (lambda message: None)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"prefix-{key[:32]}.bin"
    path = directory / name
    started = time.perf_counter()
    detail = None
    if path.is_file():
        try:
            tokens = 0
            for slot in range(slots):
                tokens = restore_slot(base_url, slot, name)
            if tokens <= 0:
                raise PromptCacheError(f"{path} restored no tokens")
            os.utime(path)  # most recently used: kept by _prune
            return PromptCacheResult(
                action="restored",
                path=path,
                seconds=time.perf_counter() - started,
                tokens=tokens,
                slots=slots,
            )
        except (PromptCacheError, OSError, ValueError) as exc:
            detail = f"saved prompt cache {path} not usable ({exc}); warming it again"
            say(detail)
            path.unlink(missing_ok=True)
    say("warming the prompt cache for the policy and tools (first run only; later runs restore it)")
    warm_prefix(base_url, model, messages, tools, slot=0)
    temp = f"tmp-{os.getpid()}-{name}"  # renamed at once: a concurrent run never reads half a file
    tokens = save_slot(base_url, 0, temp)
    os.replace(directory / temp, path)
    for slot in range(1, slots):
        restore_slot(base_url, slot, name)
    _prune(directory, KEEP_FILES)
    return PromptCacheResult(
        action="warmed",
        path=path,
        seconds=time.perf_counter() - started,
        tokens=tokens,
        slots=slots,
        detail=detail,
    )
