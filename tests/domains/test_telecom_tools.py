"""Telecom agent tools, toolboxes, the Domain object and the one-Database layout (forks, hashes and
diffs covering the account and the phone), on the embedded default database."""

from __future__ import annotations

import json

import pytest

from casework.domains import get_domain
from casework.domains.state import canonical_hash_of
from casework.domains.telecom import AGENT_TOOLS, POLICY, POLICY_SOLO, TELECOM, USER_TOOLS, env
from casework.domains.telecom import device as model
from casework.domains.telecom.data import default_telecom_database, generate_telecom

AGENT_NAMES = {
    "get_customer_by_phone",
    "get_customer_by_id",
    "get_customer_by_name",
    "get_details_by_id",
    "suspend_line",
    "resume_line",
    "get_bills_for_customer",
    "send_payment_request",
    "get_data_usage",
    "enable_roaming",
    "disable_roaming",
    "transfer_to_human_agents",
    "refuel_data",
}
USER_NAMES = {
    "check_status_bar", "check_network_status", "check_network_mode_preference", "set_network_mode_preference",
    "run_speed_test", "toggle_airplane_mode", "check_sim_status", "reseat_sim_card", "toggle_data",
    "toggle_roaming", "check_data_restriction_status", "toggle_data_saver_mode", "check_apn_settings",
    "set_apn_settings", "reset_apn_settings", "check_wifi_status", "toggle_wifi", "check_wifi_calling_status",
    "toggle_wifi_calling", "check_vpn_status", "connect_vpn", "disconnect_vpn", "check_installed_apps",
    "check_app_status", "check_app_permissions", "grant_app_permission", "can_send_mms", "reboot_device",
    "check_payment_request", "make_payment",
}  # fmt: skip


@pytest.fixture
def db():
    return default_telecom_database().fork()


def customer_with(db, predicate):
    return next(c for c in db["customers"].values() if predicate(c))


def call(db, name, **arguments):
    return AGENT_TOOLS.call(db, name, arguments)


def test_toolboxes_have_tau3_names_and_schemas():
    assert set(AGENT_TOOLS.names()) == AGENT_NAMES
    assert set(USER_TOOLS.names()) == USER_NAMES
    refuel = AGENT_TOOLS["refuel_data"].parameters
    assert refuel["required"] == ["customer_id", "line_id", "gb_amount"]
    assert refuel["properties"]["gb_amount"]["type"] == "number"
    mode = USER_TOOLS["set_network_mode_preference"].parameters["properties"]["mode"]
    assert mode["enum"] == ["4g_5g_preferred", "4g_only", "3g_only", "2g_only"]
    assert AGENT_TOOLS["transfer_to_human_agents"].ends_conversation


def test_get_domain_returns_telecom():
    domain = get_domain("telecom")
    assert domain is TELECOM and domain.name == "telecom"
    assert domain.tables == ("bills", "customers", "devices", "lines", "plans", "user")
    assert domain.is_write("refuel_data") and not domain.is_write("get_customer_by_id")
    assert "refuel" in POLICY and "4g_5g_preferred" in POLICY
    assert "YOU ARE BEING TRANSFERRED" in POLICY and "YOU ARE BEING TRANSFERRED" not in POLICY_SOLO


def test_default_database_is_deterministic_and_seeded():
    assert canonical_hash_of(generate_telecom(seed=0)) == default_telecom_database().canonical_hash()
    assert canonical_hash_of(generate_telecom(seed=1)) != default_telecom_database().canonical_hash()
    tables = generate_telecom(seed=3, customers=10)
    assert len(tables["customers"]) == 10
    assert {b["status"] for b in tables["bills"].values()} >= {"Paid", "Issued"}


def test_lookups(db):
    customer = next(iter(db["customers"].values()))
    by_phone = json.loads(
        call(db, "get_customer_by_phone", phone_number=customer["phone_number"].replace("-", ""))
    )
    assert by_phone["customer_id"] == customer["customer_id"]
    line_id = customer["line_ids"][-1]
    by_line = json.loads(call(db, "get_customer_by_phone", phone_number=db["lines"][line_id]["phone_number"]))
    assert by_line["customer_id"] == customer["customer_id"]
    found = json.loads(
        call(
            db, "get_customer_by_name", full_name=customer["full_name"].upper(), dob=customer["date_of_birth"]
        )
    )
    assert [c["customer_id"] for c in found] == [customer["customer_id"]]
    assert (
        json.loads(call(db, "get_customer_by_name", full_name=customer["full_name"], dob="1900-01-01")) == []
    )
    for some_id in (line_id, customer["bill_ids"][0], "P2001", db["lines"][line_id]["device_id"]):
        assert some_id in call(db, "get_details_by_id", id=some_id)
    assert call(db, "get_details_by_id", id="X1") == "Error: Unknown ID format or type: X1"
    assert call(db, "get_customer_by_id", customer_id="C0") == "Error: Customer with ID C0 not found"
    assert (
        call(db, "get_customer_by_phone", phone_number="000")
        == "Error: Customer with phone number 000 not found"
    )


