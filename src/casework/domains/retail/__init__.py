"""The retail domain: users, orders and products; 16 tools; a customer-service policy (tau-bench v1 compatible)."""

from __future__ import annotations

from pathlib import Path

from casework.domains.domain import Domain
from casework.domains.retail.data import default_retail_database, load_retail
from casework.domains.retail.grounding import ground_action
from casework.domains.retail.tools import TOOLS
from casework.domains.tools import Toolbox

POLICY = (Path(__file__).parent / "policy.md").read_text(encoding="utf-8")

RETAIL = Domain(
    name="retail",
    tables=("orders", "products", "users"),
    toolbox=Toolbox(TOOLS),
    policy=POLICY,
    default_data=default_retail_database,
    load_data=load_retail,
    grounding=ground_action,
)

__all__ = ["POLICY", "RETAIL"]
