"""The default mode of regulation 10: the asyncio shell around the charging hours.

:class:`DefaultMode` keeps the charging hours in force (the pure core is
:mod:`ukscp.regulation.schedule`), the owner's first-use choice, an owner
boost ("charge now") and an owner override of DSR events. It holds the arbiter
slot :data:`SLOT` at 0 A while charging is outside the charging hours and no
boost runs, and empties it otherwise. Everything the owner decides is kept in
the :class:`~ukscp.settings_store.SettingsStore`, so it survives restarts.

Who caused a change (the randomised delay's policy is keyed on it):

* a boundary reached as time passes (or found after a wall-clock jump) carries
  :attr:`LimitSource.DEFAULT_MODE`: every charger with the same hours crosses
  it at the same instant, so it is delayed;
* every owner action (first-use choice, editing or removing the hours, boost,
  cancelling a boost, and a timed boost running out at the time the owner
  chose) carries :attr:`LimitSource.OWNER` and takes effect at once.

Lifting the 0 A block names its cause to the arbiter (``clear(slot, cause=...)``):
the owner, or the schedule as time passes.

Wiring, in the composition root::

    default_mode = DefaultMode(clock, arbiter, settings_store, bus,
                               sold_with_dsr_agreement=config_flag)
    task = asyncio.create_task(default_mode.run(), name="default-mode")
    ...
    default_mode.stop(); await task

The constructor applies the current state to the arbiter at once, so build it
before the EVSE offers current. It subscribes itself to
:class:`~ukscp.events.SessionEnded` to end session-long boosts; a boost is
persisted, so after a restart where no session is restored call
:meth:`DefaultMode.on_session_ended`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from ukscp.clock import LONDON, Alarm, Clock
from ukscp.events import Event, EventBus, SessionEnded
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.regulation.schedule import (
    Schedule,
    ScheduleMode,
    Window,
    allowed_at,
    next_boundary,
    schedule_from_json,
)
from ukscp.settings_store import SettingsStore

__all__ = [
    "RECHECK_S",
    "SLOT",
    "BoostEnded",
    "BoostStarted",
    "DefaultMode",
    "DefaultModeStatus",
    "DsrOverrideEnded",
    "DsrOverrideStarted",
    "FirstUseChoice",
    "FirstUseNotPending",
    "FirstUseOption",
    "FirstUseRecord",
    "Override",
    "ScheduleChanged",
    "ScheduleSource",
]

_log = logging.getLogger(__name__)

SLOT: Final = "default_mode"
"""The arbiter slot this module owns."""

RECHECK_S: Final = 60.0
"""Longest sleep: a wall-clock jump (NTP, the owner setting the time) is noticed this soon."""

MAX_OVERRIDE: Final = timedelta(days=7)
"""The longest boost or DSR override with an end: a longer one is a mistake, not a wish."""

_KEY_SCHEDULE: Final = "default_mode.schedule"
_KEY_FIRST_USE: Final = "default_mode.first_use"
_KEY_BOOST: Final = "default_mode.boost"
_KEY_DSR_OVERRIDE: Final = "default_mode.dsr_override"


class FirstUseOption(StrEnum):
    """The owner's answer at first use (regulation 10)."""

    ACCEPT = "accept"  # keep the default off-peak hours
    REMOVE = "remove"  # remove the default mode: charge any time
    CUSTOM = "custom"  # set their own hours


class ScheduleSource(StrEnum):
    """Where the charging hours in force come from."""

    DEFAULT = "default"  # nobody chose yet: the regulation's default hours
    DSR_AGREEMENT = "dsr_agreement"  # sold under a DSR agreement: no default mode
    OWNER = "owner"  # the owner chose (at first use or later)


class FirstUseNotPending(Exception):
    """The first-use choice was already made, or is not asked (sold with a DSR agreement)."""


_CHOICE_OF_MODE: Final = {
    ScheduleMode.DEFAULT: FirstUseOption.ACCEPT,
    ScheduleMode.REMOVED: FirstUseOption.REMOVE,
    ScheduleMode.CUSTOM: FirstUseOption.CUSTOM,
}


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 time, got {value!r}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"stored time {value!r} has no UTC offset")
    return moment.astimezone(LONDON)


