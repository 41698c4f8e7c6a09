"""The user's phone as a model: what the settings and the account give in service, data speed and MMS.

The rules follow τ³'s tech-support manual and its user tools:

* **Service** (``network_connection_status``) is settled by a *network search*, which happens when a
  setting that affects the radio changes (airplane mode, SIM reseat, mobile data, roaming, network
  mode, APN) and on reboot. A search gives *no service* when the SIM is missing or locked (PIN/PUK),
  airplane mode is on, the APN is broken, or the line is not active on the account (suspended for
  an overdue bill or an ended contract); otherwise *connected*, on the technology the network mode
  preference allows (``4g_5g_preferred`` takes 5G where there is 5G signal, else 4G) at that
  technology's signal strength where the user is. A resumed line therefore needs a reboot before
  service comes back, as the policy says.
* **Mobile data** works when airplane mode is off, there is signal and service, the user is not
  abroad or has both data roaming on the phone and roaming enabled on the line, the mobile data
  switch is on, and the line's data use is below its plan limit plus refuelled data.
* **Speed** (Mbps) = mid-point of the technology's range (2G 0.1-0.4, 3G 1-5, 4G 10-100, 5G
  50-500) x signal factor (poor 0.2, fair 0.5, good 0.8, excellent 1.0) x 0.1 with a poorly
  performing VPN connected x 0.2 with data saver on; < 1 very poor, < 5 poor, < 25 fair, < 100
  good, else excellent. No mobile data: no connection.
* **MMS** needs working mobile data, a technology above 2G, no Wi-Fi calling with MMS over Wi-Fi,
  an MMSC URL in the APN settings, and the messaging app's ``sms`` and ``storage`` permissions.

What the account says (line status, line roaming, data allowance, payment requests) is read from
the agent tables through the surroundings' phone number, never copied into the user side.
"""

from __future__ import annotations

from typing import Any

from casework.domains.state import Record, State
from casework.domains.telecom.models import (
    USER_TABLE,
    ApnName,
    BillStatus,
    LineStatus,
    NetworkModePreference,
    NetworkStatus,
    NetworkTechnology,
    PerformanceLevel,
    SignalStrength,
    SimStatus,
)
from casework.domains.tools import ToolError

SPEED_RANGES = {
    "2G": (0.1, 0.4),
    "3G": (1.0, 5.0),
    "4G": (10.0, 100.0),
    "5G": (50.0, 500.0),
    "none": (0.0, 0.0),
}
SIGNAL_FACTORS = {"none": 0.0, "poor": 0.2, "fair": 0.5, "good": 0.8, "excellent": 1.0}
POOR_VPN_FACTOR = 0.1
DATA_SAVER_FACTOR = 0.2
SPEED_BANDS = ((1.0, "Very Poor"), (5.0, "Poor"), (25.0, "Fair"), (100.0, "Good"))
MODE_TECHNOLOGY = {
    NetworkModePreference.FOUR_G_ONLY: NetworkTechnology.FOUR_G,
    NetworkModePreference.THREE_G_ONLY: NetworkTechnology.THREE_G,
    NetworkModePreference.TWO_G_ONLY: NetworkTechnology.TWO_G,
}


# -- reading the two sides ----------------------------------------------------------------------


def device(state: State) -> Record:
    """The phone record (shared: do not mutate; use :func:`edit_device`)."""
    return state[USER_TABLE]["device"]


def edit_device(state: State) -> Record:
    return state[USER_TABLE].edit("device")


def surroundings(state: State) -> Record:
    return state[USER_TABLE]["surroundings"]


def edit_surroundings(state: State) -> Record:
    return state[USER_TABLE].edit("surroundings")


def digits(phone_number: str) -> str:
    """The digits of a phone number, so that '555-123-2002' and '5551232002' match."""
    return "".join(ch for ch in phone_number if ch.isdigit())


def line_key_by_phone(state: State, phone_number: str) -> str | None:
    wanted = digits(phone_number)
    if not wanted:
        return None
    for key, line in state["lines"].items():
        if digits(line["phone_number"]) == wanted:
            return key
    return None


def user_line(state: State) -> Record | None:
    """The account line of the user's phone number; None when the user has no number yet.

    Raises ToolError when the number belongs to no line (a broken scenario)."""
    number = surroundings(state).get("phone_number")
    if number is None:
        return None
    key = line_key_by_phone(state, number)
    if key is None:
        raise ToolError(f"line not found for the user's phone number {number}")
    return state["lines"][key]


def line_active(state: State) -> bool:
    line = user_line(state)
    return True if line is None else line["status"] == LineStatus.ACTIVE


