"""Retail's templated scenarios (no LLM): sample real records, build the ground truth by executing it.

This is retail's :class:`~casework.domains.domain.ScenarioLibrary` (:data:`SCENARIOS_LIBRARY`); the
generic loop in :mod:`casework.generate.templated` seeds each task, draws the scenario keys and the
user, and calls :meth:`RetailScenarios.draft` and :meth:`RetailScenarios.instruction`.

For each task the library identifies the user (email, or name + zip), then builds each scenario *by
running it* on the fork: every read the agent needs comes before the write, and any action that
errors makes the loop resample. Expected outputs (a status, a tracking id, a refund total computed
with ``calculate``, a count, a price) are taken from the real observations. The instruction says
who the user is, what they know, what they want, with constraints and fallbacks ("if the red one is
unavailable, take the blue one") and a persona.

Scenario keys (:data:`SCENARIO_KEYS`): ``order_cancellation``; ``order_modification`` (the items or
the shipping address of a pending order); ``payment_update`` (pay a pending order with another
method); ``item_return``; ``item_exchange``; ``address_change`` (the user's default address);
``order_inquiry``; ``product_inquiry``; ``policy_refusal`` (a request the policy forbids: the
ground truth only looks, changes nothing); ``human_transfer`` (a request the tools cannot handle;
ends with ``transfer_to_human_agents``, always a task of its own).
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from casework.domains.domain import Domain, ScenarioDraft, ScenarioSkip
from casework.domains.retail import phrasing as ph
from casework.domains.retail.tools import CANCEL_REASONS
from casework.domains.state import Database, State
from casework.tasks.model import Action
from casework.tasks.refusal import Refusal

SCENARIO_KEYS: tuple[str, ...] = (
    "order_cancellation",
    "order_modification",
    "payment_update",
    "item_return",
    "item_exchange",
    "address_change",
    "order_inquiry",
    "product_inquiry",
    "policy_refusal",
    "human_transfer",
)
#: a transfer ends the conversation, so it is only ever a task of its own
SOLO_KEYS = frozenset({"human_transfer"})

_Skip = ScenarioSkip


@dataclass
class _Ctx:
    """One task under construction: the fork the actions run on and what has been collected."""

    rng: random.Random
    domain: Domain
    state: State
    user_id: str
    actions: list[Action] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    wants: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    used_orders: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def user(self) -> dict[str, Any]:
        return self.state["users"][self.user_id]

    def run(self, name: str, **arguments: Any) -> str:
        observation = self.domain.call(self.state, name, arguments)
        if observation.startswith("Error"):
            raise _Skip(f"{name}: {observation}")
        self.actions.append(Action(name=name, arguments=arguments))
        self.observations.append(observation)
        return observation

    def orders(self, *statuses: str) -> list[dict[str, Any]]:
        table = self.state["orders"]
        found = []
        for order_id in self.user["orders"]:
            if order_id in self.used_orders or order_id not in table:
                continue
            order = table[order_id]
            if order["status"] in statuses:
                found.append(order)
        return found

    def pick_order(self, *statuses: str) -> dict[str, Any]:
        candidates = self.orders(*statuses)
        if not candidates:
            raise _Skip(f"no order in status {statuses}")
        order = self.rng.choice(candidates)
        self.used_orders.add(order["order_id"])
        return order

    def look_up_order(self, order: dict[str, Any], knows_id_p: float = 0.8) -> str:
        """Read the order the way the agent must: by id if the user gives it, else via the profile."""
        order_id = order["order_id"]
        if self.rng.random() < knows_id_p or self.extra.get("looked_up_profile"):
            self.run("get_order_details", order_id=order_id)
            return f"order {order_id}"
        self.run("get_user_details", user_id=self.user_id)
        self.extra["looked_up_profile"] = True
        self.run("get_order_details", order_id=order_id)
        names = ph.join_items(sorted({ph.item_text(i, with_options=False) for i in order["items"]}))
        return f"the order containing {names} (you do not remember the order id)"

    def methods(self) -> dict[str, dict[str, Any]]:
        return self.user["payment_methods"]


# -- helpers over products -----------------------------------------------------------------------


def _alternatives(state: State, item: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(available, unavailable) other variants of the item's product."""
    product = state["products"].get(item["product_id"])
    if product is None:
        return [], []
    available, unavailable = [], []
    for variant in product["variants"].values():
        if variant["item_id"] == item["item_id"]:
            continue
        (available if variant["available"] else unavailable).append(variant)
    return available, unavailable


