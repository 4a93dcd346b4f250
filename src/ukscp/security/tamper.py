"""Tamper protection: an opened enclosure stops charging until the owner acknowledges it.

The alarm is persisted: a charger restarted after its enclosure was opened stays
stopped until the owner has seen the alarm on the page and cleared it.
"""

from __future__ import annotations

from ukscp.clock import Alarm, Clock
from ukscp.hardware.protocols import TamperInput, TamperReset
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.security.seclog import SecurityEventType, SecurityLog
from ukscp.settings_store import SettingsStore

SLOT = "tamper"
_ALARM_KEY = "tamper.alarm_since"
POLL_S = 1.0


class TamperNotCleared(Exception):
    """The owner tried to clear the alarm while the enclosure still reads open."""


class TamperGuard:
    """Watches the board's tamper input and holds the alarm."""

    def __init__(
        self,
        clock: Clock,
        tamper: TamperInput | None,
        arbiter: Arbiter,
        seclog: SecurityLog,
        store: SettingsStore,
    ) -> None:
        self._clock = clock
        self._tamper = tamper
        self._arbiter = arbiter
        self._seclog = seclog
        self._store = store
        self._alarm = Alarm(clock)
        self._stopped = False
        if self.alarm_since is not None:
            self._hold()

    @property
    def available(self) -> bool:
        """Whether the board has a tamper input at all."""
        return self._tamper is not None

    @property
    def alarm_since(self) -> str | None:
        """When the alarm was raised (ISO time), or None."""
        value = self._store.get(_ALARM_KEY)
        return value if isinstance(value, str) else None

    def check(self) -> None:
        """Read the input now; a newly opened enclosure raises the alarm."""
        if self._tamper is None or not self._tamper.tamper_tripped():
            return
        if self.alarm_since is None:
            now = self._clock.now()
            self._store.set(_ALARM_KEY, now.isoformat())
            self._seclog.record(
                SecurityEventType.TAMPER_DETECTION_ACTIVATED,
                "the enclosure's tamper switch tripped: charging stopped until the owner "
                "acknowledges",
            )
        self._hold()

    def acknowledge(self) -> None:
        """The owner clears the alarm; charging may resume (an owner action, not delayed)."""
        if self.alarm_since is None:
            return
        if isinstance(self._tamper, TamperReset):
            self._tamper.reset_tamper()
        if self._tamper is not None and self._tamper.tamper_tripped():
            raise TamperNotCleared("the tamper switch still reads open: close the enclosure first")
        self._store.delete(_ALARM_KEY)
        self._seclog.record(SecurityEventType.TAMPER_ACKNOWLEDGED, "the owner cleared the alarm")
        owner = Limit(0.0, LimitSource.OWNER, "owner acknowledged the tamper alarm")
        self._arbiter.clear(SLOT, cause=owner)

    async def run(self) -> None:
        """Poll the tamper input until :meth:`stop`."""
        while not self._stopped:
            self.check()
            await self._alarm.sleep(POLL_S)

    def stop(self) -> None:
        """End :meth:`run`."""
        self._stopped = True
        self._alarm.wake()

    def _hold(self) -> None:
        if SLOT not in self._arbiter.active():
            self._arbiter.set(SLOT, Limit(0.0, LimitSource.SAFETY, "tamper alarm"))
