"""The user's tools: what the user can look at and do on their own phone (τ³-bench names).

Each acts on the ``user`` table of the state (the phone and the surroundings) and reads the agent
tables only for what the account decides (line status, roaming on the line, data allowance,
payment requests; see :mod:`casework.domains.telecom.device`). ``make_payment`` is the one user
tool that changes the account: it pays the bill the agent sent a payment request for.
Write tools that change the radio end with the status bar, as the user would see it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError

from casework.domains.state import State
from casework.domains.telecom import device as model
from casework.domains.telecom.models import (
    ApnName,
    ApnSettings,
    BillStatus,
    NetworkModePreference,
    NetworkStatus,
    SignalStrength,
)
from casework.domains.tools import ToolError, ToolKind, tool

NETWORK_MODES = [m.value for m in NetworkModePreference]
# A plain string for validation (a wrong mode gets the phone's own message); the schema lists the modes.
NetworkMode = Annotated[str, Field(json_schema_extra={"enum": NETWORK_MODES})]
# A plain object in the schema, its fields written out (no $ref), validated inside the tool.
ApnSettingsArgument = Annotated[
    dict[str, Any],
    Field(
        json_schema_extra={
            "properties": {
                "apn_name": {"type": "string", "enum": [n.value for n in ApnName]},
                "mms_apn": {"type": ["string", "null"]},
                "mmsc_url": {"type": ["string", "null"]},
                "mms_proxy": {"type": ["string", "null"]},
                "mms_port": {"type": ["integer", "null"]},
            },
            "additionalProperties": False,
        }
    ),
]
DEFAULT_VPN = {"server_address": "192.168.1.1", "protocol": "OpenVPN", "server_performance": "excellent"}


def _with_bar(db: State, message: str) -> str:
    return f"{message}\nStatus Bar: {model.status_bar(db)}"


def _on_off(value: bool) -> str:
    return "ON" if value else "OFF"


# -- looking ----------------------------------------------------------------------------------------


@tool(ToolKind.READ)
def check_status_bar(db: State) -> str:
    """Shows what icons are currently visible in your phone's status bar (the area at the top of the screen). Displays network signal strength, mobile data status (enabled, disabled, data saver), Wi-Fi status, and battery level."""
    return f"Status Bar: {model.status_bar(db)}"


@tool(ToolKind.READ)
def check_network_status(db: State) -> str:
    """Checks your phone's connection status to cellular networks and Wi-Fi. Shows airplane mode status, signal strength, network type, whether mobile data is enabled, and whether data roaming is enabled."""
    phone = model.device(db)
    lines = [
        f"Airplane Mode: {_on_off(phone['airplane_mode'])}",
        f"SIM Card Status: {model.sim_status(phone)}",
        f"Cellular Connection: {phone['network_connection_status']}",
        f"Cellular Signal: {phone['network_signal_strength']}",
        f"Cellular Network Type: {phone['network_technology_connected']}",
        f"Mobile Data Enabled: {'Yes' if phone['data_enabled'] else 'No'}",
        f"Data Roaming Enabled: {'Yes' if phone['roaming_enabled'] else 'No'}",
        f"Wi-Fi Radio: {_on_off(phone['wifi_enabled'])}",
        f"Wi-Fi Connected: {'Yes' if phone['wifi_connected'] else 'No'}",
    ]
    if phone["wifi_connected"]:
        lines.append(f"Connected Wi-Fi Network: {phone.get('wifi_ssid')}")
    return "\n".join(lines)


@tool(ToolKind.READ)
def check_network_mode_preference(db: State) -> str:
    """Shows the current network mode preference."""
    return f"Network Mode Preference: {model.device(db)['network_mode_preference']}"


@tool(ToolKind.READ)
def check_sim_status(db: State) -> str:
    """Checks if your SIM card is working correctly and displays its current status. Shows if the SIM is active, missing, or locked with a PIN or PUK code."""
    return {
        "active": "Your SIM card is active and working.",
        "missing": "No SIM card detected in the phone.",
        "locked_pin": "The SIM card is locked with a PIN code.",
        "locked_puk": "The SIM card is locked with a PUK code.",
    }[model.sim_status(model.device(db))]


@tool(ToolKind.READ)
def check_data_restriction_status(db: State) -> str:
    """Checks if your phone has any data-limiting features active. Shows if Data Saver mode is on."""
    if model.device(db)["data_saver_mode"]:
        return "Data Saver mode is ON (limits data usage)."
    return "Data Saver mode is OFF."


