"""Database states: an immutable base, cheap copy-on-write forks, canonical hashes and diffs.

A domain's data is a handful of *tables* (``{"tickets": {id: record}, "customers": {...}}``), each a JSON
object keyed by id. Every simulation or validation works on its own :class:`State`, a fork of a
shared :class:`Database`. A fork stores only the records it changed (``overlay``); reading falls
back to the base. Forking copies nothing but a small dict, and forks never see each other's writes.

The canonical hash is the sha256 of ``json.dumps(tables, sort_keys=True, separators=(",", ":"))``,
the same bytes tau-bench hashes. The base serialises itself once, keeps the byte offset of every
record and a sha256 checkpoint after each record; a fork's hash resumes from the checkpoint just
before its first changed record and feeds the untouched stretches of the base bytes without
re-serialising them.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]
_DELETED = object()  # overlay marker for a removed record


def dumps_canonical(value: Any) -> str:
    """JSON text in the canonical form used for hashing (sorted keys, no spaces, ASCII)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data (dicts, lists, scalars); several times faster than ``deepcopy``."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def canonical_hash_of(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """Canonical sha256 of plain table data (the reference implementation, used in tests and for one-offs)."""
    return hashlib.sha256(dumps_canonical(dict(tables)).encode()).hexdigest()


class _TableIndex:
    """Byte layout of one table inside the base's canonical serialisation."""

    __slots__ = ("keys", "starts", "ends", "content_start", "content_end", "checkpoints", "start_checkpoint")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.starts: list[int] = []  # offset of '"key":' for record i
        self.ends: list[int] = []  # offset just past record i's value
        self.content_start = 0  # offset just past the table's opening '{'
        self.content_end = 0  # offset of the table's closing '}'
        self.checkpoints: list[Any] = []  # sha256 state after record i (before its comma)
        self.start_checkpoint: Any = None  # sha256 state at content_start


class Database:
    """The immutable base data of a domain. Create forks with :meth:`fork`.

    The tables passed in become owned by the Database: do not mutate them afterwards.
    """

    def __init__(self, tables: Mapping[str, dict[str, Record]]):
        self.tables: dict[str, dict[str, Record]] = dict(tables)
        self._buffer: bytes | None = None
        self._index: dict[str, _TableIndex] = {}
        self._hash: str | None = None
        self._lookups: dict[tuple[str, Callable[[Record], Any]], dict[Any, list[str]]] = {}
        self._positions: dict[str, dict[str, int]] = {}

    @property
    def table_names(self) -> list[str]:
        return sorted(self.tables)

    def fork(self) -> State:
        """A new, empty-overlay state on this base."""
        return State(self)

    def to_dict(self) -> dict[str, dict[str, Record]]:
        """The raw tables (shared, read-only)."""
        return self.tables

    def lookup(self, table: str, key_of: Callable[[Record], Any]) -> dict[Any, list[str]]:
        """``key_of(record) -> [record keys in table order]`` over the base, built once per function
        (pass the same function object each time: it is the cache key)."""
        found = self._lookups.get((table, key_of))
        if found is None:
            found = {}
            for key, record in self.tables[table].items():
                found.setdefault(key_of(record), []).append(key)
            self._lookups[(table, key_of)] = found
        return found

    def position(self, table: str, key: str) -> int:
        """Where ``key`` comes in the base table's iteration order."""
        positions = self._positions.get(table)
        if positions is None:
            positions = self._positions[table] = {k: i for i, k in enumerate(self.tables[table])}
        return positions[key]

    def canonical_hash(self) -> str:
        self._ensure_index()
        assert self._hash is not None
        return self._hash

    # -- serialisation index -------------------------------------------------------------------
    def _ensure_index(self) -> None:
        if self._buffer is not None:
            return
        parts: list[bytes] = []
        pos = 0
        hasher = hashlib.sha256()
        hashed = 0

        def emit(chunk: bytes) -> None:
            nonlocal pos
            parts.append(chunk)
            pos += len(chunk)

        emit(b"{")
        pending: list[tuple[_TableIndex, int | None]] = []  # (index, record i or None for start)
        for t_i, name in enumerate(self.table_names):
            if t_i:
                emit(b",")
            emit(json.dumps(name).encode() + b":{")
            idx = _TableIndex()
            idx.content_start = pos
            pending.append((idx, None))
            table = self.tables[name]
            for r_i, key in enumerate(sorted(table)):
                if r_i:
                    emit(b",")
                idx.keys.append(key)
                idx.starts.append(pos)
                emit(json.dumps(key).encode() + b":" + dumps_canonical(table[key]).encode())
                idx.ends.append(pos)
                pending.append((idx, r_i))
            idx.content_end = pos
            emit(b"}")
            self._index[name] = idx
        emit(b"}")
        buffer = b"".join(parts)
        # One pass of sha256 over the buffer, snapshotting the state at every checkpoint.
        view = memoryview(buffer)
        for idx, r_i in pending:
            target = idx.content_start if r_i is None else idx.ends[r_i]
            hasher.update(view[hashed:target])
            hashed = target
            if r_i is None:
                idx.start_checkpoint = hasher.copy()
            else:
                idx.checkpoints.append(hasher.copy())
        hasher.update(view[hashed:])
        self._hash = hasher.hexdigest()
        self._buffer = buffer


