"""What the OCPP 1.6J and 2.0.1 clients share: the blocks both assemble, and their lifecycle.

A client is the sum of functional blocks (transactions, meter values,
availability, reset, trigger, logs, settings, firmware, smart charging,
security), each a core plus a route table per version, and of a
:class:`~ukscp.ocpp.session.Session` that owns only the link, boot, heartbeat,
status reports and the queue's delivery. :class:`OcppClientBase` builds the
blocks that are the same in both versions (availability, the link's keys and
security events, log uploads, firmware updates, sampling, background work),
joins the routes both answer alike, and runs, stops and forgets it all. A
version's client (:class:`~ukscp.ocpp.v16.client.OcppClient16`,
:class:`~ukscp.ocpp.v201.client.OcppClient201`) builds the rest (its settings,
transactions, meter values, sender, session edge, resets) and joins its route
tables; it overrides nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ukscp.clock import Clock
from ukscp.events import (
    EventBus,
    EvseStateChanged,
    OfferedCurrentChanged,
    SessionEnded,
    SessionStarted,
)
from ukscp.firmware.install import FirmwareInstaller
from ukscp.ocpp.background import Background, guard
from ukscp.ocpp.blocks import authorization, vendor
from ukscp.ocpp.blocks.availability.core import Availability
from ukscp.ocpp.blocks.firmware.updates import FirmwareUpdates
from ukscp.ocpp.blocks.logs import routes as logs
from ukscp.ocpp.blocks.logs.upload import LogUploads
from ukscp.ocpp.blocks.meter_values.sampling import MeterContext, Sampling
from ukscp.ocpp.blocks.security.events import SecurityEvents
from ukscp.ocpp.blocks.security.keys import SecurityKeys
from ukscp.ocpp.blocks.transactions.core import TransactionsContext, remote_start_cause
from ukscp.ocpp.blocks.transactions.stored import StoredTransaction, TransactionRecord
from ukscp.ocpp.blocks.trigger.core import Triggers
from ukscp.ocpp.link import CsmsLink
from ukscp.ocpp.port import ChargerPort, KeyValueStore
from ukscp.ocpp.queue import MessageQueue
from ukscp.ocpp.routes import Result, Route
from ukscp.ocpp.sender import QueueSender
from ukscp.ocpp.session import BootInfo, Interval, Session, VersionEdge
from ukscp.ocpp.transport import CsmsTransport
from ukscp.security.remote_targets import TargetPolicy
from ukscp.security.seclog import SecurityLog

_log = logging.getLogger(__name__)




@dataclass(frozen=True, slots=True)
class CommonOptions:
    """Tunables every client has (the defaults suit a real charger).

    Each version's ``ClientOptions`` adds the owner's own idTag or idToken.
    """

    boot: BootInfo = field(default_factory=BootInfo)
    response_timeout_s: float = 30.0  # real seconds for the CSMS to answer one call
    boot_retry_s: float = 60.0  # when Pending/Rejected come without an interval
    reset_flush_s: float = 10.0  # how long a reset waits for the queue to drain
    security_event_poll_s: float = 60.0  # a look for records written by another process
    upload_timeout_s: float = 60.0
    allow_plain_http_upload: bool | None = None  # None: where the transport allows ws://
    # ocpp.allow_private_targets: uploads to loopback, link-local and private addresses.
    allow_private_targets: bool = False
    # ocpp.randomises_delay / ocpp.dsr_provider: what the randomised delay makes of this
    # CSMS's remote starts (its charging profiles are the smart-charging keeper's).
    csms_randomises_delay: bool = False
    dsr_provider: bool = False


TxT = TypeVar("TxT", bound=TransactionRecord)


class TransactionsPart(Protocol[TxT]):
    """What the shared part of a client asks of its version's transactions block."""

    @property
    def state(self) -> StoredTransaction[TxT]:
        """The persisted open transaction."""
        ...

    def session_started(self, event: SessionStarted) -> None:
        """A plug-in."""
        ...

    def session_ended(self, event: SessionEnded) -> None:
        """An unplug."""
        ...

    def evse_changed(self, *, rate: bool) -> None:
        """The EVSE's state (or, ``rate``, its offered current) changed."""
        ...

    def availability_changed(self) -> None:
        """The charger went into or out of service."""
        ...

    def end_stale(self) -> None:
        """End the transaction the last run left open."""
        ...

    def end_for_reset(self, kind: str) -> None:
        """End the open transaction, if any, for a CSMS reset of ``kind``."""
        ...