@tool(ToolKind.READ)
def check_apn_settings(db: State) -> str:
    """Checks the technical APN settings your phone uses to connect to your carrier's mobile data network. Shows current APN name and MMSC URL for picture messaging."""
    apn = model.device(db)["active_apn_settings"]
    return (
        f"Current APN Name: {apn.get('apn_name') or 'Not Set'}\n"
        f"MMSC URL (for picture messages): {apn.get('mmsc_url') or 'Not Set'}\n"
        "(These are technical settings, usually best left unchanged.)"
    )


@tool(ToolKind.READ)
def check_wifi_status(db: State) -> str:
    """Checks your Wi-Fi connection status. Shows if Wi-Fi is turned on, which network you're connected to (if any), and the signal strength."""
    phone = model.device(db)
    if not phone["wifi_enabled"]:
        return "Wi-Fi is turned OFF."
    if phone["wifi_connected"]:
        return f"Wi-Fi is ON and connected to '{phone.get('wifi_ssid')}'. Signal strength: {phone['wifi_signal_strength']}."
    return "Wi-Fi is ON but not connected to any network."


@tool(ToolKind.READ)
def check_wifi_calling_status(db: State) -> str:
    """Checks if Wi-Fi Calling is enabled on your device. This feature allows you to make and receive calls over a Wi-Fi network instead of using the cellular network."""
    return f"Wi-Fi Calling is currently turned {_on_off(model.device(db)['wifi_calling_enabled'])}."


@tool(ToolKind.READ)
def check_vpn_status(db: State) -> str:
    """Checks if you're using a VPN (Virtual Private Network) connection. Shows if a VPN is active, connected, and displays any available connection details."""
    phone = model.device(db)
    if phone["vpn_connected"]:
        details = phone.get("vpn_details")
        if details:
            return f"VPN is ON and connected. Details: {details}"
        return "VPN is ON and connected (no specific details available)."
    if phone["vpn_enabled_setting"]:
        return "VPN is turned ON in settings, but currently not connected."
    return "VPN is turned OFF."


@tool(ToolKind.READ)
def check_installed_apps(db: State) -> str:
    """Returns the name of all installed apps on the phone."""
    return f"The following apps are installed on the phone: {', '.join(model.device(db)['app_statuses'])}"


def _granted(db: State, app_name: str) -> list[str] | None:
    app = model.device(db)["app_statuses"].get(app_name)
    if app is None:
        return None
    return [name.replace("_", " ").lower() for name, allowed in app["permissions"].items() if allowed]


@tool(ToolKind.READ)
def check_app_status(db: State, app_name: str) -> str:
    """Checks detailed information about a specific app. Shows its permissions and background data usage settings.

    Args:
        app_name: The name of the app, such as 'messaging'.
    """
    granted = _granted(db, app_name)
    if granted is None:
        return f"App '{app_name}' not found on this phone."
    lines = [f"Status for App: {app_name}"]
    if granted:
        lines.append(" - Permissions Granted:")
        lines.extend(f"   - {p}" for p in granted)
    else:
        lines.append(" - Permissions: None granted.")
    return "\n".join(lines)


@tool(ToolKind.READ)
def check_app_permissions(db: State, app_name: str) -> str:
    """Checks what permissions a specific app currently has. Shows if the app has access to features like storage, camera, location, etc.

    Args:
        app_name: The name of the app, such as 'messaging'.
    """
    granted = _granted(db, app_name)
    if granted is None:
        return f"App '{app_name}' not found on this phone."
    if not granted:
        return f"App '{app_name}' currently has no permissions granted."
    return f"App '{app_name}' has permission for: {', '.join(granted)}."


@tool(ToolKind.READ)
def run_speed_test(db: State) -> str:
    """Measures your current internet connection speed (download speed). Provides information about connection quality and what activities it can support."""
    speed, description = model.speed_test(db)
    if speed is None:
        return f"Speed test failed: {description}."
    advice = {
        "Very Poor": "Connection is very slow. Basic web browsing might be difficult.",
        "Poor": "Connection is slow. Web browsing may be sluggish, streaming difficult.",
        "Fair": "Connection is okay for web browsing and some standard definition streaming.",
        "Good": "Connection is good for most activities, including HD streaming.",
        "Excellent": "Connection is very fast.",
    }[description]
    return f"Speed Test Result: {speed:.2f} Mbps ({description}). {advice}"


@tool(ToolKind.READ)
def can_send_mms(db: State) -> str:
    """Checks if the default messaging app can send MMS messages."""
    if model.can_send_mms(db):
        return "Your messaging app can send MMS messages."
    return "Your messaging app cannot send MMS messages."


@tool(ToolKind.READ)
def check_payment_request(db: State) -> str:
    """Checks if the agent has sent you a payment request."""
    bill = model.pending_payment_request(db)
    if bill is None:
        return "No payment request has been made."
    return f"You have a payment request for bill {bill['bill_id']} of {bill['total_due']} USD."


# -- changing ---------------------------------------------------------------------------------------


