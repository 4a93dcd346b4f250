"""The charger as the API (and later OCPP) sees it: a narrow facade over the modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from ukscp.clock import Clock
from ukscp.evse.controller import EvseController
from ukscp.firmware.install import FirmwareInstaller
from ukscp.firmware.updates import UpdateChecker
from ukscp.hardware.protocols import EnergyMeter, EvSimulator, Meter
from ukscp.limits import Arbiter, ArbitratedLimit, LimitSource
from ukscp.limits.ems import EMS_SLOT, EmsCause, ems_limit
from ukscp.metering import (
    EARLIEST_QUERY_TIME,
    MeteringStore,
    Resolution,
    Sample,
    check_query_time,
)
from ukscp.personal_data import PersonalData
from ukscp.regulation.default_mode import DefaultMode
from ukscp.regulation.delay_gate import RandomDelayGate
from ukscp.regulation.dsr import DsrChannel, DsrLimits
from ukscp.regulation.schedule import schedule_from_json, windows_from_json
from ukscp.security.integrity_monitor import IntegrityMonitor
from ukscp.security.secure_boot import secure_boot_state
from ukscp.security.tamper import TamperGuard
from ukscp.web.schemas import (
    DeletedView,
    DsrEventView,
    DsrView,
    FirmwareView,
    HistoryRowView,
    HistoryView,
    IntegrityCheckView,
    IntegrityView,
    LimitView,
    RandomDelayView,
    ScheduleView,
    SessionRecordView,
    SessionView,
    StatusView,
    UpdateCheckView,
    UpdatesView,
)

# How far back a history query looks by default, and at most, per resolution: enough
# to draw any chart, small enough that one request cannot stall the charger.
DEFAULT_SPAN: dict[str, timedelta] = {
    "1s": timedelta(hours=1),
    "1m": timedelta(days=1),
    "1h": timedelta(days=7),
    "1d": timedelta(days=400),
}
MAX_SPAN: dict[str, timedelta] = {
    "1s": timedelta(hours=48),
    "1m": timedelta(days=31),
    "1h": timedelta(days=400),
    "1d": timedelta(days=800),
}

OWNER = "owner"  # the source of actions taken on the local page or API


def _override_end(until: datetime | None, duration_s: int | None) -> datetime | timedelta | None:
    return timedelta(seconds=duration_s) if duration_s is not None else until


def limit_view(limit: ArbitratedLimit) -> LimitView:
    """The API's view of an arbitrated limit."""
    return LimitView(amps=limit.amps, phases=limit.phases, source=limit.source, reason=limit.reason)


EMS_DSR_EVENT = "ems"
"""The DSR event a local energy manager relays (one at a time: its limit)."""