def test_line_ownership_is_checked(db):
    a, b = list(db["customers"].values())[:2]
    observation = call(db, "enable_roaming", customer_id=a["customer_id"], line_id=b["line_ids"][0])
    assert observation == f"Error: Line {b['line_ids'][0]} not found for customer {a['customer_id']}"


def test_bills_most_recent_first(db):
    customer = next(iter(db["customers"].values()))
    bills = json.loads(call(db, "get_bills_for_customer", customer_id=customer["customer_id"], limit=1))
    assert len(bills) == 1 and bills[0]["issue_date"] == "2025-02-05"


def test_refuel_charges_a_new_draft_bill_then_reuses_it(db):
    customer = next(iter(db["customers"].values()))
    line_id = customer["line_ids"][0]
    price = db["plans"][db["lines"][line_id]["plan_id"]]["data_refueling_price_per_gb"]
    out = json.loads(
        call(db, "refuel_data", customer_id=customer["customer_id"], line_id=line_id, gb_amount=2.0)
    )
    assert out["new_data_refueling_gb"] == 2.0 and out["charge"] == 2.0 * price
    draft_id = db["customers"][customer["customer_id"]]["bill_ids"][-1]
    draft = db["bills"][draft_id]
    assert (
        draft["status"] == "Draft"
        and draft["period_start"] == "2025-03-01"
        and draft["total_due"] == 2.0 * price
    )
    call(db, "refuel_data", customer_id=customer["customer_id"], line_id=line_id, gb_amount=1.0)
    assert db["customers"][customer["customer_id"]]["bill_ids"][-1] == draft_id
    assert db["bills"][draft_id]["total_due"] == 3.0 * price and len(db["bills"][draft_id]["line_items"]) == 2
    before = db.canonical_hash()
    assert call(db, "refuel_data", customer_id=customer["customer_id"], line_id=line_id, gb_amount=0) == (
        "Error: Refuel amount must be positive"
    )
    assert db.canonical_hash() == before


def test_suspend_and_resume(db):
    customer = customer_with(db, lambda c: db["lines"][c["line_ids"][0]]["status"] == "Active")
    cid, lid = customer["customer_id"], customer["line_ids"][0]
    assert "Line resumed" not in call(db, "resume_line", customer_id=cid, line_id=lid)
    assert call(db, "resume_line", customer_id=cid, line_id=lid) == "Error: Line must be suspended to resume"
    call(db, "suspend_line", customer_id=cid, line_id=lid, reason="travel")
    assert (
        db["lines"][lid]["status"] == "Suspended"
        and db["lines"][lid]["suspension_start_date"] == "2025-02-25"
    )
    assert (
        call(db, "suspend_line", customer_id=cid, line_id=lid, reason="x")
        == "Error: Line must be active to suspend"
    )
    call(db, "resume_line", customer_id=cid, line_id=lid)
    assert db["lines"][lid]["status"] == "Active" and db["lines"][lid]["suspension_start_date"] is None


def test_one_payment_request_at_a_time(db):
    customer = next(iter(db["customers"].values()))
    cid, first, second = customer["customer_id"], *customer["bill_ids"][:2]
    assert (
        call(db, "send_payment_request", customer_id=cid, bill_id="B0")
        == f"Error: Bill B0 not found for customer {cid}"
    )
    assert call(db, "send_payment_request", customer_id=cid, bill_id=first).startswith("Payment request sent")
    assert db["bills"][first]["status"] == "Awaiting Payment"
    assert call(db, "send_payment_request", customer_id=cid, bill_id=second) == (
        "Error: A bill is already awaiting payment for this customer"
    )


def test_roaming_toggles_report_no_change(db):
    customer = customer_with(db, lambda c: not db["lines"][c["line_ids"][0]]["roaming_enabled"])
    cid, lid = customer["customer_id"], customer["line_ids"][0]
    assert call(db, "disable_roaming", customer_id=cid, line_id=lid) == "Roaming was already disabled"
    assert call(db, "enable_roaming", customer_id=cid, line_id=lid) == "Roaming enabled successfully"
    assert call(db, "enable_roaming", customer_id=cid, line_id=lid) == "Roaming was already enabled"


def test_one_fork_hashes_and_diffs_both_sides(db):
    base = default_telecom_database()
    customer = customer_with(
        db,
        lambda c: (
            db["lines"][c["line_ids"][0]]["status"] == "Active"
            and not db["lines"][c["line_ids"][0]]["roaming_enabled"]
        ),
    )
    line_id = customer["line_ids"][0]
    env.set_user_info(db, customer["full_name"], db["lines"][line_id]["phone_number"])
    env.turn_airplane_mode_on(db)
    call(db, "enable_roaming", customer_id=customer["customer_id"], line_id=line_id)
    assert db.canonical_hash() == canonical_hash_of(db.to_dict())
    assert db.canonical_hash() != base.canonical_hash()
    sibling = base.fork()
    assert sibling.canonical_hash() == base.canonical_hash()  # forks never see each other's writes
    assert model.device(sibling)["airplane_mode"] is False
    paths = {(c.table, c.key, c.path) for c in sibling.diff(db)}
    assert {
        ("user", "device", ".airplane_mode"),
        ("user", "surroundings", ".phone_number"),
        ("lines", line_id, ".roaming_enabled"),
    } <= paths


