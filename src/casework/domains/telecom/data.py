"""Loading, validating and generating telecom databases.

One :class:`Database` holds both sides of the dual-control world, so that a single fork, canonical
hash and diff cover the account and the phone together:

* agent tables ``plans``, ``devices``, ``lines``, ``customers``, ``bills``, each keyed by its id;
* the user table ``user`` with two records, ``device`` (the phone) and ``surroundings`` (name,
  phone number, abroad or not, signal per technology).

:func:`load_telecom` reads τ³-bench's layout: a directory with ``db.toml`` (arrays of tables
``[[plans]]``, ``[[devices]]``, ``[[lines]]``, ``[[customers]]``, ``[[bills]]``) and optionally
``user_db.toml`` (``[device]``, ``[surroundings]``), or a ``db.toml`` file (its sibling
``user_db.toml`` is read when present; otherwise the phone starts in its default, working state),
or the same data as ``db.json`` / ``user_db.json`` (what :func:`write_telecom` writes).
Records are validated with :mod:`casework.domains.telecom.models`, ids checked against each other
(a line's plan and device, a customer's lines and bills, a bill's customer); any problem raises
:class:`DataError` naming the file, the record and the field.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from casework.domains.domain import DataError
from casework.domains.loading import raise_problems
from casework.domains.state import Database
from casework.domains.telecom.models import (
    AGENT_MODELS,
    TODAY,
    USER_TABLE,
    BillStatus,
    LineStatus,
    PhoneDevice,
    Surroundings,
)

AGENT_FILE = "db.toml"
USER_FILE = "user_db.toml"
SUFFIXES = (".toml", ".json")


def load_telecom(path: Path) -> Database:
    """Read a telecom database: a directory holding ``db.toml`` (+ ``user_db.toml``), or the same as
    ``db.json`` (+ ``user_db.json``), or one such ``db`` file (its ``user_db`` sibling is read)."""
    path = Path(path)
    if path.is_dir():
        agent_file = next(
            (path / f"db{s}" for s in SUFFIXES if (path / f"db{s}").is_file()), path / AGENT_FILE
        )
    else:
        agent_file = path
    if not agent_file.is_file():
        raise DataError(
            f"{agent_file}: no such file: expected a directory with db.toml or db.json, or such a file"
        )
    user_file = agent_file.parent / f"user_db{agent_file.suffix}"
    tables = agent_tables(_read(agent_file), str(agent_file))
    user = _read(user_file) if user_file.is_file() else {}
    tables[USER_TABLE] = user_table(user, str(user_file))
    return Database(tables)


def _read(file: Path) -> dict[str, Any]:
    try:
        if file.suffix == ".json":
            return json.loads(file.read_text(encoding="utf-8"))
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise DataError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{file}: not valid TOML: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{file}: not valid UTF-8 text at byte {exc.start}") from exc


def write_telecom(database: Database, out_dir: Path) -> list[Path]:
    """Write ``db.json`` (τ³'s tables as arrays of records) and ``user_db.json`` (``device``,
    ``surroundings``) to ``out_dir``; :func:`load_telecom` reads them back to the same hash."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = database.to_dict()
    agent = {name: list(tables[name].values()) for name in AGENT_MODELS}
    files = [(out_dir / "db.json", agent), (out_dir / "user_db.json", dict(tables[USER_TABLE]))]
    for file, data in files:
        file.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return [file for file, _ in files]


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "record"


def _problems(source: str, what: str, exc: ValidationError) -> list[str]:
    problems = []
    for item in exc.errors():
        where = _field(item["loc"])
        if item["type"] == "missing":
            problems.append(f"{source}: {what} field '{where}': missing")
        elif item["type"] == "extra_forbidden":
            problems.append(f"{source}: {what} field '{where}': unknown field")
        else:
            problems.append(f"{source}: {what} field '{where}': {item['msg']} (got {item.get('input')!r})")
    return problems


def agent_tables(data: Mapping[str, Any], source: str = AGENT_FILE) -> dict[str, dict[str, Any]]:
    """Validate τ³-layout agent data (``{"plans": [...], ...}``; lists or id-keyed objects) into tables."""
    if not isinstance(data, Mapping):
        raise DataError(f"{source}: expected a table of plans, devices, lines, customers and bills")
    problems: list[str] = []
    tables: dict[str, dict[str, Any]] = {}
    for name, (model, id_field) in AGENT_MODELS.items():
        rows = data.get(name, [])
        if isinstance(rows, Mapping):
            rows = list(rows.values())
        if not isinstance(rows, list):
            problems.append(f"{source}: '{name}': expected an array of tables, got {type(rows).__name__}")
            continue
        table: dict[str, Any] = {}
        for i, row in enumerate(rows):
            label = f"{name}[{i}]"
            if isinstance(row, Mapping) and isinstance(row.get(id_field), str):
                label = f"{name[:-1]} '{row[id_field]}'"
            try:
                record = model.model_validate(row).model_dump(mode="json")
            except ValidationError as exc:
                problems.extend(_problems(source, label, exc))
                continue
            key = record[id_field]
            if key in table:
                problems.append(f"{source}: {label}: duplicate {id_field}")
            table[key] = record
        tables[name] = table
    unknown = sorted(set(data) - set(AGENT_MODELS))
    if unknown:
        problems.append(
            f"{source}: unknown table(s) {', '.join(unknown)}; expected {', '.join(AGENT_MODELS)}"
        )
    raise_problems(problems)
    raise_problems(list(_reference_problems(tables, source)))
    return tables


