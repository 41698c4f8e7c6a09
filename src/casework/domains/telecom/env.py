"""Environment functions, assertions, initial states and golden-action replay for telecom tasks.

τ³-bench telecom tasks name functions on either side (``env_type`` ``user`` or ``assistant``):

* **initialisation actions** put the world into the task's broken state (``turn_airplane_mode_on``,
  ``unseat_sim_card``, ``break_apn_settings``, ``set_data_usage``, ``suspend_line_for_overdue_bill``,
  ...). They are not tools: neither the agent nor the user can call them. Any tool of that side may
  also be named.
* **environment assertions** judge the final world (``assert_internet_speed``,
  ``assert_service_status``, ...). Each returns a :class:`Check` (passed + a one-line reason); the
  task's ``assert_value`` says which outcome is wanted.

:func:`apply_initial_state` applies a task's ``initial_state`` to a fork; :func:`replay_task` builds
a fresh fork, applies it, runs the golden actions on the side named by each action's ``requestor``
and evaluates the assertions before and after.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import ValidationError

from casework.domains.domain import DataError
from casework.domains.state import Database, State, copy_json
from casework.domains.telecom import device as model
from casework.domains.telecom import tools as agent
from casework.domains.telecom import user_tools as user
from casework.domains.telecom.data import agent_tables, user_table
from casework.domains.telecom.models import (
    AGENT_MODELS,
    AGENT_TABLES,
    TODAY,
    USER_TABLE,
    ApnName,
    BillStatus,
    LineStatus,
    PerformanceLevel,
    SimStatus,
)
from casework.domains.tools import Toolbox, ToolError

AGENT_TOOLS = Toolbox(agent.AGENT_TOOL_FUNCTIONS)
USER_TOOLS = Toolbox(user.USER_TOOL_FUNCTIONS)
SIDES = ("user", "assistant")


def toolbox_for(side: str) -> Toolbox:
    """The tools of ``side`` (``user`` or ``assistant``)."""
    if side == "user":
        return USER_TOOLS
    if side == "assistant":
        return AGENT_TOOLS
    raise ValueError(f"unknown side {side!r}; expected one of {', '.join(SIDES)}")


# -- user-side environment functions (break or set up the phone) --------------------------------


def set_user_info(db: State, name: str, phone_number: str) -> str:
    """Who the user is: their name and the phone number of their phone's line."""
    where = model.edit_surroundings(db)
    where["name"] = name
    where["phone_number"] = phone_number
    model.user_line(db)  # raises when the number has no line
    return f"User set to {name} ({phone_number})."


def set_user_location(db: State, abroad: bool) -> str:
    model.edit_surroundings(db)["is_abroad"] = abroad
    return f"User is now {'abroad' if abroad else 'at home'}."


def simulate_network_search(db: State) -> str:
    model.network_search(db)
    return f"Network search done: {model.device(db)['network_connection_status']}."


def turn_airplane_mode_on(db: State) -> str:
    user.set_airplane_mode(db, True)
    return "Airplane Mode is now ON."


def turn_airplane_mode_off(db: State) -> str:
    user.set_airplane_mode(db, False)
    return "Airplane Mode is now OFF."


def _set_flag(db: State, name: str, value: bool, search: bool) -> None:
    model.edit_device(db)[name] = value
    if search:
        model.network_search(db)


def turn_data_on(db: State) -> str:
    _set_flag(db, "data_enabled", True, search=False)
    return "Data connection restored."


def turn_data_off(db: State) -> str:
    _set_flag(db, "data_enabled", False, search=True)
    return "Data connection broken."


def turn_roaming_on(db: State) -> str:
    _set_flag(db, "roaming_enabled", True, search=True)
    return "Data Roaming is now ON."


def turn_roaming_off(db: State) -> str:
    _set_flag(db, "roaming_enabled", False, search=True)
    return "Data Roaming is now OFF."


