"""The OCPP 2.0.1 device model: the components and variables the CSMS can read and set.

2.0.1 replaces 1.6's flat configuration keys by variables of components
(part 1, "Device model"; part 2 B05-B07). The table is data: component,
variable, instance, default, how a new value is checked, its data type.
Values the CSMS sets persist in the charger's settings store
(``ocpp.v201.var.<Component>.<Variable>``) so they survive a restart.
Variables backed by another part of the charger (the security profile, the
Basic auth password, the random delay's maximum) are :class:`ExternalVariable`
hooks the client gives.

Names are matched case-insensitively (OCPP's identifier strings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ukscp.ocpp.blocks.meter_values.readings import DEFAULT_MEASURANDS, parse_measurands
from ukscp.ocpp.blocks.settings.value_checks import measurand_list, whole_number
from ukscp.ocpp.port import KeyValueStore
from ukscp.ocpp.smart_charging.caps import MAX_PERIODS, MAX_STACK_LEVEL

ACCEPTED = "Accepted"
REJECTED = "Rejected"
UNKNOWN_COMPONENT = "UnknownComponent"
UNKNOWN_VARIABLE = "UnknownVariable"
NOT_SUPPORTED_ATTRIBUTE_TYPE = "NotSupportedAttributeType"

OCPP_COMM = "OCPPCommCtrlr"
SAMPLED_DATA = "SampledDataCtrlr"
ALIGNED_DATA = "AlignedDataCtrlr"
SECURITY = "SecurityCtrlr"
TX = "TxCtrlr"
SMART_CHARGING = "SmartChargingCtrlr"
UK_RANDOM_DELAY = "UkRandomDelayCtrlr"
"""Our vendor component for regulation 11's remotely settable maximum delay."""

_STORE_PREFIX = "ocpp.v201.var."


@dataclass(frozen=True, slots=True)
class Name:
    """A variable's address: component, variable and (optional) instance."""

    component: str
    variable: str
    instance: str | None = None

    def key(self) -> tuple[str, str, str]:
        """Case-insensitive lookup key."""
        return (self.component.lower(), self.variable.lower(), (self.instance or "").lower())


HEARTBEAT_INTERVAL = Name(OCPP_COMM, "HeartbeatInterval")
MESSAGE_ATTEMPTS = Name(OCPP_COMM, "MessageAttempts", "TransactionEvent")
MESSAGE_ATTEMPT_INTERVAL = Name(OCPP_COMM, "MessageAttemptInterval", "TransactionEvent")
TX_UPDATED_INTERVAL = Name(SAMPLED_DATA, "TxUpdatedInterval")
TX_UPDATED_MEASURANDS = Name(SAMPLED_DATA, "TxUpdatedMeasurands")
ALIGNED_INTERVAL = Name(ALIGNED_DATA, "Interval")
ALIGNED_MEASURANDS = Name(ALIGNED_DATA, "Measurands")
EV_CONNECTION_TIMEOUT = Name(TX, "EVConnectionTimeOut")
SECURITY_PROFILE = Name(SECURITY, "SecurityProfile")
BASIC_AUTH_PASSWORD = Name(SECURITY, "BasicAuthPassword")
RANDOM_DELAY_MAX = Name(UK_RANDOM_DELAY, "MaxDuration")
RANDOM_DELAY_ENABLED = Name(UK_RANDOM_DELAY, "Enabled")
PROFILE_ENTRIES = Name(SMART_CHARGING, "Entries", "ChargingProfiles")


@dataclass(frozen=True, slots=True)
class Variable:
    """A variable whose value this module keeps: fixed (read-only) or stored."""

    name: Name
    default: str
    check: Callable[[str], str] | None = None  # None: read-only
    data_type: str = "string"
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class ExternalVariable:
    """A variable another part of the charger answers for.

    ``get`` None makes it write-only (SecurityCtrlr.BasicAuthPassword: never
    returned, 2.0.1 A01); ``set`` None read-only, else it returns the
    SetVariables status.
    """

    name: Name
    get: Callable[[], str] | None
    set: Callable[[str], str] | None
    data_type: str = "string"
    unit: str | None = None
    max_limit: int | None = None  # reported as its variableCharacteristics.maxLimit