def roaming_allowed(state: State) -> bool:
    line = user_line(state)
    return False if line is None else bool(line["roaming_enabled"])


def data_exhausted(state: State) -> bool:
    """The line has used its plan's data limit plus the data refuelled this cycle."""
    line = user_line(state)
    if line is None:
        return False
    plan = state["plans"].get(line["plan_id"])
    if plan is None:
        raise ToolError(f"plan {line['plan_id']} of line {line['line_id']} not found")
    return line["data_used_gb"] >= plan["data_limit_gb"] + line["data_refueling_gb"]


def pending_payment_request(state: State) -> Record | None:
    """The first bill of the user's customer awaiting payment (the agent's payment request), if any."""
    number = surroundings(state).get("phone_number")
    if number is None:
        return None
    customer = customer_by_phone(state, number)
    if customer is None:
        return None
    bills = state["bills"]
    for bill_id in customer["bill_ids"]:
        if bill_id in bills and bills[bill_id]["status"] == BillStatus.AWAITING_PAYMENT:
            return bills[bill_id]
    return None


def customer_by_phone(state: State, phone_number: str) -> Record | None:
    """The customer whose contact number or one of whose lines has this number."""
    wanted = digits(phone_number)
    if not wanted:
        return None
    lines = state["lines"]
    for customer in state["customers"].values():
        if digits(customer["phone_number"]) == wanted:
            return customer
        for line_id in customer["line_ids"]:
            if line_id in lines and digits(lines[line_id]["phone_number"]) == wanted:
                return customer
    return None


# -- the radio ------------------------------------------------------------------------------------


def sim_status(phone: Record) -> str:
    return SimStatus.MISSING if phone["sim_card_missing"] else phone["sim_card_status"]


def no_service_reasons(state: State, phone: Record | None = None) -> list[str]:
    """Why a network search would find no service now (empty: it connects)."""
    phone = phone if phone is not None else device(state)
    reasons = []
    sim = sim_status(phone)
    if sim == SimStatus.MISSING:
        reasons.append("the SIM card is missing")
    elif sim in (SimStatus.LOCKED_PIN, SimStatus.LOCKED_PUK):
        reasons.append(f"the SIM card is locked ({'PIN' if sim == SimStatus.LOCKED_PIN else 'PUK'})")
    if phone["airplane_mode"]:
        reasons.append("airplane mode is on")
    if phone["active_apn_settings"]["apn_name"] == ApnName.BROKEN:
        reasons.append("the APN settings are broken")
    if not line_active(state):
        reasons.append("the line is not active on the account")
    return reasons


def network_search(state: State) -> None:
    """Settle the connection status, technology and signal from the SIM, settings, APN and line."""
    phone = edit_device(state)
    if no_service_reasons(state, phone):
        phone["network_connection_status"] = NetworkStatus.NO_SERVICE
        phone["network_technology_connected"] = NetworkTechnology.NONE
        phone["network_signal_strength"] = SignalStrength.NONE
        return
    signal = surroundings(state)["signal_strength"]
    preference = phone["network_mode_preference"]
    if preference == NetworkModePreference.FOUR_G_5G_PREFERRED:
        has_5g = signal.get(NetworkTechnology.FIVE_G, SignalStrength.NONE) != SignalStrength.NONE
        technology = NetworkTechnology.FIVE_G if has_5g else NetworkTechnology.FOUR_G
    else:
        technology = MODE_TECHNOLOGY.get(preference, NetworkTechnology.FOUR_G)
    phone["network_connection_status"] = NetworkStatus.CONNECTED
    phone["network_technology_connected"] = technology
    phone["network_signal_strength"] = signal.get(technology, SignalStrength.NONE)


# -- mobile data, speed, MMS ----------------------------------------------------------------------


def no_data_reasons(state: State) -> list[str]:
    """Why mobile data does not work now (empty: it works)."""
    phone = device(state)
    reasons = []
    if phone["airplane_mode"]:
        reasons.append("airplane mode is on")
    elif phone["network_signal_strength"] == SignalStrength.NONE:
        reasons.append("there is no signal")
    if phone["network_connection_status"] == NetworkStatus.NO_SERVICE and not phone["airplane_mode"]:
        reasons.append("there is no service")
    if surroundings(state)["is_abroad"]:
        if not phone["roaming_enabled"]:
            reasons.append("the user is abroad and data roaming is off on the phone")
        if not roaming_allowed(state):
            reasons.append("the user is abroad and roaming is not enabled on the line")
    if not phone["data_enabled"]:
        reasons.append("mobile data is turned off")
    if data_exhausted(state):
        reasons.append("the line's data allowance is used up")
    return reasons