def _end_time(until: datetime | timedelta | None, now: datetime, *, what: str) -> datetime | None:
    """The end of an override from a time, a duration from ``now``, or ``None`` (session).

    At most :data:`MAX_OVERRIDE` ahead, given either way.
    """
    if until is None:
        return None
    if isinstance(until, timedelta):
        if until <= timedelta(0):
            raise ValueError(f"{what} duration must be positive, got {until}")
        if until > MAX_OVERRIDE:
            raise ValueError(f"{what} duration {until} is longer than {MAX_OVERRIDE.days} days")
        return (now + until).astimezone(LONDON)
    if until.tzinfo is None:
        raise ValueError(f"{what} end time must include its UTC offset")
    if until <= now:
        raise ValueError(f"{what} until {until.isoformat()} is not in the future")
    if until - now > MAX_OVERRIDE:
        raise ValueError(
            f"{what} until {until.isoformat()} is more than {MAX_OVERRIDE.days} days ahead"
        )
    return until.astimezone(LONDON)


@dataclass(frozen=True, slots=True)
class Override:
    """An owner override (boost or DSR override): from ``started_at`` until ``until``.

    ``until`` is ``None`` for "until the current charging session ends".
    """

    started_at: datetime
    until: datetime | None

    @property
    def until_session_end(self) -> bool:
        """Whether the override lasts until the session ends rather than a time."""
        return self.until is None

    def active_at(self, now: datetime) -> bool:
        """Whether the override still runs at ``now``."""
        return self.until is None or now < self.until

    def to_json(self) -> dict[str, Any]:
        """``{"started_at": iso, "until": iso | null, "until_session_end": bool}``."""
        return {
            "started_at": self.started_at.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "until_session_end": self.until_session_end,
        }

    @classmethod
    def from_json(cls, data: object) -> Override:
        """The form written by :meth:`to_json`."""
        if not isinstance(data, Mapping):
            raise ValueError(f"an override must be an object, got {data!r}")
        until = data.get("until")
        return cls(
            started_at=_parse_time(data.get("started_at")),
            until=None if until is None else _parse_time(until),
        )


@dataclass(frozen=True, slots=True)
class FirstUseRecord:
    """The owner's first-use choice and when it was made."""

    choice: FirstUseOption
    at: datetime

    def to_json(self) -> dict[str, Any]:
        """``{"choice": "accept"|"remove"|"custom", "at": iso}``."""
        return {"choice": self.choice.value, "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: object) -> FirstUseRecord:
        """The form written by :meth:`to_json`."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a first-use record must be an object, got {data!r}")
        return cls(choice=FirstUseOption(str(data.get("choice"))), at=_parse_time(data.get("at")))


@dataclass(frozen=True, slots=True)
class DefaultModeStatus:
    """Everything the owner's page shows about charging hours, boost and DSR override."""

    mode: ScheduleMode
    windows: tuple[Window, ...]
    schedule_source: ScheduleSource
    changed_at: datetime | None  # when the owner last changed the hours
    first_use_pending: bool
    first_use: FirstUseRecord | None
    sold_with_dsr_agreement: bool
    within_charging_hours: bool  # what the hours alone say now
    charging_allowed: bool  # hours or boost: whether this module lets charging happen
    next_change_at: datetime | None  # next boundary of the hours (ignores boost)
    boost: Override | None
    dsr_override: Override | None

    def to_json(self) -> dict[str, Any]:
        """The suggested body of ``GET /api/v1/schedule``: JSON types only."""

        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "mode": self.mode.value,
            "windows": [window.to_json() for window in self.windows],
            "schedule_source": self.schedule_source.value,
            "changed_at": iso(self.changed_at),
            "first_use_pending": self.first_use_pending,
            "first_use": None if self.first_use is None else self.first_use.to_json(),
            "sold_with_dsr_agreement": self.sold_with_dsr_agreement,
            "within_charging_hours": self.within_charging_hours,
            "charging_allowed": self.charging_allowed,
            "next_change_at": iso(self.next_change_at),
            "boost": None if self.boost is None else self.boost.to_json(),
            "dsr_override": None if self.dsr_override is None else self.dsr_override.to_json(),
        }


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleChanged(Event):
    """The owner changed the charging hours (``source`` is ``owner``)."""

    mode: str
    windows: tuple[str, ...]  # each window in words, e.g. "Mon-Fri 22:00-08:00 (next day)"
    previous_mode: str
    within_charging_hours: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstUseChoice(Event):
    """The owner made the first-use choice of regulation 10."""

    choice: str
    mode: str
    windows: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BoostStarted(Event):
    """The owner asked to charge now, until ``until`` or the end of the session."""

    until: datetime | None
    until_session_end: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class BoostEnded(Event):
    """A boost ended: ``reason`` is ``cancelled``, ``expired`` or ``session ended``."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DsrOverrideStarted(Event):
    """The owner overrides DSR events until ``until`` or the end of the session."""

    until: datetime | None
    until_session_end: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DsrOverrideEnded(Event):
    """The owner's DSR override ended: ``cancelled``, ``expired`` or ``session ended``."""

    reason: str