def turn_data_saver_mode_on(db: State) -> str:
    _set_flag(db, "data_saver_mode", True, search=False)
    return "Data Saver Mode is now ON."


def turn_data_saver_mode_off(db: State) -> str:
    _set_flag(db, "data_saver_mode", False, search=False)
    return "Data Saver Mode is now OFF."


def unseat_sim_card(db: State) -> str:
    """Take the SIM out; ``reseat_sim_card`` puts it back."""
    _set_flag(db, "sim_card_missing", True, search=True)
    return "SIM card un-seated successfully."


def lock_sim_card(db: State, mode: str) -> str:
    """Lock the SIM with a PIN or PUK; no user tool unlocks it (the agent must escalate)."""
    if mode not in ("pin", "puk"):
        raise ToolError(f"lock mode must be 'pin' or 'puk', got {mode!r}")
    model.edit_device(db)["sim_card_status"] = SimStatus.LOCKED_PIN if mode == "pin" else SimStatus.LOCKED_PUK
    model.network_search(db)
    return f"SIM card locked successfully in {mode} mode."


def set_wifi_calling(db: State, enabled: bool, mms_over_wifi: bool | None = None) -> str:
    phone = model.edit_device(db)
    phone["wifi_calling_enabled"] = enabled
    if mms_over_wifi is not None:
        phone["wifi_calling_mms_over_wifi"] = mms_over_wifi
    return f"Wi-Fi Calling is now {'ON' if enabled else 'OFF'}."


def break_apn_settings(db: State) -> str:
    """Break the data APN (no service until ``reset_apn_settings`` + ``reboot_device``)."""
    model.edit_device(db)["active_apn_settings"]["apn_name"] = ApnName.BROKEN.value
    model.network_search(db)
    return "APN settings broken."


def break_apn_mms_setting(db: State) -> str:
    """Remove the MMSC URL (no MMS until ``reset_apn_settings`` + ``reboot_device``)."""
    model.edit_device(db)["active_apn_settings"]["mmsc_url"] = None
    return "APN MMS setting broken."


def break_vpn(db: State) -> str:
    """Connect a VPN whose server performs poorly (slow data until ``disconnect_vpn``)."""
    user.connect_vpn(db)
    model.edit_device(db)["vpn_details"]["server_performance"] = PerformanceLevel.POOR.value
    return "VPN connection broken."


def remove_app_permission(db: State, app_name: str, permission: str) -> str:
    apps = model.device(db)["app_statuses"]
    permission = permission.lower()
    if app_name not in apps:
        raise ToolError(f"App '{app_name}' not found. Cannot remove permission.")
    if permission not in apps[app_name]["permissions"]:
        raise ToolError(f"Permission '{permission}' not tracked for app '{app_name}'.")
    model.edit_device(db)["app_statuses"][app_name]["permissions"][permission] = False
    return f"Permission '{permission}' removed from app '{app_name}'."


# -- agent-side environment functions -----------------------------------------------------------


def set_data_usage(db: State, customer_id: str, line_id: str, data_used_gb: float) -> str:
    agent.target_line(db, customer_id, line_id)
    db["lines"].edit(line_id)["data_used_gb"] = data_used_gb
    return f"Data usage set to {data_used_gb} GB for line {line_id}"