def test_domain_contract():
    from casework.domains import available

    assert available()["telecom"] == "built-in"
    domain = get_domain("telecom")
    assert domain.policy_text("solo") == POLICY_SOLO
    assert domain.user_toolbox is USER_TOOLS and domain.user_tables == ("user",)
    assert (
        domain.tool_kind("toggle_airplane_mode") == "write" and domain.tool_kind("run_speed_test") == "read"
    )
    assert domain.is_generic("transfer_to_human_agents")
    assert domain.arguments.transfer_tool == "transfer_to_human_agents"
    state = domain.fork()
    env.turn_data_off(state)
    passed, reason = domain.check_env_assertion(state, "assert_mobile_data_status", {"expected_status": True})
    assert passed is False and "mobile data is turned off" in reason
    assert (
        domain.check_env_assertion(state, "assert_mobile_data_status", {"expected_status": False})[0] is True
    )
    domain.apply_initial_state(
        state, {"initialization_actions": [{"env_type": "user", "func_name": "turn_data_on"}]}
    )
    assert (
        domain.check_env_assertion(state, "assert_mobile_data_status", {"expected_status": True})[0] is True
    )
    assert len(domain.generate_data(seed=2, customers=5).tables["customers"]) == 5


def test_user_facts_identify_by_phone_then_name_and_birth_date(db):
    customer = next(iter(db["customers"].values()))
    facts = get_domain("telecom").users.facts_for(db, customer["customer_id"])
    phone, name_dob = facts.identities
    assert phone.tool == "get_customer_by_phone" and phone.values == {
        "phone_number": customer["phone_number"]
    }
    assert phone.asked_in("Could you give me the phone number on the account?")
    assert name_dob.values == {"full_name": customer["full_name"], "dob": customer["date_of_birth"]}
    assert name_dob.asked_in("What is your date of birth?")
    for identity in facts.identities:  # each identity finds the customer
        found = AGENT_TOOLS.call(db, identity.tool, dict(identity.values))
        assert customer["customer_id"] in found


def test_grounding_names_ids_that_do_not_exist_or_are_not_the_customers(db):
    ground = get_domain("telecom").grounding
    a, b = list(db["customers"].values())[:2]
    me = a["customer_id"]
    ok = {"customer_id": me, "line_id": a["line_ids"][0]}
    assert ground(db, me, "refuel_data", {**ok, "gb_amount": 1.0}) == []
    assert ground(db, me, "refuel_data", {**ok, "line_id": b["line_ids"][0]}) == [
        f"line {b['line_ids'][0]} does not belong to customer {me!r}"
    ]
    assert ground(db, me, "get_customer_by_id", {"customer_id": b["customer_id"]}) == [
        f"customer_id {b['customer_id']!r} is not the task's customer {me!r}"
    ]
    assert ground(db, me, "send_payment_request", {"customer_id": me, "bill_id": "B0"}) == [
        "bill_id 'B0' does not exist"
    ]
    assert ground(db, me, "get_customer_by_phone", {"phone_number": a["phone_number"]}) == []
    assert ground(db, me, "get_customer_by_phone", {"phone_number": b["phone_number"]}) != []
    assert ground(db, me, "get_customer_by_name", {"full_name": a["full_name"], "dob": "1800-01-01"}) != []
    assert ground(db, me, "get_details_by_id", {"id": "L0"}) == ["id 'L0' does not exist"]
    assert ground(db, me, "toggle_data", {}) == []


def test_sample_tasks_replay_grounded_on_the_default_database():
    domain = get_domain("telecom")
    samples = json.loads(domain.sample_tasks.read_text())
    assert [t["domain"] for t in samples] == ["telecom"] * 3
    state = domain.fork()
    for task in samples:
        for action in task["actions"]:
            assert domain.grounding(state, task["user_id"], action["name"], action["arguments"]) == []
            assert not domain.call(state, action["name"], action["arguments"]).startswith("Error")
    assert state["lines"]["L4001"]["roaming_enabled"] is True
    assert state["lines"]["L4010"]["data_refueling_gb"] == 2.0


def test_domain_check_passes_without_the_oracle_run():
    from casework.runs.domain_check import check_data, check_samples, check_schemas, check_tools
    from casework.tasks import load_tasks

    domain = get_domain("telecom")
    database = domain.database()
    samples = load_tasks(domain.sample_tasks, domain="telecom")
    for check in (
        check_schemas(domain),
        check_tools(domain, database, samples),
        check_data(domain),
        check_samples(domain, database, samples),
    ):
        assert check.passed, (check.name, check.detail)