# --------------------------------------------------------------------------- shell


def _labels(schedule: Schedule) -> tuple[str, ...]:
    return tuple(window.label for window in schedule.windows)


class DefaultMode:
    """Charging hours, first use, boost and DSR override, applied to the arbiter."""

    def __init__(
        self,
        clock: Clock,
        arbiter: Arbiter,
        store: SettingsStore,
        bus: EventBus,
        sold_with_dsr_agreement: bool = False,
        *,
        recheck_s: float = RECHECK_S,
    ) -> None:
        if recheck_s <= 0:
            raise ValueError(f"recheck_s must be > 0, got {recheck_s!r}")
        self._clock = clock
        self._arbiter = arbiter
        self._store = store
        self._bus = bus
        self._sold_with_dsr = sold_with_dsr_agreement
        self._recheck_s = recheck_s
        self._owner_schedule: Schedule | None = None
        self._changed_at: datetime | None = None
        self._first_use: FirstUseRecord | None = None
        self._boost: Override | None = None
        self._dsr_override: Override | None = None
        self._load()
        self._running = False
        self._stopped = False
        self._alarm = Alarm(clock)
        bus.subscribe(SessionEnded, self._on_session_ended_event)
        self._tick()

    # ------------------------------------------------------------- reading

    @property
    def sold_with_dsr_agreement(self) -> bool:
        """Provisioned as sold under a DSR agreement: no default mode, no first-use prompt."""
        return self._sold_with_dsr

    @property
    def first_use_pending(self) -> bool:
        """Whether the owner still has to accept, remove or change the default hours."""
        return not self._sold_with_dsr and self._first_use is None

    def schedule(self) -> Schedule:
        """The charging hours in force."""
        if self._owner_schedule is not None:
            return self._owner_schedule
        return Schedule.removed() if self._sold_with_dsr else Schedule.default()

    def schedule_source(self) -> ScheduleSource:
        """Where the charging hours in force come from."""
        if self._owner_schedule is not None:
            return ScheduleSource.OWNER
        return ScheduleSource.DSR_AGREEMENT if self._sold_with_dsr else ScheduleSource.DEFAULT

    def charging_allowed(self, now: datetime | None = None) -> bool:
        """Whether this module lets charging happen at ``now`` (hours or boost)."""
        now = self._clock.now() if now is None else now
        boosting = self._boost is not None and self._boost.active_at(now)
        return boosting or allowed_at(self.schedule(), now)

    def dsr_overridden(self, now: datetime | None = None) -> bool:
        """Whether the owner overrides DSR events at ``now``; the DSR module asks this."""
        now = self._clock.now() if now is None else now
        return self._dsr_override is not None and self._dsr_override.active_at(now)

    def status(self) -> DefaultModeStatus:
        """The state now, for the owner's page and the API."""
        now = self._clock.now()
        schedule = self.schedule()
        return DefaultModeStatus(
            mode=schedule.mode,
            windows=schedule.windows,
            schedule_source=self.schedule_source(),
            changed_at=self._changed_at,
            first_use_pending=self.first_use_pending,
            first_use=self._first_use,
            sold_with_dsr_agreement=self._sold_with_dsr,
            within_charging_hours=allowed_at(schedule, now),
            charging_allowed=self.charging_allowed(now),
            next_change_at=next_boundary(schedule, now),
            boost=self._boost,
            dsr_override=self._dsr_override,
        )

    # ------------------------------------------------------------- owner actions

    def first_use(
        self, choice: FirstUseOption | str, windows: Iterable[Window] | None = None
    ) -> DefaultModeStatus:
        """Record the owner's first-use choice and apply it.

        ``accept`` keeps the default hours, ``remove`` allows charging at any
        time, ``custom`` sets ``windows`` (required; empty means no charging
        hours). Raises :class:`FirstUseNotPending` once a choice was made (use
        :meth:`apply_schedule` to change the hours later) and ValueError for
        a bad choice or bad windows.
        """
        if not self.first_use_pending:
            if self._sold_with_dsr and self._first_use is None:
                raise FirstUseNotPending(
                    "no first-use choice is asked: this charger was sold with a DSR agreement"
                )
            assert self._first_use is not None
            raise FirstUseNotPending(
                f"the first-use choice was already made ({self._first_use.choice.value} "
                f"at {self._first_use.at.isoformat()}); change the charging hours instead"
            )
        try:
            option = FirstUseOption(choice)
        except ValueError:
            raise ValueError(
                f"first-use choice must be accept, remove or custom; got {choice!r}"
            ) from None
        if option is FirstUseOption.CUSTOM:
            if windows is None:
                raise ValueError("the custom choice needs windows (an empty list for none)")
            schedule = Schedule.custom(windows)
        elif windows is not None and list(windows):
            raise ValueError(f"windows are only given with the custom choice, not {option.value}")
        elif option is FirstUseOption.ACCEPT:
            schedule = Schedule.default()
        else:
            schedule = Schedule.removed()
        self._change_schedule(schedule, option)
        return self.status()

    def apply_schedule(self, schedule: Schedule) -> DefaultModeStatus:
        """The owner sets the charging hours (default, custom or removed), at once.

        Made while the first-use choice is pending, this is that choice (a
        ``custom`` schedule counts as ``custom``, ``removed`` as ``remove``,
        ``default`` as ``accept``) and is recorded as such.
        """
        choice = _CHOICE_OF_MODE[schedule.mode] if self.first_use_pending else None
        self._change_schedule(schedule, choice)
        return self.status()

    def set_schedule(self, windows: Iterable[Window]) -> DefaultModeStatus:
        """The owner sets their own hours (validated; empty means no charging hours)."""
        return self.apply_schedule(Schedule.custom(windows))

    def remove_schedule(self) -> DefaultModeStatus:
        """The owner removes the charging hours: charge at any time."""
        return self.apply_schedule(Schedule.removed())

    def use_default_schedule(self) -> DefaultModeStatus:
        """The owner goes back to the default off-peak hours."""
        return self.apply_schedule(Schedule.default())

    def boost(
        self, until: datetime | timedelta | None = None, *, cause: Limit | None = None
    ) -> DefaultModeStatus:
        """Charge now regardless of the hours, until ``until`` or the session ends.

        ``until`` is an aware time in the future, a positive duration from now,
        or ``None`` for "until the current session ends". A new boost replaces
        a running one. ``cause`` is who asked when it is not the owner (a CSMS's
        remote start: its source and flags are what the randomised delay judges).
        """
        now = self._clock.now()
        end = _end_time(until, now, what="boost")
        boost = Override(started_at=now, until=end)
        self._store.set(_KEY_BOOST, boost.to_json())
        self._boost = boost
        by = cause or Limit(0.0, LimitSource.OWNER, "owner boost: charge now")
        self._bus.publish(
            BoostStarted(at=now, source=by.source.value, until=end, until_session_end=end is None)
        )
        if self.charging_allowed() and SLOT in self._arbiter.active():
            self._arbiter.clear(SLOT, cause=by)
        self._wake()
        return self.status()

    def cancel_boost(self) -> DefaultModeStatus:
        """End a running boost now (no effect when none runs)."""
        if self._boost is not None:
            self._end_boost("cancelled", event_source="owner")
        return self.status()

    def override_dsr(self, until: datetime | timedelta | None = None) -> DefaultModeStatus:
        """The owner overrides DSR events until ``until`` or the session ends.

        Same arguments as :meth:`boost`. This module only records the override;
        the DSR module reads :meth:`dsr_overridden` (or listens for
        :class:`DsrOverrideStarted` / :class:`DsrOverrideEnded`).
        """
        now = self._clock.now()
        end = _end_time(until, now, what="DSR override")
        override = Override(started_at=now, until=end)
        self._store.set(_KEY_DSR_OVERRIDE, override.to_json())
        self._dsr_override = override
        self._bus.publish(
            DsrOverrideStarted(at=now, source="owner", until=end, until_session_end=end is None)
        )
        self._wake()
        return self.status()

    def cancel_dsr_override(self) -> DefaultModeStatus:
        """End the owner's DSR override now (no effect when none runs)."""
        if self._dsr_override is not None:
            self._end_dsr_override("cancelled", event_source="owner")
        return self.status()

    def on_session_ended(self) -> None:
        """The charging session ended: session-long boost and DSR override end."""
        if self._boost is not None and self._boost.until_session_end:
            self._end_boost("session ended", event_source="evse")
        if self._dsr_override is not None and self._dsr_override.until_session_end:
            self._end_dsr_override("session ended", event_source="evse")

    # ------------------------------------------------------------- running

    async def run(self) -> None:
        """Follow the clock until :meth:`stop`: apply each boundary and expiry as it comes.

        Sleeps until the next boundary or expiry but never longer than
        ``recheck_s``, so a wall-clock jump is noticed within that time.
        """
        if self._running:
            raise RuntimeError("DefaultMode.run() is already running")
        self._running = True
        try:
            while not self._stopped:
                self._tick()
                await self._alarm.sleep(self._seconds_to_wake())
        finally:
            self._running = False

    def stop(self) -> None:
        """Make :meth:`run` return. The arbiter slot is left as it is."""
        self._stopped = True
        self._wake()

    # ------------------------------------------------------------- internals

    def _wake(self) -> None:
        # Owner actions change the next deadline: the loop recomputes its sleep.
        self._alarm.wake()

    def _seconds_to_wake(self) -> float:
        # In UTC: two London times subtract as wall-clock times, an hour out on DST days.
        now = self._clock.now().astimezone(UTC)
        deadlines = [next_boundary(self.schedule(), now)]
        deadlines += [o.until for o in (self._boost, self._dsr_override) if o is not None]
        wait = self._recheck_s
        for deadline in deadlines:
            if deadline is not None:
                wait = min(wait, (deadline - now).total_seconds())
        return max(wait, 0.0)

    def _tick(self) -> None:
        """Apply what the passing of time changed: expiries, then a boundary."""
        now = self._clock.now()
        if self._boost is not None and not self._boost.active_at(now):
            self._end_boost("expired", event_source="default_mode")
        if self._dsr_override is not None and not self._dsr_override.active_at(now):
            self._end_dsr_override("expired", event_source="default_mode")
        self._sync(
            LimitSource.DEFAULT_MODE,
            blocked=self._outside_hours_reason(),
            allowed="charging hours began",
        )

    def _outside_hours_reason(self) -> str:
        schedule = self.schedule()
        if schedule.mode is ScheduleMode.DEFAULT:
            return "outside charging hours (default off-peak hours)"
        if not schedule.windows:
            return "outside charging hours (no charging hours set)"
        return "outside charging hours (owner's charging hours)"

    def _sync(self, source: LimitSource, *, blocked: str, allowed: str) -> None:
        """Make the arbiter slot match the state now, reporting ``source`` as the cause."""
        allow = self.charging_allowed()
        holding = SLOT in self._arbiter.active()
        if allow and holding:
            self._release(source, allowed)
        elif not allow and not holding:
            self._arbiter.set(SLOT, Limit(0.0, source, blocked))

    def _release(self, source: LimitSource, reason: str) -> None:
        # The release is reported as caused by ``source``: the owner, or the schedule.
        self._arbiter.clear(SLOT, cause=Limit(0.0, source, reason))

    def _change_schedule(self, schedule: Schedule, first_use: FirstUseOption | None) -> None:
        now = self._clock.now()
        previous = self.schedule()
        record = FirstUseRecord(choice=first_use, at=now) if first_use is not None else None
        # Persist first: if the store fails, nothing changed.
        self._store.set(
            _KEY_SCHEDULE, {"schedule": schedule.to_json(), "changed_at": now.isoformat()}
        )
        if record is not None:
            self._store.set(_KEY_FIRST_USE, record.to_json())
            self._first_use = record
        self._owner_schedule = schedule
        self._changed_at = now
        if record is not None:
            self._bus.publish(
                FirstUseChoice(
                    at=now,
                    source="owner",
                    choice=record.choice.value,
                    mode=schedule.mode.value,
                    windows=_labels(schedule),
                )
            )
        self._bus.publish(
            ScheduleChanged(
                at=now,
                source="owner",
                mode=schedule.mode.value,
                windows=_labels(schedule),
                previous_mode=previous.mode.value,
                within_charging_hours=allowed_at(schedule, now),
            )
        )
        self._sync(
            LimitSource.OWNER,
            blocked="owner changed charging hours: now outside charging hours",
            allowed="owner changed charging hours: charging allowed",
        )
        self._wake()

    def _end_boost(self, reason: str, *, event_source: str) -> None:
        self._store.delete(_KEY_BOOST)
        self._boost = None
        self._bus.publish(BoostEnded(at=self._clock.now(), source=event_source, reason=reason))
        # The owner chose the boost and its end, so the resulting stop is theirs.
        self._sync(
            LimitSource.OWNER,
            blocked=f"owner boost ended ({reason}): outside charging hours",
            allowed=f"owner boost ended ({reason})",  # unreachable: ending only restricts
        )
        self._wake()

    def _end_dsr_override(self, reason: str, *, event_source: str) -> None:
        self._store.delete(_KEY_DSR_OVERRIDE)
        self._dsr_override = None
        self._bus.publish(
            DsrOverrideEnded(at=self._clock.now(), source=event_source, reason=reason)
        )
        self._wake()

    def _on_session_ended_event(self, _event: SessionEnded) -> None:
        self.on_session_ended()

    def _load(self) -> None:
        """Read the owner's decisions back; a damaged record is logged and ignored."""
        stored = self._store.get(_KEY_SCHEDULE)
        if stored is not None:
            try:
                self._owner_schedule = schedule_from_json(stored["schedule"])
                self._changed_at = _parse_time(stored["changed_at"])
            except (KeyError, TypeError, ValueError) as exc:
                _log.warning("ignoring the stored charging hours (%s): defaults apply", exc)
                self._owner_schedule = self._changed_at = None
        first_use = self._store.get(_KEY_FIRST_USE)
        if first_use is not None:
            try:
                self._first_use = FirstUseRecord.from_json(first_use)
            except (TypeError, ValueError) as exc:
                _log.warning("ignoring the stored first-use choice (%s)", exc)
        for key in (_KEY_BOOST, _KEY_DSR_OVERRIDE):
            data = self._store.get(key)
            if data is None:
                continue
            try:
                override = Override.from_json(data)
            except (TypeError, ValueError) as exc:
                _log.warning("ignoring the stored %s (%s)", key, exc)
                continue
            if key == _KEY_BOOST:
                self._boost = override
            else:
                self._dsr_override = override
