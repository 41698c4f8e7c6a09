"""The help desk's data: a seeded generator, and a loader for a ``db.json`` file ``{customers, tickets}``."""

from __future__ import annotations

import json
import random
from pathlib import Path

from casework.domains import Database, DataError
from casework.domains.loading import read_json

TABLES = ("customers", "tickets")
_FIRST = ("ada", "alan", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances", "edsger")
_LAST = ("lovelace", "turing", "hopper", "torvalds", "liskov", "thompson", "hamilton", "ritchie", "allen")
_SUBJECTS = ("cannot log in", "invoice is wrong", "app crashes on start", "export is slow", "password reset")


def generate(seed: int = 0, customers: int = 20, tickets: int = 30) -> Database:
    """A consistent help desk: every ticket belongs to a customer who lists it. Same seed, same data."""
    rng = random.Random(seed)
    people: dict[str, dict] = {}
    for index in range(customers):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        customer_id = f"cus_{first}_{index + 1}"
        people[customer_id] = {
            "customer_id": customer_id,
            "name": f"{first.title()} {last.title()}",
            "email": f"{first}.{last}{index + 1}@example.com",
            "plan": rng.choice(["basic", "basic", "pro"]),
            "tickets": [],
        }
    ids = list(people)
    table: dict[str, dict] = {}
    for index in range(tickets):
        owner = rng.choice(ids)
        ticket_id = f"TK-{1001 + index}"
        table[ticket_id] = {
            "ticket_id": ticket_id,
            "customer_id": owner,
            "subject": rng.choice(_SUBJECTS),
            "priority": rng.choice(["low", "normal"]),
            "status": rng.choice(["open", "open", "closed"]),
        }
        people[owner]["tickets"].append(ticket_id)
    return Database({"customers": people, "tickets": table})


def default_database() -> Database:
    return generate(seed=0)


def load(path: Path) -> Database:
    """Read ``db.json`` (or a directory holding it); errors name the file and the field."""
    path = Path(path)
    file = path / "db.json" if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"{file}: not found (expected a db.json with 'customers' and 'tickets')")
    data = read_json(file)
    if not isinstance(data, dict):
        raise DataError(f"{file}: expected an object with 'customers' and 'tickets'")
    for table in TABLES:
        if not isinstance(data.get(table), dict):
            raise DataError(f"{file}: field {table!r}: expected an object keyed by id")
    for ticket_id, ticket in data["tickets"].items():
        if ticket.get("customer_id") not in data["customers"]:
            raise DataError(f"{file}: ticket {ticket_id!r} field 'customer_id': no such customer")
    return Database({table: data[table] for table in TABLES})


def write(database: Database, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "db.json"
    target.write_text(json.dumps(database.to_dict(), indent=2) + "\n", encoding="utf-8")
    return [target]