def _swap_plan(ctx: _Ctx, order: dict[str, Any]) -> tuple[list[str], list[str], list[str], float]:
    """Pick 1-2 items with an available other variant; returns old ids, new ids, phrases, price diff."""
    rng = ctx.rng
    candidates = []
    seen: set[str] = set()
    for item in order["items"]:
        if item["item_id"] in seen:
            continue
        seen.add(item["item_id"])
        available, unavailable = _alternatives(ctx.state, item)
        if available:
            candidates.append((item, available, unavailable))
    if not candidates:
        raise _Skip("no item with an available variant")
    chosen = rng.sample(candidates, k=min(len(candidates), rng.choice((1, 1, 2))))
    old_ids, new_ids, phrases = [], [], []
    diff = 0.0
    for item, available, unavailable in chosen:
        new = rng.choice(available)
        text = f"{ph.item_text(item)} for the one with {ph.options_text(new['options'])}"
        if unavailable and rng.random() < 0.35:
            wanted = rng.choice(unavailable)
            text = (
                f"{ph.item_text(item)} for the one with {ph.options_text(wanted['options'])}; "
                f"if that one is unavailable, take {ph.options_text(new['options'])} instead"
            )
        old_ids.append(item["item_id"])
        new_ids.append(new["item_id"])
        phrases.append(text)
        diff += new["price"] - item["price"]
    return old_ids, new_ids, phrases, diff


def _pick_method(ctx: _Ctx, amount: float, exclude: str | None = None) -> dict[str, Any]:
    """A payment method of the user that can pay ``amount`` (gift cards need the balance)."""
    usable = [
        m
        for m in ctx.methods().values()
        if m["id"] != exclude and (m.get("source") != "gift_card" or m.get("balance", 0) >= amount)
    ]
    if not usable:
        raise _Skip("no usable payment method")
    return ctx.rng.choice(usable)


def _products_read(ctx: _Ctx, order: dict[str, Any], item_ids: list[str]) -> None:
    product_ids = []
    for item in order["items"]:
        if item["item_id"] in item_ids and item["product_id"] not in product_ids:
            product_ids.append(item["product_id"])
    for product_id in product_ids:
        ctx.run("get_product_details", product_id=product_id)


def _fmt_amount(value: float) -> str:
    return str(round(float(value), 2))


# -- scenarios -----------------------------------------------------------------------------------


def _cancel(ctx: _Ctx) -> None:
    order = ctx.pick_order("pending")
    which = ctx.look_up_order(order)
    reason = ctx.rng.choice(CANCEL_REASONS)
    why = ctx.rng.choice(ph.CANCEL_REASON_PHRASES[reason])
    text = f"You want to cancel {which} because {why}."
    ctx.run("cancel_pending_order", order_id=order["order_id"], reason=reason)
    if ctx.rng.random() < 0.4:
        text += " You also want to know how much money will be refunded in total."
        ctx.outputs.append(
            _fmt_amount(
                sum(p["amount"] for p in order["payment_history"] if p["transaction_type"] == "payment")
            )
        )
        ctx.variants.append("with_refund_total")
    ctx.wants.append(text)


def _modify(ctx: _Ctx) -> None:
    if ctx.rng.random() < 0.6:
        order = ctx.pick_order("pending")
        which = ctx.look_up_order(order)
        old_ids, new_ids, phrases, diff = _swap_plan(ctx, order)
        _products_read(ctx, order, old_ids)
        method = _pick_method(ctx, max(diff, 0.0))
        ctx.run(
            "modify_pending_order_items",
            order_id=order["order_id"],
            item_ids=old_ids,
            new_item_ids=new_ids,
            payment_method_id=method["id"],
        )
        ctx.wants.append(
            f"For {which}, which has not shipped yet, you want to change {ph.join_items(phrases)}. "
            f"Any price difference should go through {ph.payment_text(method)}. "
            "Mention every change at once: you know items can be changed only once."
        )
        ctx.variants.append("items")
        return
    order = ctx.pick_order("pending")
    which = ctx.look_up_order(order)
    if ctx.rng.random() < 0.3 and order["address"] != ctx.user["address"]:
        address = dict(ctx.user["address"])
        if "get_user_details" not in [a.name for a in ctx.actions]:
            ctx.run("get_user_details", user_id=ctx.user_id)
        where = "your default address as stored in your profile (you do not want to spell it out)"
    else:
        address = ph.new_address(ctx.rng)
        where = ph.address_text(address)
    ctx.run(
        "modify_pending_order_address",
        order_id=order["order_id"],
        address1=address["address1"],
        address2=address["address2"],
        city=address["city"],
        state=address["state"],
        country=address["country"],
        zip=address["zip"],
    )
    ctx.wants.append(f"You want {which} shipped to {where} instead.")
    ctx.variants.append("shipping_address")


