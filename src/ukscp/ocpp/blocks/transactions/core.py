"""What both versions' transactions share: the session they need, and two waits.

:class:`TransactionsContext` is the one narrow view a transactions block has
of the rest of the client. :class:`PendingRemoteStart` keeps a remote start
that came before the EV was plugged in, until the plug-in or its timeout;
:class:`ServiceHold` keeps a plug-in that came while the CSMS had the charger
out of service, so that its transaction begins when the charger is put back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ukscp.clock import Clock
from ukscp.limits.limit import Limit, LimitSource
from ukscp.ocpp.blocks.availability.core import Availability
from ukscp.ocpp.blocks.transactions.stored import StoredTransaction
from ukscp.ocpp.port import ChargerPort
from ukscp.ocpp.queue import MessageQueue

_log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TransactionsContext:
    """What a transactions block uses of the client that owns it."""

    port: ChargerPort
    clock: Clock
    queue: MessageQueue
    """Transaction messages are written here first (regulation 7: nothing waits on the network)."""
    availability: Availability
    wake_sender: Callable[[], None]
    """Something was queued: deliver it when connected."""
    status_changed: Callable[[], None]
    """The connector's status may have changed: report it."""
    transaction_changed: Callable[[], None]
    """A transaction began or ended: deliver its message, report the status, and let
    charging profiles follow (a TxProfile binds to it or falls away)."""
    online: Callable[[], bool]
    """Connected and registered now."""
    call: Callable[[Any], Awaitable[Any]]
    """Send a request to the CSMS now and return its answer (CsmsRefused, TimeoutError)."""
    remote_start_cause: Limit
    """What a remote start of this CSMS is to the randomised delay (see
    :func:`remote_start_cause`)."""


def remote_start_cause(*, randomised: bool, dsr: bool) -> Limit:
    """A CSMS's remote start as the randomised delay judges it (regulation 11).

    A start like any other from the CSMS (source ``ocpp``: delayed), but never
    for a DSR provider (``dsr``), and no second delay after a CSMS that
    randomises its own changes (``randomised``).
    """
    source = LimitSource.DSR if dsr else LimitSource.OCPP
    return Limit(0.0, source, "remote start by the CSMS", randomised=randomised)


def stale_end_reason(state: StoredTransaction[Any]) -> str | None:
    """At start: why the transaction the last run left open ends (None: none was open).

    A clean stop said why (``Reboot``); anything else was a power loss.
    """
    stale = state.current
    if stale is None:
        return None
    reason = stale.end_reason or "PowerLoss"
    _log.info("ending the transaction left open by the last run (%s)", reason)
    return reason


class PendingRemoteStart(Generic[T]):
    """A remote start accepted before the plug-in: taken by the plug-in within its timeout."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._pending: tuple[T, float] | None = None  # what, monotonic deadline

    def set(self, what: T, timeout_s: float) -> None:
        """Wait ``timeout_s`` for a plug-in (EV connection timeout) to start for ``what``."""
        self._pending = (what, self._clock.monotonic() + timeout_s)

    def take(self) -> T | None:
        """At a plug-in: the remote start waiting for it, if still in time (once)."""
        pending, self._pending = self._pending, None
        if pending is not None and self._clock.monotonic() <= pending[1]:
            return pending[0]
        return None


class ServiceHold:
    """A plug-in while out of service waits for the charger to be put back in service."""

    def __init__(self, availability: Availability, status_changed: Callable[[], None]) -> None:
        self._availability = availability
        self._status_changed = status_changed
        self._waiting = False

    def hold(self) -> bool:
        """At a plug-in: True (and remembered) when out of service, so nothing begins."""
        if self._availability.operative:
            return False
        self._waiting = True
        self._status_changed()
        return True

    def release(self) -> None:
        """The EV was unplugged: nothing waits any more."""
        self._waiting = False

    def resume(self, transaction_open: bool, ev_connected: bool) -> bool:
        """Back in service: True (once) if the waiting plug-in's transaction begins now."""
        ready = self._availability.operative and ev_connected and not transaction_open
        if self._waiting and ready:
            self._waiting = False
            return True
        return False
