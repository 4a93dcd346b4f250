"""Charging sessions: from plug-in to unplug, with the energy delivered.

Energy comes from the meter's import register when the meter has one (the
difference of two readings of a certified register is the best measurement
there is); a meter with power only is integrated at each poll instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from ukscp.clock import Clock
from ukscp.hardware.protocols import EnergyMeter, Meter


@dataclass(frozen=True, slots=True)
class Session:
    """A snapshot of a charging session."""

    id: str
    started_at: datetime
    start_register_wh: float
    energy_wh: float = 0.0
    ended_at: datetime | None = None

    @property
    def active(self) -> bool:
        """True until the vehicle is unplugged."""
        return self.ended_at is None


class SessionTracker:
    """Opens, measures and closes the one session the EVSE can have at a time."""

    def __init__(self, meter: Meter, clock: Clock) -> None:
        self._meter = meter
        self._clock = clock
        self._registers = meter if isinstance(meter, EnergyMeter) else None
        self._session: Session | None = None
        self._started_mono = 0.0
        self._integrated_wh = 0.0
        self._sampled_at = 0.0

    @property
    def current(self) -> Session | None:
        """The open session with its energy so far, or None."""
        if self._session is not None:
            self._session = replace(self._session, energy_wh=self._energy_wh())
        return self._session

    def start(self) -> Session:
        """Open a session now; the caller makes sure none is open."""
        assert self._session is None, "a session is already open"
        now = self._clock.monotonic()
        self._started_mono = self._sampled_at = now
        self._integrated_wh = 0.0
        self._session = Session(
            id=uuid.uuid4().hex,
            started_at=self._clock.now(),
            start_register_wh=self._register_wh(),
        )
        return self._session

    def sample(self) -> None:
        """Integrate power since the last sample; only used when there is no register."""
        now = self._clock.monotonic()
        if self._session is not None and self._registers is None:
            self._integrated_wh += self._meter.power_w() * (now - self._sampled_at) / 3600.0
        self._sampled_at = now

    def end(self) -> tuple[Session, float]:
        """Close the open session; returns it and its duration in seconds."""
        assert self._session is not None, "no session is open"
        self.sample()
        ended = replace(self._session, energy_wh=self._energy_wh(), ended_at=self._clock.now())
        self._session = None
        return ended, self._clock.monotonic() - self._started_mono

    def _register_wh(self) -> float:
        return self._registers.energy_import_wh() if self._registers is not None else 0.0

    def _energy_wh(self) -> float:
        assert self._session is not None
        if self._registers is not None:
            return self._registers.energy_import_wh() - self._session.start_register_wh
        return self._integrated_wh
