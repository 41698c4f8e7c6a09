"""Retail's policy rules (validation stage ``policy``): does the ground truth follow the written policy?

The checks run inside the validation replay (:func:`casework.validation.replay.validate_task` with
``policy=``), each action against the state just before it. Where a tool also refuses a call
(cancelling a delivered order), both the ``execution`` and the ``policy`` stage report it: the
policy stage says which rule, the execution stage what the tool answered. Some rules no tool
enforces: identification before account access, a transfer ending the task, a refusal task that
must change nothing, expected outputs that the agent can only know from the observations.

Retail rules (from ``domains/retail/policy.md``):

- identification (find by email, or by name + zip) before any action on the account; a task whose
  ground truth lists no identification (tau-bench lists only writes) must give the user the
  email or the name and zip code in the instruction;
- cancel and modify only ``pending`` orders (an order whose items were modified once is
  ``pending (item modified)``: nothing more can change); a cancel reason from the two allowed;
- return and exchange only ``delivered`` orders, once per order;
- new items: an available variant of the same product; gift cards must cover what they pay;
- a return refunds to the original payment method or a gift card; a payment change needs a single
  payment and a different method;
- ``transfer_to_human_agents`` is the last action; a task marked ``expected_behaviour: refuse``
  has no write action, and no write touches an order in ``metadata["refused_orders"]``;
- every expected output appears in, or is a number read or counted from, an observation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from casework.domains.domain import Domain
from casework.domains.retail.tools import CANCEL_REASONS, IDENTIFICATION
from casework.domains.state import State
from casework.tasks.replay import as_number as _as_number
from casework.tasks.replay import numbers_and_text as _numbers_and_text

if TYPE_CHECKING:
    from casework.tasks.model import Task
    from casework.tasks.replay import Replay

IDENTIFY = frozenset(IDENTIFICATION)
_PENDING_WRITES = frozenset(
    {
        "cancel_pending_order",
        "modify_pending_order_address",
        "modify_pending_order_items",
        "modify_pending_order_payment",
    }
)
_DELIVERED_WRITES = frozenset({"return_delivered_order_items", "exchange_delivered_order_items"})


def _touches_account(name: str, arguments: dict[str, Any], is_write: bool) -> bool:
    return (
        is_write
        or name == "get_user_details"
        or any(k in arguments for k in ("user_id", "order_id", "payment_method_id"))
    )


class RetailPolicy:
    """The retail policy checks (a :class:`casework.validation.replay.PolicyCheck`)."""

    def __init__(self, domain: Domain):
        self.domain = domain

    # -- per action, on the state just before it -------------------------------------------------
    def check_action(
        self, state: State, task: Task, index: int, arguments: dict[str, Any], name: str
    ) -> list[str]:
        if not isinstance(arguments, dict):
            return []
        problems: list[str] = []
        is_write = self.domain.is_write(name)
        if _touches_account(name, arguments, is_write) and name not in IDENTIFY:
            names = task.action_names
            first_identify = next((i for i, n in enumerate(names) if n in IDENTIFY), None)
            if first_identify is not None and first_identify > index:
                problems.append("the account is accessed before the user is identified")
        if task.metadata.get("expected_behaviour") == "refuse" and is_write:
            problems.append("the request must be refused, but the ground truth changes the database")
        if name == "transfer_to_human_agents" and index != len(task.actions) - 1:
            problems.append("the transfer to a human agent ends the conversation, but actions follow it")
        order_id = arguments.get("order_id")
        if is_write and order_id is not None and order_id in task.metadata.get("refused_orders", ()):
            problems.append(
                f"the request about order {order_id} must be refused, but the ground truth changes it"
            )
        orders = state["orders"]
        order = orders[order_id] if isinstance(order_id, str) and order_id in orders else None
        if order is None:
            return problems
        status = order.get("status")
        if name in _PENDING_WRITES and status != "pending":
            verb = "cancelled" if name == "cancel_pending_order" else "modified"
            if status == "pending (item modified)":
                problems.append(
                    f"order {order_id} already had its items modified once: it can no longer be {verb}"
                )
            else:
                problems.append(f"only pending orders can be {verb}; order {order_id} is {status!r}")
        if name in _DELIVERED_WRITES and status != "delivered":
            verb = "returned" if name.startswith("return") else "exchanged"
            problems.append(f"only delivered orders can be {verb}; order {order_id} is {status!r}")
        if name == "cancel_pending_order" and arguments.get("reason") not in CANCEL_REASONS:
            problems.append(f"cancel reason {arguments.get('reason')!r} is not one of {list(CANCEL_REASONS)}")
        user = state["users"].get(order.get("user_id"))
        methods = user["payment_methods"] if user else {}
        method_id = arguments.get("payment_method_id")
        method = methods.get(method_id) if isinstance(method_id, str) else None
        if name in ("modify_pending_order_items", "exchange_delivered_order_items"):
            problems.extend(self._swap_problems(state, order, arguments, method))
        if name == "return_delivered_order_items" and method_id is not None:
            original = (
                order["payment_history"][0]["payment_method_id"] if order.get("payment_history") else None
            )
            if method_id != original and not (method and method.get("source") == "gift_card"):
                problems.append(
                    f"a return refunds to the original payment method ({original}) or a gift card, not {method_id}"
                )
        if name == "modify_pending_order_payment":
            history = order.get("payment_history", [])
            if len(history) != 1 or history[0].get("transaction_type") != "payment":
                problems.append("the payment method can only change for an order paid with a single payment")
            elif history[0].get("payment_method_id") == method_id:
                problems.append("the new payment method must differ from the current one")
            elif (
                method
                and method.get("source") == "gift_card"
                and method.get("balance", 0) < history[0]["amount"]
            ):
                problems.append(
                    f"gift card {method_id} does not cover the order total {history[0]['amount']}"
                )
        return problems

    def _swap_problems(
        self, state: State, order: dict[str, Any], arguments: dict[str, Any], method: Any
    ) -> list[str]:
        problems: list[str] = []
        old_ids, new_ids = arguments.get("item_ids"), arguments.get("new_item_ids")
        if not isinstance(old_ids, list) or not isinstance(new_ids, list):
            return problems
        if len(old_ids) != len(new_ids):
            return ["item_ids and new_item_ids must pair up one to one"]
        products = state["products"]
        by_id = {item["item_id"]: item for item in order.get("items", [])}
        difference = 0.0
        for old_id, new_id in zip(old_ids, new_ids, strict=True):
            item = by_id.get(old_id)
            if item is None or item.get("product_id") not in products:
                continue  # grounding reports unknown items
            variant = products[item["product_id"]]["variants"].get(new_id)
            if variant is None:
                problems.append(
                    f"new item {new_id} is not a variant of the same product as {old_id} ({item['name']})"
                )
            elif not variant.get("available"):
                problems.append(f"new item {new_id} is not available")
            else:
                difference += variant["price"] - item["price"]
        if method and method.get("source") == "gift_card" and method.get("balance", 0) < round(difference, 2):
            problems.append(
                f"gift card {method['id']} does not cover the price difference {round(difference, 2)}"
            )
        return problems

    # -- whole task, after the replay ------------------------------------------------------------
    def check_task(self, task: Task, replay: Replay) -> list[str]:
        problems: list[str] = []
        names = task.action_names
        if not any(n in IDENTIFY for n in names) and task.user_id is not None:
            touches = any(
                _touches_account(a.name, a.arguments, self.domain.is_write(a.name)) for a in task.actions
            )
            if touches and not _instruction_identifies(task, replay.state):
                problems.append(
                    "the ground truth never identifies the user and the instruction gives neither the email nor the name and zip code"
                )
        if task.outputs:
            numbers, text = _numbers_and_text(replay.observations)
            for output in task.outputs:
                number = _as_number(str(output))
                found = number in numbers if number is not None else str(output).strip().lower() in text
                if not found:
                    problems.append(f"expected output {output!r} cannot be derived from the observations")
        return problems


def _instruction_identifies(task: Task, state: State) -> bool:
    users = state.base.tables.get("users", {})
    user = users.get(task.user_id)
    if user is None:
        return False
    text = task.instruction.lower()
    if user["email"].lower() in text:
        return True
    name = user["name"]
    return all(
        str(v).lower() in text for v in (name["first_name"], name["last_name"], user["address"]["zip"])
    )
