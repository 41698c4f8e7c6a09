"""The phone model: each troubleshooting rule of the tech-support manual, observed through the user
tools and the environment assertions, on a small hand-built world."""

from __future__ import annotations

import pytest

from casework.domains.state import Database, State
from casework.domains.telecom import USER_TOOLS, env, run_action
from casework.domains.telecom import device as model
from casework.domains.telecom.data import agent_tables, default_user_table
from casework.domains.tools import ToolError

PHONE = "555-000-0001"


def world(**line_overrides) -> Database:
    line = {
        "line_id": "L1",
        "phone_number": PHONE,
        "status": "Active",
        "plan_id": "P1",
        "device_id": None,
        "data_used_gb": 1.0,
        "data_refueling_gb": 0.0,
        "roaming_enabled": False,
    }
    line.update(line_overrides)
    tables = agent_tables(
        {
            "plans": [
                {
                    "plan_id": "P1",
                    "name": "Small",
                    "data_limit_gb": 5.0,
                    "price_per_month": 40.0,
                    "data_refueling_price_per_gb": 5.0,
                }
            ],
            "lines": [line],
            "customers": [
                {
                    "customer_id": "C1",
                    "full_name": "Ada Lovelace",
                    "date_of_birth": "1990-01-01",
                    "email": "ada@example.com",
                    "phone_number": PHONE,
                    "address": {"street": "1 Main St", "city": "X", "state": "CA", "zip_code": "90000"},
                    "account_status": "Active",
                    "created_at": "2024-01-01T00:00:00",
                    "line_ids": ["L1"],
                    "bill_ids": ["B1"],
                }
            ],
            "bills": [
                {
                    "bill_id": "B1",
                    "customer_id": "C1",
                    "period_start": "2025-01-01",
                    "period_end": "2025-01-31",
                    "issue_date": "2025-01-05",
                    "total_due": 40.0,
                    "due_date": "2025-01-19",
                    "status": "Overdue",
                }
            ],
        }
    )
    tables["user"] = default_user_table()
    return Database(tables)


@pytest.fixture
def db() -> State:
    state = world().fork()
    env.set_user_info(state, "Ada Lovelace", PHONE)
    env.simulate_network_search(state)
    return state


def user(state: State, name: str, **arguments) -> str:
    observation = run_action(state, "user", name, arguments)
    assert not observation.startswith("Error:"), observation
    return observation


def agent(state: State, name: str, **arguments) -> str:
    observation = run_action(state, "assistant", name, arguments)
    assert not observation.startswith("Error:"), observation
    return observation


def check(state: State, name: str, **arguments) -> bool:
    return env.ASSERTIONS[name][1](state, **arguments).passed


def test_a_healthy_phone_has_service_excellent_5g_data_and_mms(db):
    assert model.summary(db) == {
        "service": "connected",
        "mobile_data": True,
        "speed_mbps": 275.0,
        "speed": "Excellent",
        "can_send_mms": True,
    }
    assert "5G" in user(db, "check_status_bar") and "📶⁴ Excellent" in user(db, "check_status_bar")


def test_airplane_mode_cuts_service_and_data_until_turned_off(db):
    env.turn_airplane_mode_on(db)
    assert model.summary(db)["service"] == "no_service"
    assert not model.mobile_data_working(db) and not model.can_send_mms(db)
    assert user(db, "check_status_bar").startswith("Status Bar: ✈️ Airplane Mode")
    assert "failed: No Connection" in user(db, "run_speed_test")
    assert "Airplane Mode is now OFF" in user(db, "toggle_airplane_mode")
    assert model.summary(db)["speed"] == "Excellent"


def test_airplane_mode_disconnects_the_vpn(db):
    user(db, "connect_vpn")
    env.turn_airplane_mode_on(db)
    assert model.device(db)["vpn_connected"] is False


def test_missing_sim_is_fixed_by_reseating(db):
    env.unseat_sim_card(db)
    assert "No SIM card" in user(db, "check_sim_status")
    assert not check(db, "assert_service_status", expected_status="connected")
    user(db, "reseat_sim_card")
    assert check(db, "assert_service_status", expected_status="connected")


@pytest.mark.parametrize("mode", ["pin", "puk"])
def test_locked_sim_has_no_user_fix(db, mode):
    env.lock_sim_card(db, mode)
    assert "locked with a" in user(db, "check_sim_status")
    for fix in ("reseat_sim_card", "reboot_device", "toggle_airplane_mode", "toggle_airplane_mode"):
        user(db, fix)
    assert check(db, "assert_service_status", expected_status="no_service")


