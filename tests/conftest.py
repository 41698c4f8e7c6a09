"""Shared fixtures. Reference data lives in ../shared/data (never copied into the repository)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CASEWORK_SHARED", REPO.parent / "shared"))
TAU_RETAIL = SHARED / "data" / "tau-bench-v1" / "retail"


@pytest.fixture(scope="session")
def tau_retail_dir() -> Path:
    """The tau-bench v1 retail data directory; skips the test when ../shared is absent."""
    if not (TAU_RETAIL / "orders.json").exists():
        pytest.skip(f"reference data not found at {TAU_RETAIL} (needs ../shared/data beside the repository)")
    return TAU_RETAIL


@pytest.fixture(scope="session")
def tau_retail_tables(tau_retail_dir: Path) -> dict:
    """Plain dict tables of the tau-bench retail database (do not mutate)."""
    return {name: json.loads((tau_retail_dir / f"{name}.json").read_text()) for name in ("orders", "products", "users")}


@pytest.fixture(scope="session")
def tau_retail_db(tau_retail_tables: dict):
    from casework.domains.state import Database

    return Database({k: dict(v) for k, v in tau_retail_tables.items()})