def set_airplane_mode(db: State, on: bool) -> None:
    """Switch airplane mode; either way the Wi-Fi link drops and the network is searched again;
    turning it on also disconnects the VPN."""
    phone = model.edit_device(db)
    if phone["airplane_mode"] == on:
        return
    phone["airplane_mode"] = on
    if not on:
        phone["network_connection_status"] = NetworkStatus.SEARCHING.value
    phone["wifi_connected"] = False
    phone["wifi_ssid"] = None
    phone["wifi_signal_strength"] = SignalStrength.NONE.value
    if on and phone["vpn_connected"]:
        phone["vpn_connected"] = False
        phone["vpn_details"] = None
    model.network_search(db)


@tool(ToolKind.WRITE)
def toggle_airplane_mode(db: State) -> str:
    """Toggles Airplane Mode ON or OFF. When ON, it disconnects all wireless communications including cellular, Wi-Fi, and Bluetooth."""
    on = not model.device(db)["airplane_mode"]
    set_airplane_mode(db, on)
    return _with_bar(db, f"Airplane Mode is now {_on_off(on)}.")


@tool(ToolKind.WRITE)
def set_network_mode_preference(db: State, mode: NetworkMode) -> str:
    """Changes the type of cellular network your phone prefers to connect to (e.g., 5G, LTE/4G, 3G). Higher-speed networks (LTE/5G) provide faster data but may use more battery.

    Args:
        mode: The network mode preference: '4g_5g_preferred', '4g_only', '3g_only' or '2g_only'.
    """
    if mode not in NETWORK_MODES:
        return _with_bar(
            db,
            f"Failed to set network mode: '{mode}' is not a valid option. Please use one of: {', '.join(NETWORK_MODES)}",
        )
    model.edit_device(db)["network_mode_preference"] = mode
    model.network_search(db)
    return _with_bar(db, f"Preferred Network Mode set to: {mode}")


@tool(ToolKind.WRITE)
def reseat_sim_card(db: State) -> str:
    """Simulates removing and reinserting your SIM card. This can help resolve recognition issues."""
    model.edit_device(db)["sim_card_missing"] = False
    model.network_search(db)
    return _with_bar(db, "SIM card re-seated successfully.")


@tool(ToolKind.WRITE)
def toggle_data(db: State) -> str:
    """Toggles your phone's mobile data connection ON or OFF. Controls whether your phone can use cellular data for internet access when Wi-Fi is unavailable."""
    phone = model.edit_device(db)
    phone["data_enabled"] = not phone["data_enabled"]
    model.network_search(db)
    return _with_bar(db, f"Mobile Data is now {_on_off(phone['data_enabled'])}.")


@tool(ToolKind.WRITE)
def toggle_roaming(db: State) -> str:
    """Toggles Data Roaming ON or OFF. When ON, your phone can use data networks in areas outside your carrier's coverage."""
    phone = model.edit_device(db)
    phone["roaming_enabled"] = not phone["roaming_enabled"]
    model.network_search(db)
    return _with_bar(db, f"Data Roaming is now {_on_off(phone['roaming_enabled'])}.")


@tool(ToolKind.WRITE)
def toggle_data_saver_mode(db: State) -> str:
    """Toggles Data Saver mode ON or OFF. When ON, it reduces data usage, which may affect data speed."""
    phone = model.edit_device(db)
    phone["data_saver_mode"] = not phone["data_saver_mode"]
    return _with_bar(db, f"Data Saver Mode is now {_on_off(phone['data_saver_mode'])}.")


@tool(ToolKind.WRITE)
def set_apn_settings(db: State, apn_settings: ApnSettingsArgument) -> str:
    """Sets the APN settings for the phone.

    Args:
        apn_settings: The APN settings: apn_name ('internet' or 'broken'), mms_apn, mmsc_url, mms_proxy, mms_port.
    """
    try:
        settings = ApnSettings.model_validate(apn_settings)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'apn_settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ToolError(f"invalid APN settings: {problems}") from exc
    model.edit_device(db)["active_apn_settings"] = settings.model_dump(mode="json")
    model.network_search(db)
    return _with_bar(db, f"APN settings set to: {settings.apn_name}")


@tool(ToolKind.WRITE)
def reset_apn_settings(db: State) -> str:
    """Resets your APN settings to the default settings."""
    model.edit_device(db)["active_apn_settings"]["reset_at_reboot"] = True
    model.network_search(db)
    return _with_bar(db, "APN settings will reset at reboot.")