def test_broken_apn_needs_reset_and_reboot(db):
    env.break_apn_settings(db)
    assert model.device(db)["network_connection_status"] == "no_service"
    user(db, "reset_apn_settings")
    assert model.device(db)["network_connection_status"] == "no_service"  # applies at the next reboot
    assert "Resetting APN settings" in user(db, "reboot_device")
    assert model.device(db)["network_connection_status"] == "connected"


def test_suspended_line_has_no_service_and_resuming_needs_a_reboot(db):
    with pytest.raises(ToolError, match="already has an overdue bill"):
        env.suspend_line_for_overdue_bill(db, "C1", "L1", "B9", contract_ended=False)
    db["bills"].edit("B1")["status"] = "Paid"
    env.suspend_line_for_overdue_bill(db, "C1", "L1", "B9", contract_ended=False)
    assert db["bills"]["B9"]["status"] == "Overdue" and db["bills"]["B9"]["total_due"] == 40.0
    assert db["lines"]["L1"]["status"] == "Suspended"
    user(db, "reboot_device")
    assert model.device(db)["network_connection_status"] == "no_service"
    assert "line is not active" in env.assert_service_status(db, "connected").reason
    agent(db, "resume_line", customer_id="C1", line_id="L1")
    assert model.device(db)["network_connection_status"] == "no_service"
    user(db, "reboot_device")
    assert model.device(db)["network_connection_status"] == "connected"


def test_mobile_data_switch(db):
    env.turn_data_off(db)
    assert not check(db, "assert_mobile_data_status", expected_status=True)
    assert "📵 Data Disabled" in user(db, "check_status_bar")
    user(db, "toggle_data")
    assert check(db, "assert_mobile_data_status", expected_status=True)


def test_abroad_needs_roaming_on_the_phone_and_on_the_line(db):
    env.set_user_location(db, True)
    assert not model.mobile_data_working(db)
    user(db, "toggle_roaming")
    reasons = model.no_data_reasons(db)
    assert reasons == ["the user is abroad and roaming is not enabled on the line"]
    agent(db, "enable_roaming", customer_id="C1", line_id="L1")
    assert model.mobile_data_working(db)
    user(db, "toggle_roaming")  # off again on the phone
    assert model.no_data_reasons(db) == ["the user is abroad and data roaming is off on the phone"]


def test_roaming_does_not_matter_at_home(db):
    assert model.device(db)["roaming_enabled"] is False
    assert db["lines"]["L1"]["roaming_enabled"] is False
    assert model.mobile_data_working(db)


def test_exhausted_data_allowance_stops_data_until_refuelled(db):
    env.set_data_usage(db, "C1", "L1", 5.0)
    assert model.no_data_reasons(db) == ["the line's data allowance is used up"]
    assert check(db, "assert_mobile_data_usage_exceeded", expected_status=True)
    agent(db, "refuel_data", customer_id="C1", line_id="L1", gb_amount=1.0)
    assert model.mobile_data_working(db)
    assert check(db, "assert_data_refueling_amount", customer_id="C1", line_id="L1", expected_amount=1.0)


@pytest.mark.parametrize(
    ("mode", "technology", "speed", "band", "mms"),
    [
        ("4g_5g_preferred", "5G", 275.0, "Excellent", True),
        ("4g_only", "4G", 44.0, "Good", True),
        ("3g_only", "3G", 1.5, "Poor", True),
        ("2g_only", "2G", 0.05, "Very Poor", False),
    ],
)
def test_network_mode_preference_sets_technology_speed_and_mms(db, mode, technology, speed, band, mms):
    user(db, "set_network_mode_preference", mode=mode)
    assert model.device(db)["network_technology_connected"] == technology
    assert model.speed_test(db) == (speed, band)
    assert model.can_send_mms(db) is mms


def test_without_5g_signal_the_preferred_mode_falls_back_to_4g(db):
    model.edit_surroundings(db)["signal_strength"]["5G"] = "none"
    env.simulate_network_search(db)
    assert model.device(db)["network_technology_connected"] == "4G"


def test_invalid_network_mode_is_refused_and_changes_nothing(db):
    before = db.canonical_hash()
    assert "is not a valid option" in user(db, "set_network_mode_preference", mode="6g")
    assert db.canonical_hash() == before


def test_data_saver_and_a_poor_vpn_slow_data(db):
    env.turn_data_saver_mode_on(db)
    assert model.speed_test(db) == (55.0, "Good")
    assert not check(db, "assert_internet_speed", expected_speed=200, expected_desc="excellent")
    env.break_vpn(db)
    assert model.speed_test(db) == (5.5, "Fair")
    user(db, "disconnect_vpn")
    user(db, "toggle_data_saver_mode")
    assert check(db, "assert_internet_speed", expected_speed=200, expected_desc="excellent")