def _payment_update(ctx: _Ctx) -> None:
    candidates = [
        o
        for o in ctx.orders("pending")
        if len(o["payment_history"]) == 1 and o["payment_history"][0]["transaction_type"] == "payment"
    ]
    if not candidates:
        raise _Skip("no pending order with a single payment")
    order = ctx.rng.choice(candidates)
    ctx.used_orders.add(order["order_id"])
    payment = order["payment_history"][0]
    which = ctx.look_up_order(order)
    method = _pick_method(ctx, payment["amount"], exclude=payment["payment_method_id"])
    if "get_user_details" not in [a.name for a in ctx.actions]:
        ctx.run("get_user_details", user_id=ctx.user_id)
    ctx.run("modify_pending_order_payment", order_id=order["order_id"], payment_method_id=method["id"])
    ctx.wants.append(
        f"You want to pay for {which} with {ph.payment_text(method)} instead of the current method."
    )
    ctx.variants.append(method.get("source", "other"))


def _return(ctx: _Ctx) -> None:
    order = ctx.pick_order("delivered")
    which = ctx.look_up_order(order)
    rng = ctx.rng
    k = rng.randint(1, min(3, len(order["items"])))
    items = rng.sample(order["items"], k=k)
    original = order["payment_history"][0]["payment_method_id"]
    gift_cards = [m for m in ctx.methods().values() if m.get("source") == "gift_card" and m["id"] != original]
    if gift_cards and rng.random() < 0.3:
        method = rng.choice(gift_cards)
        refund_to = ph.payment_text(method)
    else:
        method = ctx.methods().get(original)
        if method is None:
            raise _Skip("original payment method is gone")
        refund_to = f"the original payment method ({ph.payment_text(method).removeprefix('your ')})"
    text = f"You want to return {ph.join_items([ph.item_text(i) for i in items])} from {which}, with the refund to {refund_to}."
    if len(items) >= 2 and rng.random() < 0.6:
        total = ctx.run("calculate", expression=" + ".join(str(i["price"]) for i in items))
        ctx.outputs.append(total)
        text += " Ask how much the refund will be in total."
        ctx.variants.append("with_refund_total")
    elif len(items) == 1 and rng.random() < 0.3:
        ctx.outputs.append(_fmt_amount(items[0]["price"]))
        text += " Ask how much you will get back."
        ctx.variants.append("with_refund_amount")
    ctx.run(
        "return_delivered_order_items",
        order_id=order["order_id"],
        item_ids=[i["item_id"] for i in items],
        payment_method_id=method["id"],
    )
    ctx.wants.append(text)


def _exchange(ctx: _Ctx) -> None:
    order = ctx.pick_order("delivered")
    which = ctx.look_up_order(order)
    old_ids, new_ids, phrases, diff = _swap_plan(ctx, order)
    _products_read(ctx, order, old_ids)
    original = order["payment_history"][0]["payment_method_id"]
    if original in ctx.methods() and (
        ctx.methods()[original].get("source") != "gift_card"
        or ctx.methods()[original].get("balance", 0) >= diff
    ):
        method = ctx.methods()[original] if ctx.rng.random() < 0.6 else _pick_method(ctx, max(diff, 0.0))
    else:
        method = _pick_method(ctx, max(diff, 0.0))
    ctx.run(
        "exchange_delivered_order_items",
        order_id=order["order_id"],
        item_ids=old_ids,
        new_item_ids=new_ids,
        payment_method_id=method["id"],
    )
    ctx.wants.append(
        f"You received {which} and want to exchange {ph.join_items(phrases)}. "
        f"Settle any price difference with {ph.payment_text(method)}."
    )
    ctx.variants.append("exchange")