def mobile_data_working(state: State) -> bool:
    return not no_data_reasons(state)


def speed_test(state: State) -> tuple[float | None, str]:
    """``(Mbps, description)``; ``(None, "No Connection")`` without mobile data."""
    if not mobile_data_working(state):
        return None, "No Connection"
    phone = device(state)
    factor = 1.0
    vpn = phone.get("vpn_details")
    if phone["vpn_connected"] and vpn and vpn.get("server_performance") == PerformanceLevel.POOR:
        factor = POOR_VPN_FACTOR
    if phone["data_saver_mode"]:
        factor *= DATA_SAVER_FACTOR
    low, high = SPEED_RANGES.get(phone["network_technology_connected"], (0.0, 0.0))
    signal = SIGNAL_FACTORS.get(phone["network_signal_strength"], 0.0)
    speed = round((low + high) / 2.0 * signal * factor, 2)
    return speed, speed_description(speed)


def speed_description(speed: float) -> str:
    for limit, label in SPEED_BANDS:
        if speed < limit:
            return label
    return "Excellent"


def slow_data_reasons(state: State) -> list[str]:
    """What holds working mobile data below its best speed."""
    phone = device(state)
    reasons = []
    vpn = phone.get("vpn_details")
    if phone["vpn_connected"] and vpn and vpn.get("server_performance") == PerformanceLevel.POOR:
        reasons.append("a poorly performing VPN is connected")
    if phone["data_saver_mode"]:
        reasons.append("data saver mode is on")
    if phone["network_technology_connected"] in (NetworkTechnology.TWO_G, NetworkTechnology.THREE_G):
        reasons.append(f"the phone is on {phone['network_technology_connected']} (network mode preference)")
    if phone["network_signal_strength"] in (SignalStrength.POOR, SignalStrength.FAIR):
        reasons.append(f"the signal is {phone['network_signal_strength']}")
    return reasons


def no_mms_reasons(state: State) -> list[str]:
    """Why the messaging app cannot send MMS now (empty: it can)."""
    reasons = [f"no mobile data: {r}" for r in no_data_reasons(state)]
    phone = device(state)
    if phone["network_technology_connected"] == NetworkTechnology.TWO_G:
        reasons.append("the phone is on 2G")
    if phone["wifi_calling_enabled"] and phone["wifi_calling_mms_over_wifi"]:
        reasons.append("Wi-Fi calling is on with MMS over Wi-Fi, which the carrier does not support")
    if phone["active_apn_settings"].get("mmsc_url") is None:
        reasons.append("the APN has no MMSC URL")
    app = phone["app_statuses"].get("messaging")
    if app is None:
        reasons.append("there is no messaging app")
    else:
        missing = [p for p in ("sms", "storage") if not app["permissions"].get(p)]
        if missing:
            reasons.append(f"the messaging app lacks the {' and '.join(missing)} permission")
    return reasons


def can_send_mms(state: State) -> bool:
    return not no_mms_reasons(state)


# -- the status bar -------------------------------------------------------------------------------

_SIGNAL_ICONS = {
    "none": "📵 No Signal",
    "poor": "📶¹ Poor",
    "fair": "📶² Fair",
    "good": "📶³ Good",
    "excellent": "📶⁴ Excellent",
}


def status_bar(state: State) -> str:
    phone = device(state)
    parts: list[str] = []
    if phone["airplane_mode"]:
        parts.append("✈️ Airplane Mode")
    else:
        parts.append(_SIGNAL_ICONS.get(phone["network_signal_strength"], "📵 No Signal"))
        technology = phone["network_technology_connected"]
        if technology != NetworkTechnology.NONE:
            parts.append(technology)
        if phone["data_enabled"] and technology != NetworkTechnology.NONE:
            parts.append("📱 Data Enabled")
            if phone["data_saver_mode"]:
                parts.append("🔽 Data Saver")
        else:
            parts.append("📵 Data Disabled")
    if phone["wifi_enabled"] and phone["wifi_connected"]:
        parts.append(f"📡 Connected to {phone['wifi_ssid']}" if phone.get("wifi_ssid") else "📡 Enabled")
    if phone["vpn_connected"]:
        parts.append("🔒 VPN Connected")
    parts.append(f"🔋 {phone['battery_level']}%")
    return " | ".join(parts)


def summary(state: State) -> dict[str, Any]:
    """What the user can observe, in one dict (for reports and tests)."""
    speed, description = speed_test(state)
    return {
        "service": device(state)["network_connection_status"],
        "mobile_data": mobile_data_working(state),
        "speed_mbps": speed,
        "speed": description,
        "can_send_mms": can_send_mms(state),
    }