class TableView(Mapping[str, Record]):
    """One table as seen by a state: a read-only mapping plus :meth:`edit`, :meth:`put`, :meth:`delete`.

    Records returned by ``view[key]`` may be shared with the base or other forks: never mutate
    them. Call :meth:`edit` to get this fork's own mutable copy.
    """

    __slots__ = ("_state", "_name", "_base", "_overlay")

    def __init__(self, state: State, name: str):
        self._state = state
        self._name = name
        self._base = state.base.tables[name]
        self._overlay = state._overlay.setdefault(name, {})

    def __getitem__(self, key: str) -> Record:
        if key in self._overlay:
            value = self._overlay[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return self._base[key]

    def __contains__(self, key: object) -> bool:
        if key in self._overlay:
            return self._overlay[key] is not _DELETED
        return key in self._base

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay
        if not overlay:
            yield from self._base
            return
        for key in self._base:
            if overlay.get(key, None) is not _DELETED:
                yield key
        for key, value in overlay.items():
            if key not in self._base and value is not _DELETED:
                yield key

    def __len__(self) -> int:
        n = len(self._base)
        for key, value in self._overlay.items():
            if key in self._base:
                n -= value is _DELETED
            else:
                n += value is not _DELETED
        return n

    def first_key(self, key_of: Callable[[Record], Any], value: Any) -> str | None:
        """The first key, in iteration order, whose record has ``key_of(record) == value``; None if
        none. The same answer as a scan of :meth:`items`, from an index of the base (see
        :meth:`Database.lookup`) plus a look at this fork's few changed records."""
        overlay = self._overlay
        matches = self._state.base.lookup(self._name, key_of).get(value, ())
        best = next((k for k in matches if k not in overlay), None)
        added = None
        for key, record in overlay.items():
            if record is _DELETED or key_of(record) != value:
                continue
            if key not in self._base:
                added = added or key  # new records come after every base record
            elif best is None or self._state.base.position(self._name, key) < self._state.base.position(
                self._name, best
            ):
                best = key
        return best if best is not None else added

    def edit(self, key: str) -> Record:
        """This fork's own mutable copy of a record (copied on the first edit). Raises KeyError."""
        return self._state._edit(self._name, key)

    def put(self, key: str, record: Record) -> None:
        """Add or replace a record (the state takes ownership of ``record``)."""
        self._state._put(self._name, key, record)

    def delete(self, key: str) -> None:
        """Remove a record. Raises KeyError if absent."""
        if key not in self:
            raise KeyError(key)
        self._state._put(self._name, key, _DELETED)


@dataclass(frozen=True)
class Change:
    """One difference between two states: a record added/removed, or a field changed inside one."""

    op: str  # "add" | "remove" | "change"
    table: str
    key: str
    path: str  # JSON-path-like location inside the record ("" for the whole record)
    old: Any = None
    new: Any = None

    def describe(self) -> str:
        where = f"{self.table}[{json.dumps(self.key)}]{self.path}"
        if self.op == "add":
            return f"+ {where} = {dumps_canonical(self.new)}"
        if self.op == "remove":
            return f"- {where} (was {dumps_canonical(self.old)})"
        return f"~ {where}: {dumps_canonical(self.old)} -> {dumps_canonical(self.new)}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "table": self.table, "key": self.key, "path": self.path}
        if self.op != "add":
            out["old"] = self.old
        if self.op != "remove":
            out["new"] = self.new
        return out


class State:
    """A copy-on-write fork of a :class:`Database`. Tables are reached as ``state["tickets"]``."""

    __slots__ = ("base", "_overlay", "_owned", "_hash")

    def __init__(self, base: Database):
        self.base = base
        self._overlay: dict[str, dict[str, Any]] = {}
        self._owned: set[tuple[str, str]] = set()  # records this fork may mutate in place
        self._hash: str | None = None

    # -- reading ---------------------------------------------------------------------------------
    def __getitem__(self, table: str) -> TableView:
        if table not in self.base.tables:
            raise KeyError(f"unknown table {table!r}; tables are {self.base.table_names}")
        return TableView(self, table)

    @property
    def table_names(self) -> list[str]:
        return self.base.table_names

    def changed_keys(self) -> dict[str, list[str]]:
        """Keys of the records this fork added, replaced, edited or removed, per table."""
        return {t: sorted(o) for t, o in self._overlay.items() if o}

    def to_dict(self) -> dict[str, dict[str, Record]]:
        """Materialise the tables as plain dicts (shares unchanged records with the base)."""
        out = {}
        for name in self.table_names:
            overlay = self._overlay.get(name)
            if not overlay:
                out[name] = dict(self.base.tables[name])
                continue
            merged = dict(self.base.tables[name])
            for key, value in overlay.items():
                if value is _DELETED:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            out[name] = merged
        return out

    # -- writing ---------------------------------------------------------------------------------
    def _edit(self, table: str, key: str) -> Record:
        overlay = self._overlay.setdefault(table, {})
        if (table, key) in self._owned:
            return overlay[key]
        if key in overlay:
            current = overlay[key]
            if current is _DELETED:
                raise KeyError(key)
        else:
            current = self.base.tables[table][key]  # KeyError if absent
        record = copy_json(current)
        overlay[key] = record
        self._owned.add((table, key))
        self._hash = None
        return record

    def _put(self, table: str, key: str, record: Any) -> None:
        if table not in self.base.tables:
            raise KeyError(f"unknown table {table!r}")
        self._overlay.setdefault(table, {})[key] = record
        if record is _DELETED:
            self._owned.discard((table, key))
        else:
            self._owned.add((table, key))
        self._hash = None

    def fork(self) -> State:
        """A child state that starts equal to this one. Parent and child stay isolated."""
        child = State(self.base)
        child._overlay = {t: dict(o) for t, o in self._overlay.items() if o}
        # Records are now shared by two states: neither may mutate them in place any more.
        self._owned.clear()
        child._hash = self._hash
        return child

    # -- hashing ---------------------------------------------------------------------------------
    def canonical_hash(self) -> str:
        """sha256 of the canonical JSON of all tables, equal to hashing ``to_dict()`` directly."""
        if self._hash is None:
            self._hash = self._compute_hash()
        return self._hash

    def _compute_hash(self) -> str:
        base = self.base
        base._ensure_index()
        changed = [t for t in base.table_names if self._overlay.get(t)]
        if not changed:
            return base.canonical_hash()
        buf = memoryview(base._buffer)  # type: ignore[arg-type]
        hasher = None
        position = 0  # offset in the base buffer up to which the document has been accounted for
        for name in changed:
            idx = base._index[name]
            overlay = self._overlay[name]
            # Positions in the base key list where something changes, in key order.
            events = sorted((bisect_left(idx.keys, key), key) for key in overlay)
            first_pos = events[0][0]
            if hasher is None:
                # Resume from the checkpoint just before the first affected record.
                if first_pos == 0:
                    hasher = idx.start_checkpoint.copy()
                    position = idx.content_start
                    wrote_any = False
                else:
                    hasher = idx.checkpoints[first_pos - 1].copy()
                    position = idx.ends[first_pos - 1]
                    wrote_any = True
                cursor = first_pos  # next base record not yet emitted
            else:
                hasher.update(buf[position : idx.content_start])
                position = idx.content_start
                wrote_any = False
                cursor = 0
            for pos, key in events:
                if pos > cursor:  # untouched run of base records [cursor, pos)
                    if wrote_any:
                        hasher.update(b",")
                    hasher.update(buf[idx.starts[cursor] : idx.ends[pos - 1]])
                    wrote_any = True
                    cursor = pos
                value = overlay[key]
                if pos < len(idx.keys) and idx.keys[pos] == key:
                    cursor = pos + 1  # the base record at pos is replaced or removed
                if value is not _DELETED:
                    if wrote_any:
                        hasher.update(b",")
                    hasher.update((json.dumps(key) + ":" + dumps_canonical(value)).encode())
                    wrote_any = True
            if cursor < len(idx.keys):
                if wrote_any:
                    hasher.update(b",")
                hasher.update(buf[idx.starts[cursor] : idx.ends[-1]])
            position = idx.content_end
        assert hasher is not None
        hasher.update(buf[position:])
        return hasher.hexdigest()

    # -- comparing -------------------------------------------------------------------------------
    def diff(self, other: State) -> list[Change]:
        """Changes that turn ``self`` into ``other`` (record- and field-level, in key order)."""
        changes: list[Change] = []
        for name in sorted(set(self.table_names) | set(other.table_names)):
            if other.base is self.base:
                keys = set(self._overlay.get(name, ())) | set(other._overlay.get(name, ()))
            else:
                keys = set(self[name]) | set(other[name])
            mine, theirs = self[name], other[name]
            for key in sorted(keys):
                here, there = key in mine, key in theirs
                if here and not there:
                    changes.append(Change("remove", name, key, "", old=mine[key]))
                elif there and not here:
                    changes.append(Change("add", name, key, "", new=theirs[key]))
                elif here and there:
                    _diff_values(name, key, "", mine[key], theirs[key], changes)
        return changes

    def same_as(self, other: State) -> bool:
        """True when both states hold identical data (fast for forks of the same base)."""
        return (
            not self.diff(other)
            if other.base is self.base
            else self.canonical_hash() == other.canonical_hash()
        )


def _diff_values(table: str, key: str, path: str, old: Any, new: Any, out: list[Change]) -> None:
    if old is new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for field in sorted(set(old) | set(new)):
            sub = f"{path}.{field}" if field.isidentifier() else f"{path}[{json.dumps(field)}]"
            if field not in new:
                out.append(Change("remove", table, key, sub, old=old[field]))
            elif field not in old:
                out.append(Change("add", table, key, sub, new=new[field]))
            else:
                _diff_values(table, key, sub, old[field], new[field], out)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) != len(new):
        common = min(len(old), len(new))
        if old[:common] == new[:common]:  # pure append / truncate: list the items
            for i in range(common, len(new)):
                out.append(Change("add", table, key, f"{path}[{i}]", new=new[i]))
            for i in range(common, len(old)):
                out.append(Change("remove", table, key, f"{path}[{i}]", old=old[i]))
            return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _diff_values(table, key, f"{path}[{i}]", a, b, out)
        return
    if type(old) is not type(new) or old != new:
        out.append(Change("change", table, key, path, old=old, new=new))