class Charger:
    """Implements :class:`ukscp.web.api.ChargerService`."""

    def __init__(
        self,
        clock: Clock,
        controller: EvseController,
        arbiter: Arbiter,
        gate: RandomDelayGate,
        default_mode: DefaultMode,
        metering: MeteringStore,
        integrity: IntegrityMonitor,
        tamper: TamperGuard,
        updates: UpdateChecker | None,
        meter: Meter,
        sim: EvSimulator | None,
        firmware: FirmwareInstaller | None = None,
        *,
        personal_data: PersonalData,
        dsr: DsrLimits,
        read_meter: Callable[[], Sample | None] | None = None,
    ) -> None:
        self._clock = clock
        self._controller = controller
        self._arbiter = arbiter
        self._gate = gate
        self._default_mode = default_mode
        self._metering = metering
        self._integrity = integrity
        self._tamper = tamper
        self._updates = updates
        self._meter = meter
        self._sim = sim
        self._firmware = firmware
        self._personal_data = personal_data
        self._dsr = dsr
        # A reading taken for each history query, so it shows what was measured up to
        # the moment of the request (None: the latest sample is as far as it goes).
        self._read_meter = read_meter

    @property
    def sim(self) -> EvSimulator | None:
        """The simulator driver's controls, or None when the driver has none."""
        return self._sim

    def status(self) -> StatusView:
        """What the charger is doing now."""
        evse = self._controller.status()
        session = None
        if evse.session_id is not None and evse.session_started_at is not None:
            session = SessionView(
                id=evse.session_id,
                started_at=evse.session_started_at,
                energy_wh=round(evse.session_energy_wh, 3),
            )
        register = (
            self._meter.energy_import_wh() if isinstance(self._meter, EnergyMeter) else 0.0
        )
        return StatusView(
            time=self._clock.now(),
            state=evse.state.value,
            ev_connected=evse.ev_connected,
            contactor_closed=evse.contactor_closed,
            offered_current_a=evse.offered_a,
            phases=evse.phases,
            measured_current_a=round(evse.current_a or 0.0, 3),
            power_w=round(evse.power_w, 1),
            energy_import_wh=round(register, 3),
            session=session,
            limit=limit_view(self._arbiter.current),
            random_delay=self.random_delay(),
            charging_allowed_by_schedule=self._default_mode.charging_allowed(),
            first_use_pending=self._default_mode.first_use_pending,
            tamper_alarm_since=self._tamper.alarm_since,
        )

    def acknowledge_tamper(self) -> StatusView:
        """The owner clears the tamper alarm (TamperNotCleared while still open)."""
        self._tamper.acknowledge()
        return self.status()

    def schedule(self) -> ScheduleView:
        """Charging hours, first use, boost and DSR override."""
        return ScheduleView.model_validate(self._default_mode.status().to_json())

    def set_schedule(self, body: dict[str, Any]) -> ScheduleView:
        """The owner sets the charging hours; ValueError in words if they make no sense."""
        self._default_mode.apply_schedule(schedule_from_json(body))
        return self.schedule()

    def first_use(self, choice: str, windows: list[dict[str, Any]] | None) -> ScheduleView:
        """The owner's first-use choice; FirstUseNotPending once it was made."""
        parsed = None if windows is None else windows_from_json(windows)
        self._default_mode.first_use(choice, parsed)
        return self.schedule()

    def boost(self, until: datetime | None, duration_s: int | None) -> ScheduleView:
        """Charge now: until a time, for a duration, or for the rest of the session."""
        self._default_mode.boost(_override_end(until, duration_s))
        return self.schedule()

    def override_dsr(self, until: datetime | None, duration_s: int | None) -> ScheduleView:
        """The owner overrides DSR events: until a time, for a duration, or the session."""
        self._default_mode.override_dsr(_override_end(until, duration_s))
        return self.schedule()

    def opt_out_of_dsr_event(self, event_id: str) -> ScheduleView:
        """The owner opts out of one DSR event in force (UnknownEvent if none has that id)."""
        self._dsr.opt_out(event_id)
        return self.schedule()

    def dsr(self) -> DsrView:
        """The DSR events known, in force first, and the owner's override of them all."""
        override = self._default_mode.status().dsr_override
        return DsrView(
            override_until=None if override is None else override.until,
            override_until_session_end=override is not None and override.until_session_end,
            overridden=self._default_mode.dsr_overridden(),
            events=[
                DsrEventView(
                    id=event.event_id,
                    source=event.channel,
                    amps=event.amps,
                    reason=event.reason,
                    started_at=event.started_at,
                    until=event.until,
                    ended_at=event.ended_at,
                    active=event.active,
                    opted_out=event.opted_out,
                )
                for event in self._dsr.known_events()
            ],
        )

    def cancel_dsr_override(self) -> ScheduleView:
        """End the owner's DSR override."""
        self._default_mode.cancel_dsr_override()
        return self.schedule()

    def meter_history(
        self, start: datetime | None, end: datetime | None, resolution: Resolution
    ) -> HistoryView:
        """Meter history; by default the last day (1 s: the last hour).

        The bucket in progress is marked partial, measured up to this request.
        """
        end, start = self._period(start, end, resolution)
        rows = self._metering.history(start, end, resolution, reading=self._reading())
        return HistoryView(
            start=start,
            end=end,
            resolution=resolution,
            rows=[HistoryRowView.model_validate(asdict(row)) for row in rows],
        )

    def meter_csv(
        self, start: datetime | None, end: datetime | None, resolution: Resolution
    ) -> Iterator[str]:
        """CSV lines of the meter history, streamed."""
        end, start = self._period(start, end, resolution)
        return self._metering.export_csv(start, end, resolution, reading=self._reading())

    def _reading(self) -> Sample | None:
        return None if self._read_meter is None else self._read_meter()

    def sessions(self, limit: int, offset: int) -> list[SessionRecordView]:
        """Charging sessions, newest first, with their rate changes."""
        return [
            SessionRecordView.model_validate(asdict(record))
            for record in self._metering.sessions(limit, offset)
        ]

    async def delete_personal_data(self, username: str) -> DeletedView:
        """Delete the owner's personal data in one action (:mod:`ukscp.personal_data`);
        the security log records the counts."""
        erased = await self._personal_data.erase(username, by=OWNER)
        return DeletedView.model_validate(asdict(erased))

    def integrity(self) -> IntegrityView:
        """The latest software integrity check and the secure-boot state."""
        report = self._integrity.last
        last = None
        if report is not None:
            last = IntegrityCheckView(
                checked_at=report.checked_at,
                ok=report.ok,
                signature_valid=report.signature_valid,
                summary=report.summary(),
                changed=list(report.changed),
                added=list(report.added),
                missing=list(report.missing),
            )
        return IntegrityView(
            configured=self._integrity.configured,
            last_check=last,
            secure_boot=secure_boot_state(),
        )

    def updates(self) -> UpdatesView:
        """Whether update checks are provisioned, and the latest result."""
        firmware = (
            None
            if self._firmware is None
            else FirmwareView.model_validate(self._firmware.view())
        )
        if self._updates is None:
            return UpdatesView(
                configured=False, repository_url=None, last_check=None, firmware=firmware
            )
        last = self._updates.last
        return UpdatesView(
            configured=True,
            repository_url=self._updates.repository_url,
            last_check=None if last is None else UpdateCheckView.model_validate(last.as_dict()),
            firmware=firmware,
        )

    async def check_for_updates(self) -> UpdatesView:
        """Check for a newer release now (the owner asked)."""
        if self._updates is not None:
            await self._updates.check()
        return self.updates()

    def _period(
        self, start: datetime | None, end: datetime | None, resolution: Resolution
    ) -> tuple[datetime, datetime]:
        # Checked before any arithmetic: year 1 or 9999 would overflow it.
        if start is not None:
            check_query_time("from", start)
        if end is not None:
            check_query_time("to", end)
        end = end or self._clock.now()
        start = start or max(end - DEFAULT_SPAN[resolution], EARLIEST_QUERY_TIME)
        if start >= end:
            raise ValueError(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
        if end - start > MAX_SPAN[resolution]:
            raise ValueError(
                f"at {resolution} resolution a query may span at most {MAX_SPAN[resolution]}; "
                "choose a coarser resolution or a shorter period"
            )
        return end, start

    def cancel_boost(self) -> ScheduleView:
        """End the boost; the charging hours apply again."""
        self._default_mode.cancel_boost()
        return self.schedule()

    def random_delay(self) -> RandomDelayView:
        """The randomised delay's settings and countdown."""
        return RandomDelayView.model_validate(asdict(self._gate.status()))

    def enable_random_delay(self) -> RandomDelayView:
        """The owner switches the randomised delay on."""
        self._gate.enable(source=OWNER)
        return self.random_delay()

    def disable_random_delay(self) -> RandomDelayView:
        """The owner switches the randomised delay off (a running one ends now)."""
        self._gate.disable(source=OWNER)
        return self.random_delay()

    def cancel_random_delay(self) -> RandomDelayView:
        """The owner overrides the running delay: the held change applies now."""
        self._gate.cancel(source=OWNER)
        return self.random_delay()

    def set_random_delay_max(self, seconds: int) -> RandomDelayView:
        """The owner sets the maximum delay (0..1800 s)."""
        self._gate.set_max_duration(seconds, source=OWNER)
        return self.random_delay()

    def set_ems_limit(self, amps: float, cause: EmsCause | None = None) -> LimitView:
        """Set the local energy manager's limit, with the cause it declares (none: delayed).

        A ``dsr`` limit is a DSR event of the energy manager's (the owner sees it and may
        opt out of it, as of any DSR event); another cause ends that event.
        """
        limit = ems_limit(amps, cause)
        if limit.source is LimitSource.DSR:
            self._arbiter.clear(EMS_SLOT)
            self._dsr.start_event(EMS_DSR_EVENT, amps, limit.reason, channel=DsrChannel.EMS)
            return limit_view(self._arbiter.current)
        self._dsr.end_event(EMS_DSR_EVENT)
        return limit_view(self._arbiter.set(EMS_SLOT, limit))

    def clear_ems_limit(self) -> LimitView:
        """Remove the local energy manager's limit (and its DSR event, if it relayed one)."""
        self._dsr.end_event(EMS_DSR_EVENT)
        return limit_view(self._arbiter.clear(EMS_SLOT))
