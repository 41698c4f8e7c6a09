"""The retail domain: users, orders and products; a customer-service policy; tau-bench v1 and τ³ tools.

Everything casework knows about retail lives in this package and is handed to the generic layers
through the :class:`~casework.domains.domain.Domain` contract below. Tool profiles:
``tau-bench-v1`` (the default: tau-bench v1's 16 tools, ``think`` included, byte-identical),
``tau3`` (τ³'s tools, see :mod:`casework.domains.retail.tau3_tools`, with τ³'s
``modify_pending_order_items`` defect corrected) and ``tau3-exact`` (τ³ including that defect).
Select one with ``get_domain("retail", "tau3")``, ``--domain retail@tau3`` or ``--profile tau3``;
a τ³ task file selects ``tau3`` by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from casework.domains.domain import ArgumentRules, Askable, Domain, Identity, UserFacts, UserModel
from casework.domains.retail import safety as _safety
from casework.domains.retail.data import default_retail_database, load_retail
from casework.domains.retail.grounding import ground_action
from casework.domains.retail.llm_context import LLM_GENERATION
from casework.domains.retail.scenarios import SCENARIOS_LIBRARY
from casework.domains.retail.tau3_tools import make_tau3_tools
from casework.domains.retail.tools import CANCEL_REASONS, IDENTIFICATION, TOOLS, TRANSFER_TOOL
from casework.domains.state import Database, State
from casework.domains.tools import Toolbox

POLICY = (Path(__file__).parent / "policy.md").read_text(encoding="utf-8")
DEFAULT_PROFILE = "tau-bench-v1"
RETAIL_PROFILES: dict[str, Toolbox] = {
    "tau-bench-v1": Toolbox(TOOLS),
    "tau3": Toolbox(make_tau3_tools(exact=False)),
    "tau3-exact": Toolbox(make_tau3_tools(exact=True)),
}

_ASKS_EMAIL = r"\be-?mail\b"
_ASKS_NAME_ZIP = r"\b(zip|postal|full name|first name|last name|your name)\b"

#: what an agent asks a retail customer about, for the scripted user (see :class:`Askable`)
ASKABLE = (
    Askable(
        "order id",
        asks=r"\border\b[^.?!]{0,40}\b(id|number)\b|\b(which|what) order\b|\border (id|number)\b",
        fields=("order_id",),
    ),
    Askable(
        "payment method",
        asks=r"\b(pay|paid|paying|payment|refunds?|refunded|card|paypal)\b",
        mentions=r"\b(paypal|gift card|credit card|card ending|payment|refund to (?:my|your|the)|store credit|website credit|pay)\b",
    ),
    Askable("address", asks=r"\baddress\b", mentions=r"\baddress\b"),
    Askable("reason", asks=r"\breason\b|\bwhy\b", mentions=r"\b(because|no longer|mistake|by accident)\b"),
    Askable(
        "items", asks=r"\b(which|what) (items?|products?|ones?)\b|\bitems?\b[^.?!]{0,30}\?", mentions=None
    ),
)


def user_facts(state: State, user_id: str | None) -> UserFacts:
    """What a retail customer can tell the agent: name + zip, or email (in that order of preference)."""
    record = state["users"].get(user_id) if user_id is not None and "users" in state.table_names else None
    if not record:
        return UserFacts(user_id=user_id)
    name = record.get("name", {})
    first, last = name.get("first_name"), name.get("last_name")
    zip_code = record.get("address", {}).get("zip")
    email = record.get("email")
    identities = []
    if first and zip_code:
        identities.append(
            Identity(
                tool="find_user_id_by_name_zip",
                values={"first_name": first, "last_name": last or "", "zip": zip_code},
                text=f"My name is {first} {last} and my zip code is {zip_code}.",
                asks=_ASKS_NAME_ZIP,
            )
        )
    if email:
        identities.append(
            Identity(
                tool="find_user_id_by_email",
                values={"email": email},
                text=f"My email is {email}.",
                asks=_ASKS_EMAIL,
            )
        )
    details = {"name": f"{first} {last}".strip()} if first else {}
    return UserFacts(user_id=user_id, identities=identities, details=details)


def generate_data(seed: int, **sizes: int) -> Database:
    from casework.domains.retail.generator import generate_retail

    return Database(generate_retail(seed=seed, **sizes))


def write_data(database: Database, out_dir: Path) -> list[Path]:
    from casework.domains.retail.generator import write_tau_layout

    return write_tau_layout(database.to_dict(), out_dir)


def _policy_rules() -> Any:
    from casework.domains.retail.policy_rules import RetailPolicy

    return RetailPolicy(RETAIL)


RETAIL = Domain(
    name="retail",
    description="An online shop: users, orders and products (tau-bench v1 / τ³ retail).",
    tables=("orders", "products", "users"),
    toolbox=RETAIL_PROFILES[DEFAULT_PROFILE],
    policy=POLICY,
    profiles=RETAIL_PROFILES,
    profile=DEFAULT_PROFILE,
    format_profiles={"tau2": "tau3", "tau-bench-v1": "tau-bench-v1"},
    exact_profiles={"tau3": "tau3-exact"},
    default_data=default_retail_database,
    load_data=load_retail,
    grounding=ground_action,
    users=UserModel(
        table="users",
        identification=IDENTIFICATION,
        profile_tool="get_user_details",
        owned_ids={"order_id": "orders"},
        owner_field="user_id",
        facts=user_facts,
        role="a customer of an online shop",
        askable=ASKABLE,
    ),
    arguments=ArgumentRules(
        id_prefixes={"order_id": "#"},
        case_insensitive=frozenset({"email", "first_name", "last_name"}),
        sorted_lists={
            "exchange_delivered_order_items": (("item_ids", "new_item_ids"),),
            "modify_pending_order_items": (("item_ids", "new_item_ids"),),
            "return_delivered_order_items": (("item_ids",),),
        },
        free_text={TRANSFER_TOOL: frozenset({"summary"}), "think": frozenset({"thought"})},
        ignorable_tools=frozenset({"think", "calculate"}),
        transfer_tool=TRANSFER_TOOL,
    ),
    policy_rules=_policy_rules,
    generate_data=generate_data,
    data_sizes={"users": 500, "orders": 1000, "products": 50},
    write_data=write_data,
    sample_tasks=Path(__file__).parent / "sample_tasks.json",
    scenarios=SCENARIOS_LIBRARY,
    llm_generation=LLM_GENERATION,
    safety=_safety.SAFETY,
)

__all__ = [
    "CANCEL_REASONS",
    "DEFAULT_PROFILE",
    "IDENTIFICATION",
    "POLICY",
    "RETAIL",
    "RETAIL_PROFILES",
    "TRANSFER_TOOL",
]
