"""Typed records of the telecom domain (τ³-bench compatible field names and values).

Agent side: ``plans``, ``devices``, ``lines``, ``customers``, ``bills`` (the carrier's account data).
User side: the user's phone (``device``) and their surroundings (``surroundings``: who and where they
are, the signal of each network technology there). Records are validated with these models and
stored as their JSON dump (dates as ISO strings, optional fields as ``null``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

TODAY = dt.date(2025, 2, 25)  # "The current time is 2025-02-25 12:08:00 EST." (the policy)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


# -- agent side ---------------------------------------------------------------------------------


class LineStatus(StrEnum):
    ACTIVE = "Active"
    SUSPENDED = "Suspended"
    PENDING_ACTIVATION = "Pending Activation"
    CLOSED = "Closed"


class BillStatus(StrEnum):
    DRAFT = "Draft"
    ISSUED = "Issued"
    PAID = "Paid"
    OVERDUE = "Overdue"
    AWAITING_PAYMENT = "Awaiting Payment"
    DISPUTED = "Disputed"


class AccountStatus(StrEnum):
    ACTIVE = "Active"
    SUSPENDED = "Suspended"
    PENDING_VERIFICATION = "Pending Verification"
    CLOSED = "Closed"


class DeviceType(StrEnum):
    PHONE = "phone"
    TABLET = "tablet"
    ROUTER = "router"
    WATCH = "watch"
    OTHER = "other"


class PaymentMethodType(StrEnum):
    CREDIT_CARD = "Credit Card"
    DEBIT_CARD = "Debit Card"
    PAYPAL = "PayPal"


class Plan(_Record):
    plan_id: str
    name: str
    data_limit_gb: float
    price_per_month: float
    data_refueling_price_per_gb: float


class Device(_Record):
    device_id: str
    device_type: DeviceType
    model: str
    imei: str | None = None
    is_esim_capable: bool
    activated: bool
    activation_date: dt.datetime | None = None
    last_esim_transfer_date: dt.datetime | None = None


class Line(_Record):
    line_id: str
    phone_number: str
    status: LineStatus
    plan_id: str
    device_id: str | None = None
    data_used_gb: float
    data_refueling_gb: float
    roaming_enabled: bool
    contract_end_date: dt.date | None = None
    last_plan_change_date: dt.date | None = None
    last_sim_replacement_date: dt.date | None = None
    suspension_start_date: dt.date | None = None


class Address(_Record):
    street: str
    city: str
    state: str
    zip_code: str


class PaymentMethod(_Record):
    method_type: PaymentMethodType
    account_number_last_4: str
    expiration_date: str


class Customer(_Record):
    customer_id: str
    full_name: str
    date_of_birth: str
    email: str
    phone_number: str
    address: Address
    account_status: AccountStatus
    payment_methods: list[PaymentMethod] = Field(default_factory=list)
    created_at: dt.datetime
    line_ids: list[str] = Field(default_factory=list)
    bill_ids: list[str] = Field(default_factory=list)
    last_extension_date: dt.date | None = None
    goodwill_credit_used_this_year: float = 0.0


class LineItem(_Record):
    description: str
    amount: float
    date: dt.date
    item_type: str


class Bill(_Record):
    bill_id: str
    customer_id: str
    period_start: dt.date
    period_end: dt.date
    issue_date: dt.date
    total_due: float
    due_date: dt.date
    line_items: list[LineItem] = Field(default_factory=list)
    status: BillStatus


AGENT_MODELS: dict[str, tuple[type[_Record], str]] = {  # table -> (model, id field)
    "plans": (Plan, "plan_id"),
    "devices": (Device, "device_id"),
    "lines": (Line, "line_id"),
    "customers": (Customer, "customer_id"),
    "bills": (Bill, "bill_id"),
}


# -- user side ----------------------------------------------------------------------------------


class SimStatus(StrEnum):
    ACTIVE = "active"
    MISSING = "missing"
    LOCKED_PIN = "locked_pin"
    LOCKED_PUK = "locked_puk"


class NetworkTechnology(StrEnum):
    NONE = "none"
    TWO_G = "2G"
    THREE_G = "3G"
    FOUR_G = "4G"
    FIVE_G = "5G"


class NetworkModePreference(StrEnum):
    FOUR_G_5G_PREFERRED = "4g_5g_preferred"
    FOUR_G_ONLY = "4g_only"
    THREE_G_ONLY = "3g_only"
    TWO_G_ONLY = "2g_only"


class SignalStrength(StrEnum):
    NONE = "none"
    POOR = "poor"
    FAIR = "fair"
    GOOD = "good"
    EXCELLENT = "excellent"


class PerformanceLevel(StrEnum):
    UNKNOWN = "unknown"
    POOR = "poor"
    FAIR = "fair"
    GOOD = "good"
    EXCELLENT = "excellent"


class NetworkStatus(StrEnum):
    CONNECTED = "connected"
    SEARCHING = "searching"
    NO_SERVICE = "no_service"
    EMERGENCY_ONLY = "emergency_only"


class ApnName(StrEnum):
    INTERNET = "internet"
    BROKEN = "broken"


class ApnSettings(_Record):
    """Access point settings: the data APN and the MMS centre (MMSC) used for picture messages."""

    apn_name: ApnName = ApnName.INTERNET
    reset_at_reboot: bool = False
    mms_apn: str | None = "mms"
    mmsc_url: str | None = "http://mms.carrier.com/mms/wapenc"
    mms_proxy: str | None = None
    mms_port: int | None = None


class VpnDetails(_Record):
    server_address: str | None = None
    protocol: str | None = None
    server_performance: PerformanceLevel = PerformanceLevel.UNKNOWN


class AppPermissions(_Record):
    sms: bool = False
    storage: bool = False
    phone: bool = False
    network: bool = False


class AppStatus(_Record):
    app_name: str
    permissions: AppPermissions = Field(default_factory=AppPermissions)


def _default_apps() -> dict[str, AppStatus]:
    return {
        "messaging": AppStatus(
            app_name="messaging", permissions=AppPermissions(sms=True, storage=True, phone=True)
        ),
        "browser": AppStatus(app_name="browser", permissions=AppPermissions(network=True, storage=True)),
    }


class PhoneDevice(_Record):
    """The user's phone: its settings and what it is connected to."""

    sim_card_status: SimStatus = SimStatus.ACTIVE
    sim_card_missing: bool = False
    airplane_mode: bool = False
    network_signal_strength: SignalStrength = SignalStrength.GOOD
    network_technology_connected: NetworkTechnology = NetworkTechnology.FIVE_G
    network_connection_status: NetworkStatus = NetworkStatus.CONNECTED
    battery_level: int = Field(80, ge=0, le=100)
    data_enabled: bool = True
    roaming_enabled: bool = False
    network_mode_preference: NetworkModePreference = NetworkModePreference.FOUR_G_5G_PREFERRED
    active_apn_settings: ApnSettings = Field(default_factory=ApnSettings)
    wifi_enabled: bool = False
    wifi_connected: bool = False
    wifi_ssid: str | None = None
    wifi_signal_strength: SignalStrength = SignalStrength.NONE
    wifi_calling_enabled: bool = False
    wifi_calling_mms_over_wifi: bool = False
    data_saver_mode: bool = False
    vpn_enabled_setting: bool = False
    vpn_connected: bool = False
    vpn_details: VpnDetails | None = None
    app_statuses: dict[str, AppStatus] = Field(default_factory=_default_apps)


def _default_signal() -> dict[str, SignalStrength]:
    return {
        "2G": SignalStrength.POOR,
        "3G": SignalStrength.FAIR,
        "4G": SignalStrength.GOOD,
        "5G": SignalStrength.EXCELLENT,
    }


class Surroundings(_Record):
    """Who the user is and where: the phone number links the phone to its line on the agent side.

    What τ³ copies from the account into the surroundings after every call (line active, roaming
    allowed, data allowance used up, pending payment request) is not stored here: the device model
    reads it from the agent tables when it needs it, so the two sides can never disagree.
    """

    name: str | None = None
    phone_number: str | None = None
    is_abroad: bool = False
    signal_strength: dict[NetworkTechnology, SignalStrength] = Field(default_factory=_default_signal)


USER_TABLE = "user"  # one table, two records: "device" and "surroundings"
AGENT_TABLES = ("bills", "customers", "devices", "lines", "plans")
TABLES = (*AGENT_TABLES, USER_TABLE)
