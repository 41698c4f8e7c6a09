"""An optional on-disk cache of chat completions (``casework run --cache DIR``).

The key is a SHA-256 of the endpoint's model and base URL (credentials stripped; for replicas, the
set of their URLs, so that any replica's answer counts) and the full request
body (messages, tools, sampling settings, extra fields); headers, and so API keys, never enter it.
A rerun after a crash or a grading change then costs no model call, and a deterministic setting
reproduces exactly. One small JSON file per answer, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .types import ToolCall

__all__ = ["ResponseCache"]


class ResponseCache:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(
                f"--cache {directory}: cannot create the cache directory: {exc.strerror}"
            ) from None
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(model: str, base_url: str | None, body: dict[str, Any]) -> str:
        text = json.dumps(
            {"model": model, "base_url": base_url, "body": body}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> tuple | None:
        """The cached attempt result ``(content, tool_calls, finish, usage, ttft, reasoning)`` or None."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            result = (
                data["content"],
                [ToolCall(**call) for call in data["tool_calls"]],
                data["finish_reason"],
                data["usage"],
                None,
                data["reasoning"],
            )
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return result

    def put(self, key: str, result: tuple) -> None:
        content, calls, finish, usage, _ttft, reasoning = result
        if hasattr(usage, "model_dump"):
            usage = usage.model_dump()
        data = {
            "content": content,
            "tool_calls": [c.model_dump() for c in calls],
            "finish_reason": finish,
            "usage": usage if isinstance(usage, dict) or usage is None else None,
            "reasoning": reasoning,
        }
        path = self._path(key)
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, path)
        except OSError:  # a full disk costs only the cache
            pass