@tool(ToolKind.WRITE)
def toggle_wifi(db: State) -> str:
    """Toggles your phone's Wi-Fi radio ON or OFF. Controls whether your phone can discover and connect to wireless networks for internet access."""
    if model.device(db)["airplane_mode"]:
        return _with_bar(db, "Cannot change Wi-Fi settings while Airplane Mode is ON.")
    phone = model.edit_device(db)
    phone["wifi_enabled"] = not phone["wifi_enabled"]
    if not phone["wifi_enabled"]:
        phone["wifi_connected"] = False
        phone["wifi_ssid"] = None
        phone["wifi_signal_strength"] = SignalStrength.NONE.value
    return _with_bar(db, f"Wi-Fi is now {_on_off(phone['wifi_enabled'])}.")


@tool(ToolKind.WRITE)
def toggle_wifi_calling(db: State) -> str:
    """Toggles Wi-Fi Calling ON or OFF. This feature allows you to make and receive calls over Wi-Fi instead of the cellular network, which can help in areas with weak cellular signal."""
    phone = model.edit_device(db)
    phone["wifi_calling_enabled"] = not phone["wifi_calling_enabled"]
    return _with_bar(db, f"Wi-Fi Calling is now {_on_off(phone['wifi_calling_enabled'])}.")


@tool(ToolKind.WRITE)
def connect_vpn(db: State) -> str:
    """Connects to your VPN (Virtual Private Network)."""
    if model.device(db)["vpn_connected"]:
        return "VPN already connected."
    phone = model.edit_device(db)
    phone["vpn_connected"] = True
    phone["vpn_details"] = dict(DEFAULT_VPN)
    return _with_bar(db, "VPN connected successfully.")


@tool(ToolKind.WRITE)
def disconnect_vpn(db: State) -> str:
    """Disconnects any active VPN (Virtual Private Network) connection. Stops routing your internet traffic through a VPN server, which might affect connection speed or access to content."""
    if not model.device(db)["vpn_connected"]:
        return _with_bar(db, "No active VPN connection to disconnect.")
    phone = model.edit_device(db)
    phone["vpn_connected"] = False
    phone["vpn_details"] = None
    return _with_bar(db, "VPN disconnected successfully.")


@tool(ToolKind.WRITE)
def grant_app_permission(db: State, app_name: str, permission: str) -> str:
    """Gives a specific permission to an app (like access to storage, camera, or location). Required for some app functions to work properly.

    Args:
        app_name: The name of the app to grant the permission to.
        permission: The permission to grant, should be lowercase.
    """
    apps = model.device(db)["app_statuses"]
    permission = permission.lower()
    if app_name not in apps:
        return _with_bar(db, f"Error. App '{app_name}' not found. Cannot grant permission.")
    if permission not in apps[app_name]["permissions"]:
        available = list(apps[app_name]["permissions"])
        return _with_bar(
            db,
            f"Error. Permission '{permission}' not tracked for app '{app_name}', available permissions: {available}",
        )
    model.edit_device(db)["app_statuses"][app_name]["permissions"][permission] = True
    return _with_bar(db, f"Success. Permission '{permission}' granted to app '{app_name}'.")


@tool(ToolKind.WRITE)
def reboot_device(db: State) -> str:
    """Restarts your phone completely. This can help resolve many temporary software glitches by refreshing all running services and connections."""
    phone = model.edit_device(db)
    lines = []
    if phone["active_apn_settings"].get("reset_at_reboot"):
        lines.append("Resetting APN settings...")
        phone["active_apn_settings"] = ApnSettings().model_dump(mode="json")
    lines.append("Restarting network services...")
    phone["network_connection_status"] = NetworkStatus.SEARCHING.value
    model.network_search(db)
    return _with_bar(db, "\n".join(lines))


@tool(ToolKind.WRITE)
def make_payment(db: State) -> str:
    """Makes a payment for the bill that the agent has sent you."""
    bill = model.pending_payment_request(db)
    if bill is None:
        return "You do not have a payment request."
    db["bills"].edit(bill["bill_id"])["status"] = BillStatus.PAID.value
    return f"Payment of {bill['total_due']} USD has been made for bill {bill['bill_id']}."


USER_TOOL_FUNCTIONS = [
    check_status_bar,
    check_network_status,
    check_network_mode_preference,
    set_network_mode_preference,
    run_speed_test,
    toggle_airplane_mode,
    check_sim_status,
    reseat_sim_card,
    toggle_data,
    toggle_roaming,
    check_data_restriction_status,
    toggle_data_saver_mode,
    check_apn_settings,
    set_apn_settings,
    reset_apn_settings,
    check_wifi_status,
    toggle_wifi,
    check_wifi_calling_status,
    toggle_wifi_calling,
    check_vpn_status,
    connect_vpn,
    disconnect_vpn,
    check_installed_apps,
    check_app_status,
    check_app_permissions,
    grant_app_permission,
    can_send_mms,
    reboot_device,
    check_payment_request,
    make_payment,
]