def suspend_line_for_overdue_bill(
    db: State, customer_id: str, line_id: str, new_bill_id: str, contract_ended: bool
) -> str:
    """Add an overdue bill (last month's plan charge) and suspend the line; with ``contract_ended``
    the contract also ended last month, so the agent may not lift the suspension."""
    line = agent._record(db, "lines", line_id, "Line")
    if line["status"] != LineStatus.ACTIVE:
        raise ToolError("Line must be active to suspend for unpaid bill")
    amount = agent._record(db, "plans", line["plan_id"], "Plan")["price_per_month"]
    if amount <= 0:
        raise ToolError("Amount must be positive for overdue bill")
    customer = agent.customer_record(db, customer_id)
    bills = db["bills"]
    if any(bills[b]["status"] == BillStatus.OVERDUE for b in customer["bill_ids"] if b in bills):
        raise ToolError("Customer already has an overdue bill")
    if new_bill_id in bills:
        raise ToolError(f"Bill {new_bill_id} already exists")
    last_month_end = TODAY.replace(day=1) - dt.timedelta(days=1)
    last_month_start = last_month_end.replace(day=1)
    bills.put(
        new_bill_id,
        {
            "bill_id": new_bill_id,
            "customer_id": customer_id,
            "period_start": last_month_start.isoformat(),
            "period_end": last_month_end.isoformat(),
            "issue_date": last_month_start.isoformat(),
            "total_due": amount,
            "due_date": (last_month_start + dt.timedelta(days=14)).isoformat(),
            "line_items": [
                {
                    "description": f"Charge for line {line_id}",
                    "amount": amount,
                    "date": TODAY.isoformat(),
                    "item_type": "Charge",
                }
            ],
            "status": BillStatus.OVERDUE.value,
        },
    )
    db["customers"].edit(customer_id)["bill_ids"].append(new_bill_id)
    line = db["lines"].edit(line_id)
    line["status"] = LineStatus.SUSPENDED.value
    line["suspension_start_date"] = TODAY.isoformat()
    if contract_ended:
        line["contract_end_date"] = last_month_end.isoformat()
    return f"Line {line_id} suspended for unpaid bill {new_bill_id}. Contract ended: {contract_ended}"


USER_ENV_FUNCTIONS: dict[str, Callable[..., str]] = {
    f.__name__: f
    for f in (
        set_user_info,
        set_user_location,
        simulate_network_search,
        turn_airplane_mode_on,
        turn_airplane_mode_off,
        turn_data_on,
        turn_data_off,
        turn_roaming_on,
        turn_roaming_off,
        turn_data_saver_mode_on,
        turn_data_saver_mode_off,
        unseat_sim_card,
        lock_sim_card,
        set_wifi_calling,
        break_apn_settings,
        break_apn_mms_setting,
        break_vpn,
        remove_app_permission,
    )
}
AGENT_ENV_FUNCTIONS: dict[str, Callable[..., str]] = {
    f.__name__: f for f in (set_data_usage, suspend_line_for_overdue_bill)
}


# -- assertions ---------------------------------------------------------------------------------


class Check(NamedTuple):
    """What an assertion function found: ``passed`` and a one-line reason (a ``(passed, reason)``
    tuple, as the domain contract's environment assertions return)."""

    passed: bool
    reason: str


def _because(reasons: list[str]) -> str:
    return "; ".join(reasons) if reasons else "nothing stands in the way"


def assert_service_status(db: State, expected_status: str) -> Check:
    """The phone's cellular connection status is ``expected_status`` (connected, no_service, ...)."""
    status = model.device(db)["network_connection_status"]
    why = _because(model.no_service_reasons(db)) if status != "connected" else "connected"
    return Check(status == expected_status, f"service is {status} (expected {expected_status}): {why}")


def assert_mobile_data_status(db: State, expected_status: bool) -> Check:
    """Mobile data works (True) or not (False)."""
    reasons = model.no_data_reasons(db)
    working = not reasons
    return Check(
        working == expected_status,
        f"mobile data {'works' if working else 'does not work'} (expected "
        f"{'working' if expected_status else 'not working'}): {_because(reasons)}",
    )


def assert_internet_speed(db: State, expected_speed: float, expected_desc: str | None = None) -> Check:
    """The speed test gives at least ``expected_speed`` Mbps (and the band ``expected_desc`` if given)."""
    speed, description = model.speed_test(db)
    got = speed or 0.0
    passed = got >= expected_speed and (expected_desc is None or description.lower() == expected_desc.lower())
    reasons = model.no_data_reasons(db) if speed is None else model.slow_data_reasons(db)
    wanted = f">= {expected_speed} Mbps" + (f" ({expected_desc})" if expected_desc else "")
    return Check(passed, f"speed test {got:.2f} Mbps ({description}), expected {wanted}: {_because(reasons)}")