VARIABLES: tuple[Variable, ...] = (
    Variable(HEARTBEAT_INTERVAL, "300", whole_number(0, 86_400), "integer", "s"),
    Variable(MESSAGE_ATTEMPTS, "3", whole_number(1, 100), "integer"),
    Variable(MESSAGE_ATTEMPT_INTERVAL, "60", whole_number(0, 86_400), "integer", "s"),
    # 1 s is allowed: regulation 9's rate "available over the network" in practice every second.
    Variable(TX_UPDATED_INTERVAL, "60", whole_number(0, 86_400), "integer", "s"),
    Variable(TX_UPDATED_MEASURANDS, ",".join(DEFAULT_MEASURANDS), measurand_list, "MemberList"),
    Variable(ALIGNED_INTERVAL, "900", whole_number(0, 86_400), "integer", "s"),
    Variable(ALIGNED_MEASURANDS, ",".join(DEFAULT_MEASURANDS), measurand_list, "MemberList"),
    Variable(EV_CONNECTION_TIMEOUT, "120", whole_number(1, 3_600), "integer", "s"),
    # Read-only: what this charger is and does.
    Variable(Name(TX, "TxStartPoint"), "EVConnected", data_type="MemberList"),
    Variable(Name(TX, "TxStopPoint"), "EVConnected", data_type="MemberList"),
    Variable(Name(TX, "StopTxOnInvalidId"), "false", data_type="boolean"),
    Variable(
        Name(SAMPLED_DATA, "TxEndedMeasurands"), "Energy.Active.Import.Register", None, "MemberList"
    ),
    Variable(Name("AuthCtrlr", "AuthorizeRemoteStart"), "false", data_type="boolean"),
    # No authorization cache: ClearCache is Rejected (a home charger has no card reader).
    Variable(Name("AuthCacheCtrlr", "Available"), "false", data_type="boolean"),
    Variable(Name("AuthCacheCtrlr", "Enabled"), "false", data_type="boolean"),
    Variable(Name(SMART_CHARGING, "Enabled"), "true", data_type="boolean"),
    Variable(Name(SMART_CHARGING, "RateUnit"), "A,W", data_type="MemberList"),
    # What SetChargingProfile is held to (the Entries of ChargingProfiles come from the client).
    Variable(Name(SMART_CHARGING, "PeriodsPerSchedule"), str(MAX_PERIODS), data_type="integer"),
    Variable(Name(SMART_CHARGING, "ProfileStackLevel"), str(MAX_STACK_LEVEL), data_type="integer"),
    Variable(Name("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"), "100", None, "integer"),
    Variable(Name("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables"), "100", None, "integer"),
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One variable as GetBaseReport lists it."""

    name: Name
    value: str | None  # None: write-only
    mutability: str  # ReadOnly, ReadWrite, WriteOnly
    data_type: str
    unit: str | None
    max_limit: int | None = None


class DeviceModel:
    """The variables, their values and their changes."""

    def __init__(
        self,
        store: KeyValueStore,
        external: Iterable[ExternalVariable] = (),
        *,
        on_change: Callable[[Name], None] | None = None,
    ) -> None:
        self._store = store
        self._own = {v.name.key(): v for v in VARIABLES}
        self._external = {v.name.key(): v for v in external}
        self._components = {key[0] for key in [*self._own, *self._external]}
        self._on_change = on_change

    # -- typed reads for the client ------------------------------------------------------

    def value(self, name: Name) -> str:
        """The value of a variable of :data:`VARIABLES` (stored if set, else its default)."""
        variable = self._own[name.key()]
        if variable.check is None:
            return variable.default
        stored: Any = self._store.get(self._store_key(variable.name))
        return variable.default if stored is None else str(stored)

    def int_value(self, name: Name) -> int:
        """An integer variable's value."""
        return int(self.value(name))

    def measurands(self, name: Name) -> tuple[str, ...]:
        """A measurand-list variable's value."""
        return parse_measurands(self.value(name))

    def set_value(self, name: Name, value: str) -> None:
        """Set a writable variable locally (e.g. the heartbeat interval BootNotification gives)."""
        variable = self._own[name.key()]
        if variable.check is None:
            raise ValueError(f"{name.component}.{name.variable} is read-only")
        self._store.set(self._store_key(variable.name), variable.check(value))
        if self._on_change is not None:
            self._on_change(variable.name)

    # -- the CSMS's requests -------------------------------------------------------------

    def get(self, name: Name, attribute_type: str = "Actual") -> tuple[str, str | None]:
        """GetVariables for one variable: ``(attributeStatus, attributeValue)``."""
        problem = self._unknown(name, attribute_type)
        if problem is not None:
            return problem, None
        external = self._external.get(name.key())
        if external is not None:
            if external.get is None:
                return REJECTED, None  # write-only
            return ACCEPTED, external.get()
        return ACCEPTED, self.value(name)

    def set(self, name: Name, value: str, attribute_type: str = "Actual") -> str:
        """SetVariables for one variable: its attributeStatus."""
        problem = self._unknown(name, attribute_type)
        if problem is not None:
            return problem
        external = self._external.get(name.key())
        if external is not None:
            return REJECTED if external.set is None else external.set(value)
        variable = self._own[name.key()]
        if variable.check is None:
            return REJECTED
        try:
            self.set_value(variable.name, value)
        except ValueError:
            return REJECTED
        return ACCEPTED

    def report(self) -> Iterator[Entry]:
        """Every variable, for GetBaseReport (write-only ones without their value)."""
        for variable in VARIABLES:
            mutability = "ReadOnly" if variable.check is None else "ReadWrite"
            yield Entry(
                variable.name,
                self.value(variable.name),
                mutability,
                variable.data_type,
                variable.unit,
            )
        for external in self._external.values():
            if external.get is None:
                mutability, value = "WriteOnly", None
            else:
                mutability = "ReadOnly" if external.set is None else "ReadWrite"
                value = external.get()
            yield Entry(
                external.name,
                value,
                mutability,
                external.data_type,
                external.unit,
                external.max_limit,
            )

    # -- internals -----------------------------------------------------------------------

    def _unknown(self, name: Name, attribute_type: str) -> str | None:
        if name.component.lower() not in self._components:
            return UNKNOWN_COMPONENT
        if name.key() not in self._own and name.key() not in self._external:
            return UNKNOWN_VARIABLE
        if attribute_type != "Actual":
            # Only the actual value exists here: no Target, MinSet or MaxSet attributes.
            return NOT_SUPPORTED_ATTRIBUTE_TYPE
        return None

    @staticmethod
    def _store_key(name: Name) -> str:
        suffix = f".{name.instance}" if name.instance else ""
        return f"{_STORE_PREFIX}{name.component}.{name.variable}{suffix}"
