"""The OCPP 1.6 configuration keys (GetConfiguration / ChangeConfiguration).

The table of keys is data: name, read-only or not, default, how a new value is
checked. Writable values the CSMS sets persist in the charger's settings store
(``ocpp.v16.config.<Key>``) so they survive a restart. Keys backed by another
part of the charger (the security profile, the authorization key, the random
delay's maximum) are :class:`ExternalKey` hooks given by the client.

Key names are matched case-insensitively (OCPP's CiString).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ukscp.ocpp.blocks.meter_values.readings import DEFAULT_MEASURANDS, parse_measurands
from ukscp.ocpp.blocks.settings.value_checks import measurand_list, whole_number
from ukscp.ocpp.port import KeyValueStore
from ukscp.ocpp.smart_charging.caps import MAX_PERIODS, MAX_PROFILES, MAX_STACK_LEVEL

ACCEPTED = "Accepted"
REJECTED = "Rejected"
REBOOT_REQUIRED = "RebootRequired"
NOT_SUPPORTED = "NotSupported"

HEARTBEAT_INTERVAL = "HeartbeatInterval"
METER_VALUE_SAMPLE_INTERVAL = "MeterValueSampleInterval"
CLOCK_ALIGNED_DATA_INTERVAL = "ClockAlignedDataInterval"
METER_VALUES_SAMPLED_DATA = "MeterValuesSampledData"
METER_VALUES_ALIGNED_DATA = "MeterValuesAlignedData"
CONNECTION_TIMEOUT = "ConnectionTimeOut"
TRANSACTION_MESSAGE_ATTEMPTS = "TransactionMessageAttempts"
TRANSACTION_MESSAGE_RETRY_INTERVAL = "TransactionMessageRetryInterval"
AUTHORIZATION_KEY = "AuthorizationKey"
SECURITY_PROFILE = "SecurityProfile"
UK_RANDOM_DELAY_MAX_DURATION = "UkRandomDelayMaxDuration"
UK_RANDOM_DELAY_ENABLED = "UkRandomDelayEnabled"

_STORE_PREFIX = "ocpp.v16.config."
MAX_VALUE_CHARS = 500  # ChangeConfiguration.value is a CiString500


@dataclass(frozen=True, slots=True)
class KeyDef:
    """A key whose value this module keeps: fixed (read-only) or stored."""

    name: str
    default: str
    check: Callable[[str], str] | None = None  # None: read-only

    @property
    def readonly(self) -> bool:
        """True when the CSMS cannot change it."""
        return self.check is None


@dataclass(frozen=True, slots=True)
class ExternalKey:
    """A key another part of the charger answers for.

    ``get`` None makes it write-only: never returned by GetConfiguration (the
    OCPP security whitepaper's rule for AuthorizationKey). ``set`` None makes it
    read-only; otherwise it returns the ChangeConfiguration status.
    """

    name: str
    get: Callable[[], str] | None
    set: Callable[[str], str] | None


KEYS: tuple[KeyDef, ...] = (
    KeyDef(HEARTBEAT_INTERVAL, "300", whole_number(0, 86_400)),
    KeyDef(METER_VALUE_SAMPLE_INTERVAL, "60", whole_number(0, 86_400)),
    KeyDef(CLOCK_ALIGNED_DATA_INTERVAL, "900", whole_number(0, 86_400)),
    KeyDef(METER_VALUES_SAMPLED_DATA, ",".join(DEFAULT_MEASURANDS), measurand_list),
    KeyDef(METER_VALUES_ALIGNED_DATA, ",".join(DEFAULT_MEASURANDS), measurand_list),
    KeyDef(CONNECTION_TIMEOUT, "120", whole_number(1, 3_600)),
    KeyDef(TRANSACTION_MESSAGE_ATTEMPTS, "3", whole_number(1, 100)),
    KeyDef(TRANSACTION_MESSAGE_RETRY_INTERVAL, "60", whole_number(0, 86_400)),
    # Read-only: what this charger is and does.
    KeyDef("NumberOfConnectors", "1"),
    KeyDef("AuthorizeRemoteTxRequests", "false"),
    KeyDef("LocalAuthorizeOffline", "true"),
    KeyDef("LocalPreAuthorize", "true"),
    KeyDef("StopTransactionOnEVSideDisconnect", "true"),
    KeyDef("UnlockConnectorOnEVSideDisconnect", "true"),
    # No authorization cache: ClearCache is Rejected (a home charger has no card reader).
    KeyDef("AuthorizationCacheEnabled", "false"),
    # The owner's charger keeps charging if the CSMS does not know the owner's tag.
    KeyDef("StopTransactionOnInvalidId", "false"),
    KeyDef("StopTxnSampledData", ""),
    KeyDef("StopTxnAlignedData", ""),
    KeyDef("MeterValuesSampledDataMaxLength", str(len(DEFAULT_MEASURANDS))),
    KeyDef("MeterValuesAlignedDataMaxLength", str(len(DEFAULT_MEASURANDS))),
    KeyDef("ConnectorPhaseRotation", "0.Unknown"),
    KeyDef("GetConfigurationMaxKeys", "100"),
    KeyDef("ResetRetries", "0"),
    # Smart charging (section 9.4): what SetChargingProfile is held to.
    KeyDef("ChargeProfileMaxStackLevel", str(MAX_STACK_LEVEL)),
    KeyDef("ChargingScheduleAllowedChargingRateUnit", "Current,Power"),
    KeyDef("ChargingScheduleMaxPeriods", str(MAX_PERIODS)),
    KeyDef("MaxChargingProfilesInstalled", str(MAX_PROFILES)),
)


class Configuration:
    """The configuration keys, their values and their changes."""

    def __init__(
        self,
        store: KeyValueStore,
        external: Iterable[ExternalKey] = (),
        *,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._defs = {key.name.lower(): key for key in KEYS}
        self._external = {key.name.lower(): key for key in external}
        self._on_change = on_change

    # -- typed reads for the client ------------------------------------------------------

    def value(self, name: str) -> str:
        """The value of a key of :data:`KEYS` (stored if set, else its default)."""
        key = self._defs[name.lower()]
        if key.readonly:
            return key.default
        stored: Any = self._store.get(_STORE_PREFIX + key.name)
        return key.default if stored is None else str(stored)

    def int_value(self, name: str) -> int:
        """An integer key's value."""
        return int(self.value(name))

    def measurands(self, name: str) -> tuple[str, ...]:
        """A measurand-list key's value."""
        return parse_measurands(self.value(name))

    def set_value(self, name: str, value: str) -> None:
        """Set a writable key locally (e.g. the heartbeat interval BootNotification gives)."""
        key = self._defs[name.lower()]
        if key.check is None:
            raise ValueError(f"{key.name} is read-only")
        self._store.set(_STORE_PREFIX + key.name, key.check(value))
        if self._on_change is not None:
            self._on_change(key.name)

    # -- the CSMS's requests -------------------------------------------------------------

    def listing(self, names: Sequence[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: ``(configuration_key entries, unknown_key names)``.

        With no names, every readable key. A write-only key is never listed,
        not even when asked for by name.
        """
        if not names:
            wanted = [key.name for key in KEYS] + [key.name for key in self._external.values()]
        else:
            wanted = list(dict.fromkeys(names))
        known: list[dict[str, Any]] = []
        unknown: list[str] = []
        for name in wanted:
            entry = self._entry(name)
            if entry is None:
                if name.lower() not in self._external:
                    unknown.append(name)
                continue
            known.append(entry)
        return known, unknown

    def change(self, name: str, value: str) -> str:
        """ChangeConfiguration: Accepted, Rejected, RebootRequired or NotSupported."""
        lowered = name.lower()
        if len(value) > MAX_VALUE_CHARS:
            return REJECTED
        external = self._external.get(lowered)
        if external is not None:
            return REJECTED if external.set is None else external.set(value)
        key = self._defs.get(lowered)
        if key is None:
            return NOT_SUPPORTED
        if key.check is None:
            return REJECTED
        try:
            self.set_value(key.name, value)
        except ValueError:
            return REJECTED
        return ACCEPTED

    def _entry(self, name: str) -> dict[str, Any] | None:
        lowered = name.lower()
        external = self._external.get(lowered)
        if external is not None:
            if external.get is None:
                return None  # write-only
            return {"key": external.name, "readonly": external.set is None, "value": external.get()}
        key = self._defs.get(lowered)
        if key is None:
            return None
        return {"key": key.name, "readonly": key.readonly, "value": self.value(key.name)}