def assert_internet_not_excellent(db: State) -> Check:
    speed, description = model.speed_test(db)
    return Check(description.lower() != "excellent", f"speed test {speed} Mbps ({description})")


def assert_can_send_mms(db: State, expected_status: bool) -> Check:
    """The messaging app can send MMS (True) or not (False)."""
    reasons = model.no_mms_reasons(db)
    can = not reasons
    return Check(
        can == expected_status,
        f"MMS {'can' if can else 'cannot'} be sent (expected {'can' if expected_status else 'cannot'}): "
        f"{_because(reasons)}",
    )


def _flag_check(db: State, name: str, label: str, expected_status: bool) -> Check:
    value = bool(model.device(db)[name])
    return Check(
        value == expected_status,
        f"{label} is {'on' if value else 'off'} (expected {'on' if expected_status else 'off'})",
    )


def assert_airplane_mode_status(db: State, expected_status: bool) -> Check:
    return _flag_check(db, "airplane_mode", "airplane mode", expected_status)


def assert_mobile_roaming_status(db: State, expected_status: bool) -> Check:
    return _flag_check(db, "roaming_enabled", "data roaming on the phone", expected_status)


def assert_mobile_data_saver_mode_status(db: State, expected_status: bool) -> Check:
    return _flag_check(db, "data_saver_mode", "data saver mode", expected_status)


def assert_mobile_data_usage_exceeded(db: State, expected_status: bool) -> Check:
    exceeded = model.data_exhausted(db)
    return Check(exceeded == expected_status, f"data allowance {'used up' if exceeded else 'not used up'}")


def assert_data_refueling_amount(db: State, customer_id: str, line_id: str, expected_amount: float) -> Check:
    """The line's refuelled data this cycle is ``expected_amount`` GB."""
    line = agent.target_line(db, customer_id, line_id)
    got = line["data_refueling_gb"]
    return Check(
        abs(got - expected_amount) < 1e-6,
        f"line {line_id} refuelled {got} GB (expected {expected_amount} GB)",
    )


def assert_line_status(db: State, customer_id: str, line_id: str, expected_status: str) -> Check:
    status = agent.target_line(db, customer_id, line_id)["status"]
    return Check(status == expected_status, f"line {line_id} is {status} (expected {expected_status})")


def assert_overdue_bill_exists(db: State, customer_id: str, overdue_bill_id: str) -> Check:
    customer = agent.customer_record(db, customer_id)
    bills = db["bills"]
    if overdue_bill_id not in customer["bill_ids"] or overdue_bill_id not in bills:
        return Check(False, f"bill {overdue_bill_id} not found for customer {customer_id}")
    status = bills[overdue_bill_id]["status"]
    return Check(status == BillStatus.OVERDUE, f"bill {overdue_bill_id} is {status}")


def assert_no_overdue_bill(db: State, overdue_bill_id: str) -> Check:
    """The bill is paid, or does not exist."""
    bills = db["bills"]
    if overdue_bill_id not in bills:
        return Check(True, f"bill {overdue_bill_id} does not exist")
    status = bills[overdue_bill_id]["status"]
    return Check(status == BillStatus.PAID, f"bill {overdue_bill_id} is {status} (expected Paid)")