def _address_change(ctx: _Ctx) -> None:
    address = ph.new_address(ctx.rng)
    if ctx.rng.random() < 0.5 and "get_user_details" not in [a.name for a in ctx.actions]:
        ctx.run("get_user_details", user_id=ctx.user_id)
    ctx.run("modify_user_address", user_id=ctx.user_id, **address)
    ctx.wants.append(
        f"You moved and want the default address of your account changed to {ph.address_text(address)}. "
        "Your existing orders can keep their addresses."
    )
    ctx.variants.append("default_address")


def _order_inquiry(ctx: _Ctx) -> None:
    rng = ctx.rng
    statuses = ("pending", "processed", "delivered", "cancelled")
    order = ctx.pick_order(*statuses)
    which = ctx.look_up_order(order, knows_id_p=0.7)
    tracking = [t for f in order.get("fulfillments", []) for t in f.get("tracking_id", [])]
    kinds = ["status", "item_count", "total"] + (["tracking"] if tracking else [])
    kind = rng.choice(kinds)
    if kind == "status":
        ctx.outputs.append(order["status"])
        ctx.wants.append(f"You want to know the current status of {which}.")
    elif kind == "item_count":
        ctx.outputs.append(str(len(order["items"])))
        ctx.wants.append(f"You want to know how many items are in {which}.")
    elif kind == "total":
        ctx.outputs.append(_fmt_amount(order["payment_history"][0]["amount"]))
        ctx.wants.append(f"You want to know how much you paid for {which}.")
    else:
        ctx.outputs.append(tracking[0])
        ctx.wants.append(f"You want the tracking number of {which}.")
    ctx.variants.append(kind)


def _product_inquiry(ctx: _Ctx) -> None:
    rng = ctx.rng
    products = ctx.state["products"]
    product_id = rng.choice(sorted(products))
    product = products[product_id]
    ctx.run("list_all_product_types")
    ctx.run("get_product_details", product_id=product_id)
    name = product["name"].lower()
    variants = list(product["variants"].values())
    kind = rng.choice(("count", "price", "cheapest"))
    available = [v for v in variants if v["available"]]
    if kind == "cheapest" and not available:
        kind = "count"
    if kind == "count":
        ctx.outputs.append(str(len(variants)))
        ctx.wants.append(
            f"You are curious how many different {name} options the store lists in total (available or not)."
        )
    elif kind == "price":
        variant = rng.choice(variants)
        ctx.outputs.append(_fmt_amount(variant["price"]))
        ctx.wants.append(
            f"You want to know the price of the {name} with {ph.options_text(variant['options'])}."
        )
    else:
        cheapest = min(available, key=lambda v: (v["price"], v["item_id"]))
        ctx.outputs.append(_fmt_amount(cheapest["price"]))
        ctx.wants.append(f"You want to know the price of the cheapest {name} that is currently available.")
    ctx.variants.append(kind)


