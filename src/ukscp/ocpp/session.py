"""One OCPP client's link to its CSMS: connection after connection, boot, heartbeat, delivery.

The :class:`Session` owns what exists only while connected: the connection's
router (a fresh one per connection, answering from the version's route
tables), registration (BootNotification, retried while Pending or
Rejected), heartbeats, the connector's StatusNotifications and the delivery
of the persistent queue. What differs by version (the messages, the settings
that time them, the statuses) is the :class:`VersionEdge` it is given;
everything that outlives a connection belongs to the blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

import ukscp
from ukscp.clock import Alarm, Clock
from ukscp.ocpp.blocks.trigger.core import TriggerTarget, send_live
from ukscp.ocpp.link import Caller, CsmsLink, CsmsRefused
from ukscp.ocpp.loops import every, register, report_status
from ukscp.ocpp.routes import Route
from ukscp.ocpp.transport import CsmsTransport

_log = logging.getLogger(__name__)

Interval = Literal["heartbeat", "sampled", "aligned"]
"""The intervals a client keeps: heartbeats, periodic samples, clock-aligned readings."""

# Real seconds a call may take, once the connection has closed, to finish with an
# answer that arrived just before (its validation runs in a worker thread).
_ANSWER_GRACE_S = 1.0


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What BootNotification says about this charger."""

    vendor: str = "ukscp"
    model: str = "ukscp"
    serial_number: str | None = None
    firmware_version: str = ukscp.__version__


class ChargePointLike(Caller, Protocol):
    """One connection's message router from the ``ocpp`` library."""

    async def start(self) -> None:
        """Receive and answer the CSMS's messages until the connection closes."""
        ...


class VersionEdge(Protocol):
    """What a session needs of its OCPP version."""

    def message(self, action: str, **fields: Any) -> Any:
        """The version's request message for ``action`` (snake_case fields)."""
        ...

    def router(self, connection: ClientConnection, routes: Mapping[str, Route]) -> ChargePointLike:
        """A fresh message router for one connection, answering from ``routes``."""
        ...

    def boot_message(self) -> Any:
        """This charger's BootNotification."""
        ...

    def boot_accepted(self, interval: int) -> None:
        """BootNotification was accepted with heartbeat ``interval``."""
        ...

    def note_boot_reason(self, reason: str) -> None:
        """Remember why the next start happens (a version whose boot says so keeps it)."""
        ...

    def interval_s(self, which: Interval) -> int:
        """The interval of ``which`` in seconds, as set now."""
        ...

    def statuses(self) -> Mapping[int, Any]:
        """Each connector's status now (as the version's StatusNotification reads it)."""
        ...

    def status_message(self, connector_id: int, status: Any) -> Any:
        """The StatusNotification for ``connector_id`` in ``status``."""
        ...


class Session:
    """Connects, registers, beats and delivers, for as long as :meth:`run` runs."""

    def __init__(
        self,
        *,
        transport: CsmsTransport,
        clock: Clock,
        link: CsmsLink,
        edge: VersionEdge,
        routes: Callable[[], Mapping[str, Route]],
        deliver: Callable[[], Awaitable[None]],
        boot_retry_s: float,
        task_prefix: str,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._link = link
        self._edge = edge
        self._routes = routes
        self._deliver = deliver
        self._boot_retry_s = boot_retry_s
        self._task_prefix = task_prefix
        self._boot_alarm = Alarm(clock)
        self._heartbeat_alarm = Alarm(clock)
        self._status_dirty = asyncio.Event()

    async def run(self) -> None:
        """Connect and reconnect (the transport's loop), one session per connection."""
        await self._transport.run(self._connected)

    def status_changed(self) -> None:
        """The connector's status may have changed: report it when registered."""
        self._status_dirty.set()

    def heartbeat_interval_changed(self) -> None:
        """The heartbeat interval was set: look at it again now."""
        self._heartbeat_alarm.wake()

    async def send_live(self, message: Any) -> Any | None:
        """Send ``message`` now, best effort (a triggered message): the answer, or None."""
        return await send_live(self._link, message)

    async def trigger_heartbeat(self, _: TriggerTarget) -> None:
        """A triggered Heartbeat."""
        await self.send_live(self._edge.message("Heartbeat"))

    async def trigger_boot(self, _: TriggerTarget) -> Any | None:
        """A triggered BootNotification: sent now if registered (its answer), else the boot
        loop, Pending or Rejected, sends it now (None)."""
        if not self._link.online:
            self._boot_alarm.wake()
            return None
        return await self.send_live(self._edge.boot_message())

    async def _connected(self, connection: ClientConnection) -> None:
        router = self._edge.router(connection, self._routes())
        self._link.attach(router)
        prefix = self._task_prefix
        receiver = asyncio.create_task(router.start(), name=f"{prefix}-receive")
        worker = asyncio.create_task(self._registered(), name=f"{prefix}-registered")
        try:
            done, _ = await asyncio.wait({receiver, worker}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                problem = task.exception()
                if problem is not None and not isinstance(problem, ConnectionClosed):
                    _log.error("OCPP session failed: %r", problem, exc_info=problem)
            if receiver in done:
                # The connection closed: no new call may start, and the call in
                # flight may end with an answer that came just before the close
                # (else a queued message the CSMS answered would go again).
                self._link.detach()
                await self._link.call_ended(_ANSWER_GRACE_S)
        finally:
            self._link.detach()
            for task in (receiver, worker):
                task.cancel()
            await asyncio.gather(receiver, worker, return_exceptions=True)

    async def _registered(self) -> None:
        await register(
            self._link,
            self._clock,
            self._boot_alarm,
            self._edge.boot_message(),
            retry_s=self._boot_retry_s,
            accepted=self._edge.boot_accepted,
        )
        self._link.registered()
        edge = self._edge
        await asyncio.gather(
            every(
                self._clock,
                self._heartbeat_alarm,
                lambda: edge.interval_s("heartbeat"),
                self._heartbeat,
            ),
            report_status(self._link, self._status_dirty, edge.statuses, edge.status_message),
            self._deliver(),
        )

    async def _heartbeat(self) -> None:
        with contextlib.suppress(CsmsRefused, TimeoutError):  # the next one will tell
            await self._link.call(self._edge.message("Heartbeat"))