def _reference_problems(tables: Mapping[str, Mapping[str, Any]], source: str):
    plans, devices, lines, bills, customers = (
        tables["plans"],
        tables["devices"],
        tables["lines"],
        tables["bills"],
        tables["customers"],
    )
    for key, line in lines.items():
        if line["plan_id"] not in plans:
            yield f"{source}: line '{key}' field 'plan_id': no plan {line['plan_id']!r}"
        if line["device_id"] is not None and line["device_id"] not in devices:
            yield f"{source}: line '{key}' field 'device_id': no device {line['device_id']!r}"
    for key, customer in customers.items():
        for i, line_id in enumerate(customer["line_ids"]):
            if line_id not in lines:
                yield f"{source}: customer '{key}' field 'line_ids[{i}]': no line {line_id!r}"
        for i, bill_id in enumerate(customer["bill_ids"]):
            if bill_id not in bills:
                yield f"{source}: customer '{key}' field 'bill_ids[{i}]': no bill {bill_id!r}"
    for key, bill in bills.items():
        if bill["customer_id"] not in customers:
            yield f"{source}: bill '{key}' field 'customer_id': no customer {bill['customer_id']!r}"


def user_table(data: Mapping[str, Any], source: str = USER_FILE) -> dict[str, Any]:
    """Validate τ³-layout user data (``{"device": {...}, "surroundings": {...}}``) into the user table."""
    if not isinstance(data, Mapping):
        raise DataError(f"{source}: expected a table with [device] and [surroundings]")
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name, model in (("device", PhoneDevice), ("surroundings", Surroundings)):
        try:
            out[name] = model.model_validate(data.get(name) or {}).model_dump(mode="json")
        except ValidationError as exc:
            problems.extend(_problems(source, f"[{name}]", exc))
    unknown = sorted(set(data) - {"device", "surroundings"})
    if unknown:
        problems.append(f"{source}: unknown section(s) {', '.join(unknown)}; expected device, surroundings")
    raise_problems(problems)
    return out


def default_user_table() -> dict[str, Any]:
    """The phone in its default, working state; the user not yet identified and at home."""
    return user_table({})


# -- the embedded default database --------------------------------------------------------------

_PLANS = [  # (name, data limit GB, monthly price, refuel price per GB)
    ("Starter", 3.0, 30.0, 6.0),
    ("Everyday", 10.0, 50.0, 4.0),
    ("Plus", 20.0, 70.0, 2.5),
    ("Max", 999.0, 90.0, 0.5),
    ("Household", 40.0, 130.0, 2.0),
    ("Connect Lite", 1.0, 12.0, 9.0),
]
_MODELS = [
    ("phone", "Aurora A5", True),
    ("phone", "Aurora A7 Pro", True),
    ("phone", "Nimbus 12", True),
    ("phone", "Nimbus 12 Mini", False),
    ("phone", "Vega S", True),
    ("tablet", "Slate 10", False),
    ("tablet", "Slate Pro 12", True),
    ("watch", "Pulse Watch 2", True),
    ("router", "HomeLink 5G", False),
]
_FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Maya",
    "Noor",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Yara",
    "Zane",
]
_LAST = [
    "Abbott",
    "Bauer",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fontaine",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quispe",
    "Rossi",
    "Sato",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhou",
]
_CITIES = [
    ("Portland", "OR", "97201"),
    ("Madison", "WI", "53703"),
    ("Tucson", "AZ", "85701"),
    ("Raleigh", "NC", "27601"),
    ("Boise", "ID", "83702"),
    ("Albany", "NY", "12207"),
    ("Omaha", "NE", "68102"),
    ("Savannah", "GA", "31401"),
]
_STREETS = ["Maple", "Cedar", "Elm", "Birch", "Willow", "Spruce", "Aspen", "Juniper", "Linden", "Poplar"]