def _policy_refusal(ctx: _Ctx) -> None:
    rng = ctx.rng
    kinds = []
    if ctx.orders("processed", "delivered"):
        kinds.append("cancel_not_pending")
    if ctx.orders("pending", "processed"):
        kinds.append("return_not_delivered")
    if ctx.orders("pending (item modified)"):
        kinds.append("modify_twice")
    originals = {
        o["order_id"]: o["payment_history"][0]["payment_method_id"]
        for o in ctx.orders("delivered")
        if o["payment_history"]
    }
    card_refund = [
        (order_id, m)
        for order_id, original in originals.items()
        for m in ctx.methods().values()
        if m["id"] != original and m.get("source") != "gift_card"
    ]
    if card_refund:
        kinds.append("refund_to_other_method")
    if not kinds:
        raise _Skip("nothing to refuse")
    kind = rng.choice(kinds)
    closing = rng.choice(ph.REFUSAL_CLOSINGS)
    if kind == "cancel_not_pending":
        order = ctx.pick_order("processed", "delivered")
        which = ctx.look_up_order(order)
        reason = rng.choice(CANCEL_REASONS)
        ctx.wants.append(
            f"You want to cancel {which} because {rng.choice(ph.CANCEL_REASON_PHRASES[reason])}. {closing}"
        )
    elif kind == "return_not_delivered":
        order = ctx.pick_order("pending", "processed")
        which = ctx.look_up_order(order)
        item = rng.choice(order["items"])
        ctx.wants.append(
            f"You want to return {ph.item_text(item)} from {which} and get your money back now, "
            f"even though it has not been delivered; you do not want to cancel the order. {closing}"
        )
    elif kind == "modify_twice":
        order = ctx.pick_order("pending (item modified)")
        which = ctx.look_up_order(order)
        item = rng.choice(order["items"])
        ctx.wants.append(
            f"You already changed the items of {which} once, but now also want a different {item['name'].lower()}. {closing}"
        )
    else:
        order_id, method = rng.choice(card_refund)
        order = ctx.state["orders"][order_id]
        ctx.used_orders.add(order_id)
        which = ctx.look_up_order(order)
        item = rng.choice(order["items"])
        ctx.wants.append(
            f"You want to return {ph.item_text(item)} from {which}, but only if the refund goes to "
            f"{ph.payment_text(method)}, which is not the card you paid with. {closing}"
        )
    ctx.variants.append(kind)
    ctx.extra.setdefault("refused_orders", []).append(order["order_id"])
    ctx.refusals.append(_refusal(kind, order, method if kind == "refund_to_other_method" else None))


def _refusal(kind: str, order: dict[str, Any], method: dict[str, Any] | None) -> Refusal:
    """What the agent refuses and the rule of retail's policy that forbids it."""
    order_id, status = order["order_id"], order["status"]
    if kind == "cancel_not_pending":
        request = f"cancel order {order_id}"
        rule = f"only pending orders can be cancelled, and order {order_id} is {status}"
    elif kind == "return_not_delivered":
        request = f"return items of order {order_id}"
        rule = f"only delivered orders can be returned, and order {order_id} is {status}"
    elif kind == "modify_twice":
        request = f"change the items of order {order_id} again"
        rule = f"the items of an order can be changed only once, and order {order_id} was already modified"
    else:
        assert method is not None
        request = f"refund a return of order {order_id} to {ph.payment_text(method)}"
        rule = (
            f"a refund goes to the original payment method of order {order_id} or to an existing gift "
            "card, and this is neither"
        )
    return Refusal(request=request, entity=order_id, rule=rule)


_TRANSFER_REASONS = (
    (
        "damaged",
        "{item} in {which} arrived damaged and you want compensation without sending it back",
        "{item} arrived damaged; wants compensation without a return",
    ),
    (
        "price_match",
        "you saw {item} from {which} cheaper elsewhere and want the difference refunded",
        "wants a price match refund for {item}",
    ),
    (
        "lost_package",
        "the tracking of {which} has not moved in two weeks and you think the package is lost",
        "believes the package is lost (tracking has not moved in two weeks)",
    ),
)


def _human_transfer(ctx: _Ctx) -> None:
    rng = ctx.rng
    order = ctx.pick_order("delivered", "processed")
    which = ctx.look_up_order(order)
    kind, template, summary_template = rng.choice(_TRANSFER_REASONS)
    item = ph.item_text(rng.choice(order["items"]), with_options=False)
    problem = template.format(item=item, which=which)
    ctx.wants.append(
        f"You are contacting support because {problem}. You know the agent cannot fix this, so you ask to be "
        "transferred to a human agent."
    )
    summary = f"User {ctx.user_id}, order {order['order_id']}: {summary_template.format(item=item)}; asks for a human agent."
    ctx.run("transfer_to_human_agents", summary=summary)
    ctx.variants.append(kind)


SCENARIOS: dict[str, Callable[[_Ctx], None]] = {
    "order_cancellation": _cancel,
    "order_modification": _modify,
    "payment_update": _payment_update,
    "item_return": _return,
    "item_exchange": _exchange,
    "address_change": _address_change,
    "order_inquiry": _order_inquiry,
    "product_inquiry": _product_inquiry,
    "policy_refusal": _policy_refusal,
    "human_transfer": _human_transfer,
}

