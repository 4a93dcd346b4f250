"""Which charger events are security-relevant, and how each reads in the security log.

The table is data: a test checks each row lands in the log. Account events
(login, lockout, password) are written by :mod:`ukscp.security.credentials`
itself, and certificate events by :mod:`ukscp.security.tls`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ukscp.events import ChargerStarted, Event, EventBus, PersonalDataDeleted
from ukscp.regulation.default_mode import DsrOverrideStarted, FirstUseChoice, ScheduleChanged
from ukscp.regulation.delay_gate import (
    RandomDelayCancelled,
    RandomDelayEnabledChanged,
    RandomDelayMaxDurationChanged,
)
from ukscp.regulation.dsr import DsrOptedOut
from ukscp.security.seclog import SecurityEventType, SecurityLog

T = SecurityEventType


def _describe(event: Event) -> str:
    fields = ", ".join(f"{key}={value}" for key, value in sorted(event.detail().items()))
    by = f" by {event.source}" if event.source else ""
    return f"{type(event).__name__}{by}: {fields}"


AUDITED: Mapping[type[Any], tuple[SecurityEventType, Callable[[Any], str]]] = MappingProxyType(
    {
        ChargerStarted: (T.STARTUP_OF_THE_DEVICE, lambda e: f"ukscp {e.version} started"),
        RandomDelayMaxDurationChanged: (
            T.RANDOM_DELAY_MAX_DURATION_CHANGED,
            lambda e: f"random delay maximum {e.old_s} s -> {e.new_s} s by {e.source}",
        ),
        RandomDelayEnabledChanged: (
            T.RANDOM_DELAY_ENABLED_CHANGED,
            lambda e: f"random delay {'enabled' if e.enabled else 'disabled'} by {e.source}",
        ),
        RandomDelayCancelled: (
            T.RANDOM_DELAY_CANCELLED,
            lambda e: (
                f"random delay of {e.duration_s} s ({e.cause}) cancelled by {e.source} "
                f"after {e.elapsed_s:.0f} s"
            ),
        ),
        DsrOptedOut: (
            T.DSR_OPTED_OUT,
            lambda e: f"owner opted out of DSR event {e.event_id} ({e.channel}, {e.amps:g} A)",
        ),
        DsrOverrideStarted: (
            T.DSR_OVERRIDDEN,
            lambda e: "owner overrides every DSR event "
            + ("until the session ends" if e.until is None else f"until {e.until.isoformat()}"),
        ),
        ScheduleChanged: (T.SCHEDULE_CHANGED, _describe),
        FirstUseChoice: (T.SCHEDULE_CHANGED, _describe),
        PersonalDataDeleted: (
            T.PERSONAL_DATA_DELETED,
            # Counts only: the record must not keep what was deleted.
            lambda e: (
                f"owner deleted {e.sessions} sessions, {e.rate_changes} rate changes, "
                f"{e.history_events} history events"
                f"{', their own back end' if e.owner_backend_forgotten else ''}"
                f" and ended {e.web_sessions} web sessions"
            ),
        ),
    }
)


def attach_security_log(bus: EventBus, seclog: SecurityLog) -> None:
    """Write every audited event published on ``bus`` to ``seclog``."""
    for kind, (record_type, describe) in AUDITED.items():

        def write(
            event: Event,
            record_type: SecurityEventType = record_type,
            describe: Callable[[Any], str] = describe,
        ) -> None:
            seclog.record(record_type, describe(event))

        bus.subscribe(kind, write)