USER_ASSERTIONS: dict[str, Callable[..., Check]] = {
    f.__name__: f
    for f in (
        assert_service_status,
        assert_mobile_data_status,
        assert_internet_speed,
        assert_internet_not_excellent,
        assert_can_send_mms,
        assert_airplane_mode_status,
        assert_mobile_roaming_status,
        assert_mobile_data_saver_mode_status,
        assert_mobile_data_usage_exceeded,
    )
}
AGENT_ASSERTIONS: dict[str, Callable[..., Check]] = {
    f.__name__: f
    for f in (
        assert_data_refueling_amount,
        assert_line_status,
        assert_overdue_bill_exists,
        assert_no_overdue_bill,
    )
}
ASSERTIONS: dict[str, tuple[str, Callable[..., Check]]] = {
    **{name: ("user", f) for name, f in USER_ASSERTIONS.items()},
    **{name: ("assistant", f) for name, f in AGENT_ASSERTIONS.items()},
}


@dataclass(frozen=True)
class AssertionOutcome:
    """One environment assertion of a task, evaluated: ``passed`` when the check's result equals
    ``assert_value``."""

    env_type: str
    func_name: str
    arguments: dict[str, Any]
    assert_value: bool
    result: bool
    passed: bool
    reason: str

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict} {self.func_name}({args}) -> {self.result} (want {self.assert_value}): {self.reason}"
        )


def _call(function: Callable[..., Any], db: State, arguments: Mapping[str, Any], what: str) -> Any:
    try:
        inspect.signature(function).bind(db, **arguments)
    except TypeError as exc:
        raise DataError(f"{what}: bad arguments {dict(arguments)!r}: {exc}") from exc
    return function(db, **arguments)


def evaluate_assertion(db: State, assertion: Mapping[str, Any]) -> AssertionOutcome:
    """Evaluate one τ³ ``env_assertions`` entry (``env_type``, ``func_name``, ``arguments``,
    ``assert_value`` defaulting to true). Raises DataError for an unknown function or bad arguments."""
    name = assertion.get("func_name")
    if name not in ASSERTIONS:
        raise DataError(f"env_assertions: unknown assertion {name!r}; known: {', '.join(ASSERTIONS)}")
    side, function = ASSERTIONS[name]
    env_type = assertion.get("env_type", side)
    if env_type != side:
        raise DataError(f"env_assertions: {name} is a {side} assertion, not {env_type!r}")
    arguments = dict(assertion.get("arguments") or {})
    want = assertion.get("assert_value", True)
    want = True if want is None else bool(want)
    try:
        check = _call(function, db, arguments, f"env_assertions: {name}")
    except ToolError as exc:
        check = Check(False, f"error: {exc}")
    return AssertionOutcome(env_type, name, arguments, want, check.passed, check.passed == want, check.reason)


def evaluate_assertions(db: State, assertions: list[Mapping[str, Any]] | None) -> list[AssertionOutcome]:
    return [evaluate_assertion(db, a) for a in assertions or []]


# -- initial state --------------------------------------------------------------------------------


def run_env_function(
    db: State, env_type: str, func_name: str, arguments: Mapping[str, Any] | None = None
) -> str:
    """Run a named function of either side: an environment function or a tool (by name). Raises
    DataError when it does not exist or fails, since a task's setup must not fail."""
    arguments = dict(arguments or {})
    functions = (
        USER_ENV_FUNCTIONS if env_type == "user" else AGENT_ENV_FUNCTIONS if env_type == "assistant" else None
    )
    if functions is None:
        raise DataError(f"initialization_actions: env_type must be 'user' or 'assistant', got {env_type!r}")
    what = f"initialization_actions: {env_type} {func_name}"
    if func_name in functions:
        try:
            return _call(functions[func_name], db, arguments, what)
        except ToolError as exc:
            raise DataError(f"{what} failed: {exc}") from exc
    box = toolbox_for(env_type)
    if func_name in box:
        observation = box.call(db, func_name, arguments)
        if observation.startswith("Error:"):
            raise DataError(f"{what} failed: {observation}")
        return observation
    known = sorted(functions) + box.names()
    raise DataError(f"{what}: unknown function; {env_type} functions are {', '.join(known)}")