#: which orders a user needs for a scenario to be possible (used to pick a user quickly).
_NEEDS: dict[str, tuple[str, ...]] = {
    "order_cancellation": ("pending",),
    "order_modification": ("pending",),
    "payment_update": ("pending",),
    "item_return": ("delivered",),
    "item_exchange": ("delivered",),
    "address_change": (),
    "order_inquiry": ("pending", "processed", "delivered", "cancelled"),
    "product_inquiry": (),
    "policy_refusal": ("pending", "processed", "delivered"),
    "human_transfer": ("delivered", "processed"),
}

_USER_INDEX: weakref.WeakKeyDictionary[Database, dict[str, list[str]]] = weakref.WeakKeyDictionary()


def _users_for(database: Database, scenario: str) -> list[str]:
    index = _USER_INDEX.get(database)
    if index is None:
        tables = database.tables
        by_status: dict[str, set[str]] = {}
        for order in tables["orders"].values():
            by_status.setdefault(order["status"], set()).add(order["user_id"])
        users = tables["users"]
        index = {}
        for key, needs in _NEEDS.items():
            eligible = set(users) if not needs else set().union(*(by_status.get(s, set()) for s in needs))
            index[key] = sorted(u for u in eligible if u in users)
        _USER_INDEX[database] = index
    return index[scenario]


def _identify(ctx: _Ctx) -> bool:
    """Run the identification action; True when it was by email."""
    user = ctx.user
    ctx.extra["user_before"] = user  # records are never mutated in place: this stays the pre-task profile
    if ctx.rng.random() < 0.5:
        name = user["name"]
        args = {
            "first_name": name["first_name"],
            "last_name": name["last_name"],
            "zip": user["address"]["zip"],
        }
        if ctx.domain.call(ctx.state, "find_user_id_by_name_zip", args) == ctx.user_id:
            ctx.run("find_user_id_by_name_zip", **args)
            return False
    if ctx.run("find_user_id_by_email", email=user["email"]) != ctx.user_id:
        raise _Skip("email does not identify the user")
    return True


class RetailScenarios:
    """Retail's :class:`~casework.domains.domain.ScenarioLibrary`."""

    keys: tuple[str, ...] = SCENARIO_KEYS
    solo_keys: frozenset[str] = SOLO_KEYS
    merged_metadata: tuple[str, ...] = ("refused_orders",)

    def users_for(self, database: Database, key: str) -> Sequence[str]:
        return _users_for(database, key)

    def draft(
        self, domain: Domain, state: State, rng: random.Random, user_id: str, keys: Sequence[str]
    ) -> ScenarioDraft:
        ctx = _Ctx(rng=rng, domain=domain, state=state, user_id=user_id)
        by_email = _identify(ctx)
        ends = []
        for key in keys:
            SCENARIOS[key](ctx)
            ends.append(len(ctx.actions))
        metadata: dict[str, Any] = {}
        if "refused_orders" in ctx.extra:
            # the ground truth must leave these orders alone (the agent refuses the request)
            metadata["refused_orders"] = ctx.extra["refused_orders"]
            if list(keys) == ["policy_refusal"]:
                metadata["expected_behaviour"] = "refuse"
        return ScenarioDraft(
            user_id=user_id,
            actions=ctx.actions,
            observations=ctx.observations,
            outputs=ctx.outputs,
            wants=ctx.wants,
            variants=ctx.variants,
            metadata=metadata,
            extra={"user_before": ctx.extra["user_before"], "by_email": by_email},
            intent_ends=ends,
            refusals=ctx.refusals,
        )

    def instruction(self, draft: ScenarioDraft, rng: random.Random) -> tuple[str, str | None]:
        persona, persona_text = rng.choice(ph.PERSONAS)
        wants = draft.wants
        if len(wants) > 1:
            linkers = ["First,", "Then,", "Finally,"] if len(wants) > 2 else ["First,", "After that,"]
            wants = [f"{link} {w[0].lower()}{w[1:]}" for link, w in zip(linkers, wants, strict=False)]
        # the profile before any change: the user identifies with the zip code they had at the start
        parts = [
            ph.opening(rng, draft.extra["user_before"], draft.extra["by_email"]),
            *wants,
            persona_text,
            rng.choice(ph.CLOSINGS),
        ]
        return " ".join(p for p in parts if p), persona


SCENARIOS_LIBRARY = RetailScenarios()
