"""τ³ task splits: ``split_tasks.json`` (``{"train": [ids], "test": [ids], "base": [ids], ...}``).

The split file sits beside the task file (τ³'s layout: ``tasks.json`` + ``split_tasks.json``);
``--split-file`` names another one. Selecting a split keeps the tasks whose id the split lists, in
the task file's order; ids the split lists but the file lacks are reported (τ³ ships only some
splits' bodies), not silently ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

from casework.tasks.model import Task

SPLIT_FILE = "split_tasks.json"
SPLITS = ("train", "test", "base")


class SplitError(ValueError):
    """A split file is missing or malformed, or names no task of the task file."""


def split_file_for(tasks_path: Path, split_file: Path | None = None) -> Path:
    """The split file to use: ``split_file``, else ``split_tasks.json`` beside the task file."""
    path = Path(split_file) if split_file is not None else Path(tasks_path).parent / SPLIT_FILE
    if not path.exists():
        raise SplitError(
            f"{path}: split file not found (--split needs τ³'s split_tasks.json beside the task file, "
            "or --split-file PATH)"
        )
    return path


def load_splits(path: Path) -> dict[str, list[str]]:
    """``{split name: [task ids]}`` from a split file, ids as strings."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SplitError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise SplitError(f'{path}: expected an object {{"train": [ids], "test": [ids], ...}}')
    splits: dict[str, list[str]] = {}
    for name, ids in data.items():
        if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
            raise SplitError(f"{path}: field {name!r}: expected a list of task ids")
        splits[name] = [str(i) for i in ids]
    return splits


def select_split(
    tasks: list[Task], tasks_path: Path, split: str | None, split_file: Path | None = None
) -> tuple[list[Task], list[str]]:
    """The tasks of ``split`` (all when None) and the ids the split names that the file lacks."""
    if split is None:
        return tasks, []
    path = split_file_for(tasks_path, split_file)
    splits = load_splits(path)
    if split not in splits:
        raise SplitError(f"{path}: no split {split!r}; the file has {', '.join(sorted(splits)) or 'none'}")
    wanted = splits[split]
    known = {t.id for t in tasks}
    chosen = [t for t in tasks if t.id in set(wanted)]
    if not chosen:
        raise SplitError(
            f"{tasks_path}: none of the {len(wanted)} tasks of split {split!r} ({path}) is in it"
        )
    return chosen, [i for i in wanted if i not in known]


def load_split_tasks(path: Path, *, domain: str | None = None, split: str | None = None) -> list[Task]:
    """:func:`casework.tasks.load_tasks`, keeping only the tasks of ``split`` when one is named."""
    from casework.tasks.formats import load_tasks

    tasks = load_tasks(path, domain=domain)
    return select_split(tasks, Path(path), split)[0]