def _merge(base: Any, update: Any) -> Any:
    if isinstance(base, dict) and isinstance(update, Mapping):
        out = dict(base)
        for key, value in update.items():
            out[key] = _merge(base.get(key), value)
        return out
    return copy_json(update)


def apply_initialization_data(db: State, data: Mapping[str, Any]) -> None:
    """Merge ``agent_data`` (tables as τ³ lists of records, or objects keyed by id; a record whose id
    exists is updated field by field, a new one added) and ``user_data`` (``device`` /
    ``surroundings`` fields, merged) into the state; the result is validated like a loaded file."""
    agent_data = data.get("agent_data") or {}
    if not isinstance(agent_data, Mapping):
        raise DataError("initialization_data.agent_data: expected an object of tables")
    updates: dict[str, dict[str, Any]] = {}
    for table, rows in agent_data.items():
        if table not in AGENT_MODELS:
            raise DataError(
                f"initialization_data.agent_data: unknown table {table!r}; expected {', '.join(AGENT_TABLES)}"
            )
        id_field = AGENT_MODELS[table][1]
        items = list(rows.values()) if isinstance(rows, Mapping) else rows
        if not isinstance(items, list):
            raise DataError(f"initialization_data.agent_data.{table}: expected a list of records")
        merged = updates.setdefault(table, {})
        for i, row in enumerate(items):
            if not isinstance(row, Mapping) or not isinstance(row.get(id_field), str):
                raise DataError(f"initialization_data.agent_data.{table}[{i}]: a record needs its {id_field}")
            key = row[id_field]
            merged[key] = _merge(db[table][key], row) if key in db[table] else copy_json(dict(row))
    if updates:
        # Validate the updated records, and the references across tables, as a loaded file would be.
        whole = {t: list({**dict(db[t].items()), **updates.get(t, {})}.values()) for t in AGENT_TABLES}
        checked = agent_tables(whole, "initialization_data.agent_data")
        for table, merged in updates.items():
            for key in merged:
                db[table].put(key, checked[table][key])
    user_data = data.get("user_data") or {}
    if not isinstance(user_data, Mapping):
        raise DataError("initialization_data.user_data: expected an object with device and/or surroundings")
    if user_data:
        current = {name: db[USER_TABLE][name] for name in ("device", "surroundings")}
        try:
            checked = user_table(_merge(current, user_data), "initialization_data.user_data")
        except ValidationError as exc:  # pragma: no cover - user_table reports through DataError
            raise DataError(str(exc)) from exc
        for name, record in checked.items():
            db[USER_TABLE].put(name, record)


def apply_initial_state(db: State, initial_state: Mapping[str, Any] | None) -> State:
    """Apply a τ³ task's ``initial_state`` to ``db`` in place (and return it): first
    ``initialization_data``, then each of ``initialization_actions`` in order.
    ``message_history`` is not a state change and is left to the simulator."""
    if not initial_state:
        return db
    data = initial_state.get("initialization_data")
    if data:
        apply_initialization_data(db, data)
    for i, action in enumerate(initial_state.get("initialization_actions") or []):
        if not isinstance(action, Mapping) or "func_name" not in action:
            raise DataError(
                f"initialization_actions[{i}]: expected an object with env_type, func_name, arguments"
            )
        run_env_function(
            db, action.get("env_type", "assistant"), action["func_name"], action.get("arguments")
        )
    return db


# -- replay ---------------------------------------------------------------------------------------


@dataclass
class ActionResult:
    requestor: str
    name: str
    arguments: dict[str, Any]
    observation: str

    @property
    def error(self) -> bool:
        return self.observation.startswith("Error:")


@dataclass
class Replay:
    """A task replayed: assertions on the initial state and after the golden actions."""

    task_id: str
    initial: list[AssertionOutcome]
    final: list[AssertionOutcome]
    actions: list[ActionResult] = field(default_factory=list)
    state: State | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.final)

    @property
    def failed_initially(self) -> bool:
        return not all(a.passed for a in self.initial)