def test_a_vpn_with_good_performance_does_not_slow_data(db):
    user(db, "connect_vpn")
    assert "🔒 VPN Connected" in user(db, "check_status_bar")
    assert model.speed_test(db) == (275.0, "Excellent")


def test_mms_needs_mmsc_url(db):
    env.break_apn_mms_setting(db)
    assert "MMSC URL (for picture messages): Not Set" in user(db, "check_apn_settings")
    assert not check(db, "assert_can_send_mms", expected_status=True)
    assert model.mobile_data_working(db)  # data itself is fine
    user(db, "reset_apn_settings")
    user(db, "reboot_device")
    assert check(db, "assert_can_send_mms", expected_status=True)


def test_mms_fails_with_wifi_calling_mms_over_wifi(db):
    env.set_wifi_calling(db, True, mms_over_wifi=True)
    assert not model.can_send_mms(db)
    user(db, "toggle_wifi_calling")
    assert model.can_send_mms(db)
    env.set_wifi_calling(db, True, mms_over_wifi=False)
    assert model.can_send_mms(db)  # Wi-Fi calling alone does not block MMS


@pytest.mark.parametrize("permission", ["sms", "storage"])
def test_mms_needs_messaging_permissions(db, permission):
    env.remove_app_permission(db, "messaging", permission)
    assert permission not in user(db, "check_app_permissions", app_name="messaging")
    assert not model.can_send_mms(db)
    assert "Success" in user(db, "grant_app_permission", app_name="messaging", permission=permission.upper())
    assert model.can_send_mms(db)


def test_removing_an_unneeded_permission_keeps_mms(db):
    env.remove_app_permission(db, "messaging", "phone")
    assert model.can_send_mms(db)


def test_mms_needs_mobile_data(db):
    env.turn_data_off(db)
    assert model.no_mms_reasons(db) == ["no mobile data: mobile data is turned off"]


def test_unknown_app_and_permission_are_reported(db):
    assert "not found" in user(db, "grant_app_permission", app_name="camera", permission="sms")
    assert "not tracked" in user(db, "grant_app_permission", app_name="messaging", permission="camera")
    assert "not found on this phone" in user(db, "check_app_status", app_name="camera")


def test_wifi_cannot_be_toggled_in_airplane_mode(db):
    env.turn_airplane_mode_on(db)
    assert "Cannot change Wi-Fi" in user(db, "toggle_wifi")


def test_payment_request_flow_pays_the_bill(db):
    assert "No payment request" in user(db, "check_payment_request")
    assert "do not have a payment request" in user(db, "make_payment")
    assert not check(db, "assert_no_overdue_bill", overdue_bill_id="B1")
    agent(db, "send_payment_request", customer_id="C1", bill_id="B1")
    assert "bill B1 of 40.0 USD" in user(db, "check_payment_request")
    assert "Payment of 40.0 USD has been made for bill B1" in user(db, "make_payment")
    assert db["bills"]["B1"]["status"] == "Paid"
    assert check(db, "assert_no_overdue_bill", overdue_bill_id="B1")
    assert check(db, "assert_no_overdue_bill", overdue_bill_id="B404")  # a bill that does not exist


def test_user_tools_change_only_the_user_side_except_make_payment(db):
    before = db.fork()
    for name in ("toggle_airplane_mode", "toggle_data", "toggle_roaming", "reseat_sim_card", "reboot_device"):
        user(db, name)
    changed = {c.table for c in before.diff(db)}
    assert changed == {"user"}


def test_check_tools_never_change_the_state(db):
    env.break_vpn(db)
    before = db.canonical_hash()
    for name in USER_TOOLS.names():
        if USER_TOOLS[name].kind == "read":
            arguments = (
                {"app_name": "messaging"} if "app_name" in USER_TOOLS[name].parameters["properties"] else {}
            )
            USER_TOOLS.call(db, name, arguments)
    assert db.canonical_hash() == before


def test_a_number_without_a_line_is_a_broken_scenario(db):
    with pytest.raises(ToolError, match="line not found"):
        env.set_user_info(db, "Nobody", "555-999-9999")


def test_set_apn_settings_validates_and_applies_at_once(db):
    observation = run_action(db, "user", "set_apn_settings", {"apn_settings": {"apn_name": "weird"}})
    assert observation.startswith("Error: invalid APN settings: apn_name")
    user(db, "set_apn_settings", apn_settings={"apn_name": "broken"})
    assert model.device(db)["network_connection_status"] == "no_service"
    user(db, "set_apn_settings", apn_settings={"apn_name": "internet", "mmsc_url": None})
    assert model.device(db)["network_connection_status"] == "connected" and not model.can_send_mms(db)
    assert "$ref" not in str(USER_TOOLS["set_apn_settings"].parameters)  # plain schema for every client