class MeterValuesPart(Protocol):
    """What the shared part of a client asks of its version's meter values block."""

    def sample(self) -> None:
        """Queue the periodic sample of the open transaction."""
        ...

    def clock_aligned(self, due: datetime) -> None:
        """Queue the clock-aligned readings for boundary ``due``."""
        ...


class SmartChargingPart(Protocol):
    """What the shared part of a client asks of its smart-charging handler."""

    async def run(self) -> None:
        """Keep the charger's limit up to date until cancelled."""
        ...

    def transaction_changed(self) -> None:
        """A transaction began or ended: TxProfiles bind to it or fall away."""
        ...

    def forget(self) -> None:
        """Drop every profile (the back end is no longer ours)."""
        ...


SmartT = TypeVar("SmartT", bound=SmartChargingPart)


class OcppClientBase(Generic[TxT, SmartT]):
    """The version-neutral part of an OCPP client; see the module docstring.

    A version's constructor calls ``super().__init__``, then sets ``_tx``,
    ``_sender``, ``_meter`` and ``_edge``, calls :meth:`_follow` (which builds the
    session, ends a transaction left open by the last run and starts following
    the charger's events), and last sets ``_routes``, the join of its blocks'
    route tables and :meth:`_shared_routes`.
    """

    _TASK_PREFIX: ClassVar[str]
    """The prefix of this client's task names (``ocpp``, ``ocpp201``)."""

    _FIRMWARE_STATUS: ClassVar[str]
    """The action that reports a signed firmware update's progress."""

    _sender: QueueSender
    _tx: TransactionsPart[TxT]
    _meter: MeterValuesPart
    _edge: VersionEdge
    _routes: Mapping[str, Route]

    def __init__(
        self,
        *,
        transport: CsmsTransport,
        port: ChargerPort,
        clock: Clock,
        seclog: SecurityLog,
        queue: MessageQueue,
        store: KeyValueStore,
        options: CommonOptions,
        smart_charging: SmartT | None,
        firmware: FirmwareInstaller | None,
    ) -> None:
        self._transport = transport
        self._port = port
        self._store = store
        self._clock = clock
        self._seclog = seclog
        self._queue = queue
        self._options = options
        self._smart = smart_charging
        self._link = CsmsLink()
        self._security = SecurityKeys(transport, seclog, store)
        self._security_events = SecurityEvents(
            seclog=seclog, queue=queue, clock=clock, wake_sender=lambda: self._sender.wake()
        )
        self._uploads = LogUploads(
            clock=clock,
            seclog=seclog,
            identity=transport.config.identity,
            policy=self._upload_policy,
            notify=self._notify_log_status,
            timeout_s=options.upload_timeout_s,
        )
        # Before the charger starts: a charger taken out of service stays out after a restart.
        self._availability = Availability(store, port, self._availability_changed)
        self._installer = firmware
        self._firmware: FirmwareUpdates | None = None  # made by _follow, once the sender is
        self._stopping = asyncio.Event()
        self._sampling = Sampling(
            clock,
            sampled_interval_s=lambda: self._edge.interval_s("sampled"),
            aligned_interval_s=lambda: self._edge.interval_s("aligned"),
            sample=lambda: self._meter.sample(),
            aligned=lambda due: self._meter.clock_aligned(due),
            transaction_open=self._transaction_open,
        )
        self._background = Background()
        self._triggers = Triggers(self._background.spawn)
        self._subscriptions: list[Callable[[], None]] = []

    def _follow(self, bus: EventBus) -> None:
        """The end of construction: settle the last run's transaction, then follow the charger.

        The firmware link is made here, after the version's sender: attaching it hands
        over what the launcher reported about this start, which wakes the sender.
        """
        if self._installer is not None:
            self._firmware = FirmwareUpdates(
                self._installer,
                status_action=self._FIRMWARE_STATUS,
                queue=self._queue,
                wake_sender=self._sender.wake,
                session_active=self._charging_session_active,
                restart=lambda: self._restart(hard=False, reason="FirmwareUpdate"),
                seclog=self._seclog,
            )
        self._session = Session(
            transport=self._transport,
            clock=self._clock,
            link=self._link,
            edge=self._edge,
            routes=lambda: self._routes,
            deliver=self._sender.run,
            boot_retry_s=self._options.boot_retry_s,
            task_prefix=self._TASK_PREFIX,
        )
        self._tx.end_stale()
        self._subscriptions = [
            bus.subscribe(SessionStarted, self._tx.session_started),
            bus.subscribe(SessionEnded, self._tx.session_ended),
            bus.subscribe(EvseStateChanged, lambda _: self._evse_changed(rate=False)),
            bus.subscribe(OfferedCurrentChanged, lambda _: self._evse_changed(rate=True)),
        ]

    # ================================================================== public surface

    @property
    def queue(self) -> MessageQueue:
        """The persistent message queue."""
        return self._queue

    @property
    def transaction(self) -> TxT | None:
        """The open transaction, if any."""
        return self._tx.state.current

    @property
    def operative(self) -> bool:
        """False while the CSMS has the charger out of service (ChangeAvailability)."""
        return self._availability.operative

    @property
    def online(self) -> bool:
        """True while connected and registered (BootNotification accepted)."""
        return self._link.online

    async def run(self) -> None:
        """Connect, reconnect, sample and deliver until :meth:`stop` (or cancellation)."""
        prefix = self._TASK_PREFIX
        tasks = [
            asyncio.create_task(self._session.run(), name=f"{prefix}-transport"),
            asyncio.create_task(self._sampling.run(), name=f"{prefix}-meter"),
            asyncio.create_task(guard(self._security_event_loop), name=f"{prefix}-seclog"),
        ]
        if self._smart is not None:
            tasks.append(asyncio.create_task(guard(self._smart.run), name=f"{prefix}-profiles"))
        try:
            await self._stopping.wait()
        finally:
            background = self._background.tasks()
            for task in [*tasks, *background]:
                task.cancel()
            await asyncio.gather(*tasks, *background, return_exceptions=True)

    def stop(self) -> None:
        """End :meth:`run`. An open transaction is ended as ``Reboot`` at the next start."""
        self._tx.state.set_end_reason("Reboot")
        self._stopping.set()

    def close(self) -> None:
        """Stop following the charger and close the queue (after :meth:`run` has returned)."""
        for unsubscribe in self._subscriptions:
            unsubscribe()
        self._queue.close()

    def forget_backend(self) -> int:
        """Drop all this client holds for its CSMS; returns how many queued messages went.

        For the owner re-pointing the charger (regulation 6): the old back end's
        undelivered messages, its open transaction and its charging profiles must
        not reach or bind the next back end. Call after :meth:`run` has returned.
        """
        self._tx.state.forget()
        self._security.forget()
        self._availability.forget()
        if self._smart is not None:
            self._smart.forget()
        return self._queue.discard_all()

    async def wait_until_drained(self, timeout_s: float) -> bool:
        """Wait (on the clock) until the queue is empty; False if ``timeout_s`` passed first."""
        drained = self._sender.drained
        if drained.is_set():
            return True
        waiter = asyncio.ensure_future(drained.wait())
        timer = asyncio.ensure_future(self._clock.sleep(timeout_s))
        try:
            await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            timer.cancel()
        return drained.is_set()

    # ================================================================== security events

    async def _security_event_loop(self) -> None:
        # Other modules write the security log directly: follow its critical records.
        await self._security_events.follow(self._options.security_event_poll_s)

    # ================================================================== transactions

    def _transactions_context(self) -> TransactionsContext:
        """What the version's transactions block may use of this client."""
        options = self._options
        return TransactionsContext(
            remote_start_cause=remote_start_cause(
                randomised=options.csms_randomises_delay, dsr=options.dsr_provider
            ),
            port=self._port,
            clock=self._clock,
            queue=self._queue,
            availability=self._availability,
            wake_sender=lambda: self._sender.wake(),
            status_changed=lambda: self._session.status_changed(),
            transaction_changed=self._transaction_changed,
            online=lambda: self._link.online,
            call=self._link.call,
        )

    def _transaction_changed(self) -> None:
        self._sender.wake()
        self._session.status_changed()
        if self._smart is not None:
            self._smart.transaction_changed()

    def _meter_context(self) -> MeterContext:
        """What the version's meter values may use of this client."""
        return MeterContext(
            port=self._port,
            clock=self._clock,
            queue=self._queue,
            wake_sender=lambda: self._sender.wake(),
            send_live=lambda message: self._session.send_live(message),
        )

    def _evse_changed(self, *, rate: bool) -> None:
        self._session.status_changed()
        self._tx.evse_changed(rate=rate)

    def _charging_session_active(self) -> bool:
        return self._tx.state.current is not None or self._port.snapshot().ev_connected

    def _transaction_open(self) -> bool:
        return self._tx.state.current is not None

    # ================================================================== availability

    def _availability_changed(self) -> None:
        self._session.status_changed()
        self._tx.availability_changed()

    # ================================================================== reset and restart

    async def _restart(self, *, hard: bool, reason: str) -> None:
        """Deliver the queue (for at most ``reset_flush_s``), then restart the charger.

        ``reason`` says why, for a version whose BootNotification tells the CSMS.
        """
        self._edge.note_boot_reason(reason)
        self._security_events.queue_new()
        if not await self.wait_until_drained(self._options.reset_flush_s):
            _log.warning("restarting with %d messages still queued", len(self._queue))
        self._port.reset(hard)

    def _reconnect_if_asked(self) -> None:
        """Reconnect after a change of the security profile or the authorization key."""
        if self._security.take_reconnect_request():
            self._background.spawn(self._reconnect_when_idle())

    async def _reconnect_when_idle(self) -> None:
        # Not in the middle of one of our calls: closing then would lose its answer.
        async with self._link.idle():
            await self._transport.reconnect()

    # ================================================================== routes

    def _shared_routes(self, result: Result) -> list[Route]:
        """The routes both versions answer alike, with the version's ``result`` builder."""
        return [
            *authorization.routes(result),
            *vendor.routes(result, self._port.cancel_random_delay),
            *logs.routes(self._uploads, result, self._background.adopt),
        ]

    def _send_later(self, messages: list[Any]) -> None:
        """Send ``messages`` now, in order, outside the queue (answers to the CSMS's requests)."""
        self._background.spawn(self._send_in_order(messages))

    async def _send_in_order(self, messages: list[Any]) -> None:
        for message in messages:
            await self._link.send_now(message)

    # ================================================================== GetLog and firmware

    async def _notify_log_status(self, status: str, request_id: int) -> None:
        await self._link.send_now(
            self._edge.message("LogStatusNotification", status=status, request_id=request_id)
        )

    def _upload_policy(self) -> TargetPolicy:
        """Where GetLog may upload to, under the transport's settings now."""
        plain = self._options.allow_plain_http_upload
        return TargetPolicy(
            allow_plain_http=(not self._transport.config.secure) if plain is None else plain,
            allow_private=self._options.allow_private_targets,
            ca_file=self._transport.config.ca_file,
        )

    # ================================================================== triggered messages


    # ================================================================== settings

    def _wake_for(self, which: Interval | None) -> None:
        """A setting changed: the loop of ``which`` looks again."""
        if which == "heartbeat":
            self._session.heartbeat_interval_changed()
        elif which == "sampled":
            self._sampling.sampled_interval_changed()
        elif which == "aligned":
            self._sampling.aligned_interval_changed()