def run_action(db: State, requestor: str, name: str, arguments: Any) -> str:
    """Call a tool of the requestor's side (``user`` -> user tools, ``assistant`` -> agent tools)."""
    return toolbox_for(requestor).call(db, name, arguments)


def task_state(base: Database, task: Mapping[str, Any]) -> State:
    """A fresh fork of ``base`` with the task's initial state applied."""
    return apply_initial_state(base.fork(), task.get("initial_state"))


def replay_task(
    base: Database, task: Mapping[str, Any], actions: list[Mapping[str, Any]] | None = None
) -> Replay:
    """Replay a τ³ telecom task on a fresh fork of ``base``: apply its initial state, evaluate its
    environment assertions, run its golden actions (or ``actions``) on their requestor's side and
    evaluate the assertions again."""
    criteria = task.get("evaluation_criteria") or {}
    assertions = criteria.get("env_assertions") or []
    db = task_state(base, task)
    initial = evaluate_assertions(db, assertions)
    results = []
    for action in criteria.get("actions") or [] if actions is None else actions:
        requestor = action.get("requestor", "assistant")
        arguments = dict(action.get("arguments") or {})
        observation = run_action(db, requestor, action["name"], arguments)
        results.append(ActionResult(requestor, action["name"], arguments, observation))
    final = evaluate_assertions(db, assertions)
    return Replay(str(task.get("id")), initial, final, results, db)


def check_task(task: Mapping[str, Any]) -> list[str]:
    """Problems with a τ³ telecom task's references, without running it: every initialisation
    action names a function of its side with fitting arguments, every golden action a tool of its
    requestor's side with valid arguments, every assertion a known one of its side. Empty: fine."""
    problems: list[str] = []
    initial = task.get("initial_state") or {}
    for i, action in enumerate(initial.get("initialization_actions") or []):
        where = f"initial_state.initialization_actions[{i}]"
        side, name = action.get("env_type"), action.get("func_name")
        functions = {"user": USER_ENV_FUNCTIONS, "assistant": AGENT_ENV_FUNCTIONS}.get(side)
        if functions is None:
            problems.append(f"{where}: env_type must be 'user' or 'assistant', got {side!r}")
        elif name in functions:
            try:
                inspect.signature(functions[name]).bind(None, **(action.get("arguments") or {}))
            except TypeError as exc:
                problems.append(f"{where}: {name}: {exc}")
        elif name in toolbox_for(side):
            _, error = toolbox_for(side).validate_arguments(name, action.get("arguments") or {})
            if error:
                problems.append(f"{where}: {error}")
        else:
            problems.append(f"{where}: no {side} function {name!r}")
    criteria = task.get("evaluation_criteria") or {}
    for i, action in enumerate(criteria.get("actions") or []):
        where = f"evaluation_criteria.actions[{i}]"
        side = action.get("requestor", "assistant")
        if side not in SIDES:
            problems.append(f"{where}: requestor must be 'user' or 'assistant', got {side!r}")
            continue
        _, error = toolbox_for(side).validate_arguments(action.get("name", ""), action.get("arguments") or {})
        if error:
            problems.append(f"{where} ({side}): {error}")
    for i, assertion in enumerate(criteria.get("env_assertions") or []):
        where = f"evaluation_criteria.env_assertions[{i}]"
        name = assertion.get("func_name")
        if name not in ASSERTIONS:
            problems.append(f"{where}: unknown assertion {name!r}")
            continue
        side, function = ASSERTIONS[name]
        if assertion.get("env_type", side) != side:
            problems.append(f"{where}: {name} is a {side} assertion, not {assertion.get('env_type')!r}")
        try:
            inspect.signature(function).bind(None, **(assertion.get("arguments") or {}))
        except TypeError as exc:
            problems.append(f"{where}: {name}: {exc}")
    return problems