def generate_telecom(seed: int = 0, customers: int = 40) -> dict[str, dict[str, Any]]:
    """A deterministic telecom world: plans, customers with 1-4 lines each (a device per line), two
    months of bills, some of them overdue with the lines suspended, and the phone's user table."""
    rng = random.Random(seed)
    plans = {
        f"P{2001 + i}": {
            "plan_id": f"P{2001 + i}",
            "name": name,
            "data_limit_gb": limit,
            "price_per_month": price,
            "data_refueling_price_per_gb": refuel,
        }
        for i, (name, limit, price, refuel) in enumerate(_PLANS)
    }
    plan_ids = list(plans)
    devices: dict[str, Any] = {}
    lines: dict[str, Any] = {}
    bills: dict[str, Any] = {}
    people: dict[str, Any] = {}
    for c in range(customers):
        customer_id = f"C{3001 + c}"
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        city, state, zip_code = rng.choice(_CITIES)
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 18000))
        overdue = rng.random() < 0.2
        line_ids: list[str] = []
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            n = len(lines)
            line_id, device_id = f"L{4001 + n}", f"D{5001 + n}"
            kind, model_name, esim = rng.choice(_MODELS)
            activated = dt.datetime(2024, 1, 1, 9) + dt.timedelta(hours=rng.randrange(0, 24 * 380))
            devices[device_id] = {
                "device_id": device_id,
                "device_type": kind,
                "model": model_name,
                "imei": "".join(str(rng.randrange(10)) for _ in range(15)),
                "is_esim_capable": esim,
                "activated": True,
                "activation_date": activated.isoformat(),
                "last_esim_transfer_date": None,
            }
            plan_id = rng.choice(plan_ids)
            limit = plans[plan_id]["data_limit_gb"]
            ended = rng.random() < 0.1
            lines[line_id] = {
                "line_id": line_id,
                "phone_number": f"555-{200 + c // 10:03d}-{1000 + n:04d}",
                "status": LineStatus.SUSPENDED.value if overdue else LineStatus.ACTIVE.value,
                "plan_id": plan_id,
                "device_id": device_id,
                "data_used_gb": round(rng.uniform(0, min(limit, 30.0) * 1.1), 1),
                "data_refueling_gb": 0.0,
                "roaming_enabled": rng.random() < 0.4,
                "contract_end_date": (
                    dt.date(2024, 10, 31) if ended else dt.date(2026, rng.randrange(1, 13), 28)
                ).isoformat(),
                "last_plan_change_date": (TODAY - dt.timedelta(days=rng.randrange(30, 700))).isoformat(),
                "last_sim_replacement_date": None,
                "suspension_start_date": "2025-02-10" if overdue else None,
            }
            line_ids.append(line_id)
        bill_ids = []
        for month, status in (
            (1, BillStatus.PAID),
            (2, BillStatus.OVERDUE if overdue else BillStatus.ISSUED),
        ):
            bill_id = f"B{6001 + len(bills)}"
            items = [
                {
                    "description": f"{plans[lines[lid]['plan_id']]['name']} - Line {lines[lid]['phone_number']}",
                    "amount": plans[lines[lid]["plan_id"]]["price_per_month"],
                    "date": f"2025-{month:02d}-05",
                    "item_type": "Plan Charge",
                }
                for lid in line_ids
            ]
            bills[bill_id] = {
                "bill_id": bill_id,
                "customer_id": customer_id,
                "period_start": f"2025-{month:02d}-01",
                "period_end": f"2025-{month:02d}-{28 if month == 2 else 31}",
                "issue_date": f"2025-{month:02d}-05",
                "total_due": round(sum(item["amount"] for item in items), 2),
                "due_date": f"2025-{month:02d}-19",
                "line_items": items,
                "status": status.value,
            }
            bill_ids.append(bill_id)
        first, last = name.split()
        people[customer_id] = {
            "customer_id": customer_id,
            "full_name": name,
            "date_of_birth": born.isoformat(),
            "email": f"{first.lower()}.{last.lower()}{c}@example.com",
            "phone_number": lines[line_ids[0]]["phone_number"],
            "address": {
                "street": f"{rng.randrange(1, 999)} {rng.choice(_STREETS)} St",
                "city": city,
                "state": state,
                "zip_code": zip_code,
            },
            "account_status": "Suspended" if overdue else "Active",
            "payment_methods": [
                {
                    "method_type": rng.choice(("Credit Card", "Debit Card", "PayPal")),
                    "account_number_last_4": f"{rng.randrange(10000):04d}",
                    "expiration_date": f"{rng.randrange(1, 13):02d}/{rng.randrange(2025, 2030)}",
                }
            ],
            "created_at": (
                dt.datetime(2023, 6, 1, 10) + dt.timedelta(hours=rng.randrange(0, 24 * 500))
            ).isoformat(),
            "line_ids": line_ids,
            "bill_ids": bill_ids,
            "last_extension_date": None,
            "goodwill_credit_used_this_year": float(rng.choice((0, 0, 0, 10, 25))),
        }
    data = {
        "plans": list(plans.values()),
        "devices": list(devices.values()),
        "lines": list(lines.values()),
        "customers": list(people.values()),
        "bills": list(bills.values()),
    }
    tables = agent_tables(
        data, f"generate_telecom(seed={seed})"
    )  # the generator's output passes the loader's checks
    tables[USER_TABLE] = default_user_table()
    return tables


@functools.cache
def default_telecom_database() -> Database:
    """The embedded default database: ``generate_telecom(seed=0)``, built once per process."""
    return Database(generate_telecom(seed=0))
