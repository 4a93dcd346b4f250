"""The OCPP 1.6J charge point client: the charger's side of its link to the CSMS.

One long-lived :class:`OcppClient16` per charger. It

* follows the charger through the event bus: a plug-in (``SessionStarted``)
  begins a transaction, an unplug ends it, EVSE state changes become
  StatusNotifications;
* samples the meter for MeterValues every MeterValueSampleInterval during a
  transaction, and at each ClockAlignedDataInterval boundary;
* writes transaction messages and critical security events to a persistent
  queue first; :class:`~ukscp.ocpp.v16.sender.QueueSender16` delivers them in
  order whenever the CSMS is reachable, so nothing the charger does waits on
  the network (regulation 7);
* answers the CSMS's requests (remote start/stop, reset, configuration, GetLog,
  smart charging, ChangeAvailability, TriggerMessage and ExtendedTriggerMessage)
  through the narrow :class:`~ukscp.ocpp.port.ChargerPort`.

Each connection gets a fresh :class:`~ukscp.ocpp.v16.charge_point.ChargePoint16`
from the ``ocpp`` library; everything that outlives a connection lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

import ukscp
from ukscp.clock import Alarm, Clock
from ukscp.events import (
    EventBus,
    EvseStateChanged,
    OfferedCurrentChanged,
    SessionEnded,
    SessionStarted,
)
from ukscp.ocpp.availability import Availability
from ukscp.ocpp.firmware import STATUS_16, FirmwareUpdates
from ukscp.ocpp.link import CsmsLink, CsmsRefused
from ukscp.ocpp.log_upload import LogUploads
from ukscp.ocpp.meter_values import (
    ENERGY_IMPORT,
    SAMPLE_CLOCK,
    SAMPLE_PERIODIC,
    next_aligned,
    ocpp_time,
)
from ukscp.ocpp.port import ChargerPort, KeyValueStore
from ukscp.ocpp.queue import MessageQueue, QueuedMessage
from ukscp.ocpp.security_keys import SecurityKeys
from ukscp.ocpp.transport import CsmsTransport
from ukscp.ocpp.trigger import (
    READING_CONTEXT,
    Triggerable,
    Triggers,
    TriggerTarget,
    firmware_status_now,
    send_live,
)
from ukscp.ocpp.v16 import configuration as cfg
from ukscp.ocpp.v16._lib import request
from ukscp.ocpp.v16.charge_point import ChargePoint16
from ukscp.ocpp.v16.configuration import Configuration, ExternalKey
from ukscp.ocpp.v16.meter_values import meter_value
from ukscp.ocpp.v16.sender import QueueSender16, id_tag_status
from ukscp.ocpp.v16.smart import SmartChargingHandler
from ukscp.ocpp.v16.status import NO_ERROR, connector_status, core_firmware_status
from ukscp.ocpp.v16.transactions import (
    OpenTransaction,
    TransactionState,
    start_payload,
    stop_payload,
)
from ukscp.security.firmware_install import FirmwareInstaller
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)

LOCAL_ID_TAG = "ukscp-owner"
"""The id tag of the owner's own sessions (a home charger has no card reader)."""

CONNECTOR_ID = 1
_IDLE_S = 3600.0  # how long a loop with nothing to do sleeps before looking again
_RANDOM_DELAY_MAX_S = 1800


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What BootNotification says about this charger."""

    vendor: str = "ukscp"
    model: str = "ukscp"
    serial_number: str | None = None
    firmware_version: str = ukscp.__version__


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Tunables of the client (the defaults suit a real charger)."""

    boot: BootInfo = field(default_factory=BootInfo)
    local_id_tag: str = LOCAL_ID_TAG
    response_timeout_s: float = 30.0  # real seconds for the CSMS to answer one call
    boot_retry_s: float = 60.0  # when Pending/Rejected come without an interval
    reset_flush_s: float = 10.0  # how long a reset waits for the queue to drain
    security_event_poll_s: float = 60.0  # a look for records written by another process
    upload_timeout_s: float = 60.0
    allow_plain_http_upload: bool | None = None  # None: where the transport allows ws://


class OcppClient16:
    """The OCPP 1.6J client of one charger; see the module docstring.

    Construct it once in the composition root (before the charger starts, so it
    sees the first session), then ``await run()`` in a task; :meth:`stop` ends
    it and :meth:`close` closes its queue.
    """

    def __init__(
        self,
        *,
        transport: CsmsTransport,
        port: ChargerPort,
        bus: EventBus,
        clock: Clock,
        seclog: SecurityLog,
        queue: MessageQueue,
        store: KeyValueStore,
        options: ClientOptions | None = None,
        smart_charging: SmartChargingHandler | None = None,
        firmware: FirmwareInstaller | None = None,
    ) -> None:
        if transport.config.version != "1.6":
            raise ValueError(f"OcppClient16 speaks OCPP 1.6, not {transport.config.version}")
        self._transport = transport
        self._port = port
        self._clock = clock
        self._seclog = seclog
        self._queue = queue
        self._options = options or ClientOptions()
        self._smart = smart_charging
        self._link = CsmsLink()
        self._security = SecurityKeys(transport, seclog, store)
        self._config = Configuration(
            store, external=self._external_keys(), on_change=self._config_changed
        )
        self._sender = QueueSender16(
            queue=queue,
            seclog=seclog,
            config=self._config,
            clock=clock,
            link=self._link,
            before_sending=self._before_sending,
        )
        self._uploads = LogUploads(
            clock=clock,
            seclog=seclog,
            identity=transport.config.identity,
            allow_plain_http=self._allow_plain_http_upload,
            ca_file=lambda: self._transport.config.ca_file,
            notify=self._notify_log_status,
            timeout_s=self._options.upload_timeout_s,
        )
        self._transactions = TransactionState(store)
        self._status_dirty = asyncio.Event()
        # Before the charger starts: a charger taken out of service stays out after a restart.
        self._availability = Availability(store, port, self._availability_changed)
        self._waiting_session = False  # an EV plugged in while out of service
        self._installer = firmware
        self._firmware = (
            None
            if firmware is None
            else FirmwareUpdates(
                firmware,
                status_action=STATUS_16,
                queue=queue,
                wake_sender=self._sender.wake,
                session_active=self._charging_session_active,
                restart=lambda: self._restart(hard=False),
                seclog=seclog,
            )
        )
        self._stopping = asyncio.Event()
        self._boot_alarm = Alarm(clock)
        self._heartbeat_alarm = Alarm(clock)
        self._sample_alarm = Alarm(clock)
        self._aligned_alarm = Alarm(clock)
        self._finished = False  # a transaction ended while the EV stays plugged in
        self._authorize_first: set[str] = set()  # transactions to Authorize before starting
        self._pending_remote: tuple[str, float] | None = None  # (id tag, monotonic deadline)
        self._background: set[asyncio.Task[Any]] = set()
        self._triggers = Triggers(self._spawn)
        if smart_charging is not None:
            smart_charging.attach(self)
        self._end_stale_transaction()
        self._subscriptions = [
            bus.subscribe(SessionStarted, self._on_session_started),
            bus.subscribe(SessionEnded, self._on_session_ended),
            bus.subscribe(EvseStateChanged, lambda _: self._status_dirty.set()),
            bus.subscribe(OfferedCurrentChanged, lambda _: self._status_dirty.set()),
        ]

    # ================================================================== public surface

    @property
    def configuration(self) -> Configuration:
        """The configuration keys (GetConfiguration/ChangeConfiguration)."""
        return self._config

    @property
    def queue(self) -> MessageQueue:
        """The persistent message queue."""
        return self._queue

    @property
    def transaction(self) -> OpenTransaction | None:
        """The open transaction, if any."""
        return self._transactions.current

    @property
    def operative(self) -> bool:
        """False while the CSMS has the charger out of service (ChangeAvailability)."""
        return self._availability.operative

    @property
    def online(self) -> bool:
        """True while connected and registered (BootNotification accepted)."""
        return self._link.online

    def transaction_id(self) -> int | None:
        """The CSMS's id of the open transaction, once its start was answered."""
        transaction = self._transactions.current
        return None if transaction is None else self._queue.transaction_id(transaction.ref)

    async def run(self) -> None:
        """Connect, reconnect, sample and deliver until :meth:`stop` (or cancellation)."""
        tasks = [
            asyncio.create_task(self._transport.run(self._session), name="ocpp-transport"),
            asyncio.create_task(self._guard(self._sampled_loop), name="ocpp-sampled"),
            asyncio.create_task(self._guard(self._aligned_loop), name="ocpp-aligned"),
            asyncio.create_task(self._guard(self._security_event_loop), name="ocpp-seclog"),
        ]
        if self._smart is not None:
            tasks.append(asyncio.create_task(self._guard(self._smart.run), name="ocpp-profiles"))
        try:
            await self._stopping.wait()
        finally:
            for task in [*tasks, *self._background]:
                task.cancel()
            await asyncio.gather(*tasks, *self._background, return_exceptions=True)

    def stop(self) -> None:
        """End :meth:`run`. An open transaction is ended as ``Reboot`` at the next start."""
        self._transactions.set_end_reason("Reboot")
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
        self._transactions.forget()
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

    # ================================================================== one connection

    async def _session(self, connection: ClientConnection) -> None:
        cp = ChargePoint16(
            self._transport.config.identity, connection, self, self._options.response_timeout_s
        )
        self._link.attach(cp)
        receiver = asyncio.create_task(cp.start(), name="ocpp-receive")
        worker = asyncio.create_task(self._registered(), name="ocpp-registered")
        try:
            done, _ = await asyncio.wait({receiver, worker}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                problem = task.exception()
                if problem is not None and not isinstance(problem, ConnectionClosed):
                    _log.error("OCPP session failed: %r", problem, exc_info=problem)
        finally:
            self._link.detach()
            for task in (receiver, worker):
                task.cancel()
            await asyncio.gather(receiver, worker, return_exceptions=True)

    async def _registered(self) -> None:
        await self._boot()
        self._link.registered()
        await asyncio.gather(self._heartbeat_loop(), self._status_loop(), self._sender.run())

    def _boot_message(self) -> Any:
        boot = self._options.boot
        return request(
            "BootNotification",
            charge_point_vendor=boot.vendor,
            charge_point_model=boot.model,
            charge_point_serial_number=boot.serial_number,
            firmware_version=boot.firmware_version,
        )

    async def _boot(self) -> None:
        """BootNotification until Accepted, waiting the interval the CSMS gives in between.

        A TriggerMessage(BootNotification) cuts the wait short (section 4.2: not
        earlier "unless requested to do so with a TriggerMessage.req").
        """
        message = self._boot_message()
        while True:
            try:
                answer = await self._link.call(message)
            except (CsmsRefused, TimeoutError) as exc:
                _log.warning("BootNotification not answered: %s", exc)
                await self._clock.sleep(self._options.boot_retry_s)
                continue
            status, interval = str(answer.status), int(answer.interval)
            if status == "Accepted":
                _log.info("registered with the CSMS (heartbeat every %d s)", interval)
                if interval > 0:
                    self._config.set_value(cfg.HEARTBEAT_INTERVAL, str(interval))
                return
            wait = interval if interval > 0 else self._options.boot_retry_s
            _log.info("BootNotification %s: trying again in %s s", status, wait)
            await self._boot_alarm.sleep(wait)

    async def _heartbeat_loop(self) -> None:
        last = self._clock.monotonic()
        while True:
            interval = self._config.int_value(cfg.HEARTBEAT_INTERVAL)
            remaining = last + interval - self._clock.monotonic()
            if interval > 0 and remaining <= 0:
                last = self._clock.monotonic()
                with contextlib.suppress(CsmsRefused, TimeoutError):
                    await self._link.call(request("Heartbeat"))
                continue
            await self._heartbeat_alarm.sleep(remaining if interval > 0 else _IDLE_S)

    async def _status_loop(self) -> None:
        """StatusNotification for the charger (0) and connector 1, at first and on every change."""
        sent: dict[int, tuple[str, str]] = {}
        while True:
            self._status_dirty.clear()
            for connector_id, current in self._statuses().items():
                if sent.get(connector_id) == current:
                    continue
                try:
                    await self._link.call(self._status_message(connector_id, *current))
                except (CsmsRefused, TimeoutError) as exc:
                    _log.warning("StatusNotification refused: %s", exc)
                # Even if refused: do not loop on a CSMS that refuses it.
                sent[connector_id] = current
            if not self._status_dirty.is_set():
                await self._status_dirty.wait()

    def _statuses(self) -> dict[int, tuple[str, str]]:
        """``(status, error code)`` now of the charge point (0) and of connector 1."""
        operative = self._availability.operative
        return {
            0: ("Available" if operative else "Unavailable", NO_ERROR),
            CONNECTOR_ID: connector_status(
                self._port.snapshot(),
                self._transactions.current is not None,
                self._finished,
                operative,
            ),
        }

    def _status_message(self, connector_id: int, status: str, error: str) -> Any:
        return request(
            "StatusNotification",
            connector_id=connector_id,
            error_code=error,
            status=status,
            timestamp=ocpp_time(self._clock.now()),
        )

    async def _before_sending(self, message: QueuedMessage, payload: dict[str, Any]) -> None:
        """Authorize the owner's tag just before the start of a session begun online."""
        if message.action != "StartTransaction" or message.tx_ref not in self._authorize_first:
            return
        self._authorize_first.discard(message.tx_ref)
        id_tag = str(payload["id_tag"])
        try:
            answer = await self._link.call(request("Authorize", id_tag=id_tag))
        except (CsmsRefused, TimeoutError) as exc:
            _log.info("Authorize not answered (%s): charging as the owner anyway", exc)
            return
        status = id_tag_status(answer.id_tag_info)
        if status != "Accepted":
            _log.warning("the CSMS does not accept id tag %r (%s)", id_tag, status)

    # ================================================================== meter values

    async def _sampled_loop(self) -> None:
        """MeterValues every MeterValueSampleInterval while a transaction is open."""
        last = self._clock.monotonic()
        while True:
            interval = self._config.int_value(cfg.METER_VALUE_SAMPLE_INTERVAL)
            remaining = last + interval - self._clock.monotonic()
            if interval > 0 and remaining <= 0:
                last = self._clock.monotonic()
                transaction = self._transactions.current
                if transaction is not None:
                    measurands = self._config.measurands(cfg.METER_VALUES_SAMPLED_DATA)
                    self._queue_meter_values(measurands, SAMPLE_PERIODIC, None, transaction)
                continue
            await self._sample_alarm.sleep(remaining if interval > 0 else _IDLE_S)

    async def _aligned_loop(self) -> None:
        """MeterValues at each ClockAlignedDataInterval boundary (counted from midnight)."""
        while True:
            interval = self._config.int_value(cfg.CLOCK_ALIGNED_DATA_INTERVAL)
            if interval <= 0:
                await self._aligned_alarm.sleep(_IDLE_S)
                continue
            now = self._clock.now()
            due = next_aligned(now, interval)
            await self._aligned_alarm.sleep((due - now).total_seconds())
            if self._clock.now() < due:
                continue  # woken early: the interval changed
            measurands = self._config.measurands(cfg.METER_VALUES_ALIGNED_DATA)
            self._queue_meter_values(measurands, SAMPLE_CLOCK, due, self._transactions.current)

    def _queue_meter_values(
        self,
        measurands: tuple[str, ...],
        context: str,
        at: datetime | None,
        transaction: OpenTransaction | None,
    ) -> None:
        if not measurands:
            return
        value = meter_value(self._port.snapshot(), measurands, context, at or self._clock.now())
        self._queue.put(
            "MeterValues",
            {"connector_id": CONNECTOR_ID, "meter_value": [value]},
            tx_ref=transaction.ref if transaction else None,
        )
        self._sender.wake()

    async def _security_event_loop(self) -> None:
        # Other modules write the security log directly: follow its critical records.
        await self._sender.follow_security_log(self._options.security_event_poll_s)

    # ================================================================== transactions

    def _on_session_started(self, event: SessionStarted) -> None:
        self._finished = False
        if self._transactions.current is not None:
            self._end_transaction("Other", event.at, event.energy_register_wh)
        if not self._availability.operative:
            # Out of service: no transaction starts (it may when made Operative again).
            self._waiting_session = True
            self._status_dirty.set()
            return
        id_tag, remote = self._take_pending_remote_start()
        self._begin_transaction(
            event.session_id, id_tag, event.energy_register_wh, event.at, authorize=not remote
        )

    def _on_session_ended(self, event: SessionEnded) -> None:
        self._waiting_session = False
        if self._transactions.current is not None:
            snapshot = self._port.snapshot()
            self._end_transaction("EVDisconnected", event.at, snapshot.energy_import_wh)
        self._finished = False
        self._status_dirty.set()

    def _begin_transaction(
        self, session_id: str | None, id_tag: str, meter_wh: float, at: datetime, *, authorize: bool
    ) -> None:
        transaction = self._transactions.begin(session_id, id_tag, meter_wh, at)
        if authorize and self.online:
            self._authorize_first.add(transaction.ref)
        payload = start_payload(CONNECTOR_ID, id_tag, meter_wh, ocpp_time(at))
        self._queue.put("StartTransaction", payload, tx_ref=transaction.ref)
        self._transaction_changed()

    def _end_transaction(self, reason: str, at: datetime, meter_wh: float) -> None:
        transaction = self._transactions.end()
        if transaction is None:
            return
        payload = stop_payload(transaction.id_tag, meter_wh, ocpp_time(at), reason)
        self._queue.put("StopTransaction", payload, tx_ref=transaction.ref)
        self._authorize_first.discard(transaction.ref)
        self._finished = self._port.snapshot().ev_connected
        self._transaction_changed()
        self._availability.transaction_ended()  # a Scheduled Inoperative applies now

    def _transaction_changed(self) -> None:
        self._sender.wake()
        self._status_dirty.set()
        if self._smart is not None:
            self._smart.transaction_changed()

    def _end_stale_transaction(self) -> None:
        """A transaction open when the charger last stopped cannot go on: sessions restart."""
        stale = self._transactions.current
        if stale is None:
            return
        reason = stale.end_reason or "PowerLoss"
        _log.info("ending the transaction left open by the last run (%s)", reason)
        self._end_transaction(reason, self._clock.now(), self._port.snapshot().energy_import_wh)
        self._finished = False

    def _take_pending_remote_start(self) -> tuple[str, bool]:
        pending, self._pending_remote = self._pending_remote, None
        if pending is not None and self._clock.monotonic() <= pending[1]:
            return pending[0], True
        return self._options.local_id_tag, False

    # ================================================================== the CSMS's requests

    def remote_start(
        self, id_tag: str, connector_id: int | None, charging_profile: dict[str, Any] | None
    ) -> str:
        """Start charging for ``id_tag``: at once if the EV is plugged in, else at plug-in.

        With a transaction already open (the owner's, begun at plug-in) the
        request still starts charging, within that transaction: the CSMS relays
        the owner's "charge now".
        """
        if connector_id not in (None, CONNECTOR_ID) or not self._availability.operative:
            return "Rejected"
        if (
            charging_profile is not None
            and self._smart is not None
            and not self._smart.accept_remote_start_profile(charging_profile)
        ):
            return "Rejected"
        if not self._port.remote_start(id_tag):
            return "Rejected"
        if self._transactions.current is not None:
            return "Accepted"
        snapshot = self._port.snapshot()
        if snapshot.ev_connected:
            self._finished = False
            now = self._clock.now()
            self._begin_transaction(
                snapshot.session_id, id_tag, snapshot.energy_import_wh, now, authorize=False
            )
        else:
            timeout = self._config.int_value(cfg.CONNECTION_TIMEOUT)
            self._pending_remote = (id_tag, self._clock.monotonic() + timeout)
        return "Accepted"

    def remote_stop(self, transaction_id: int) -> str:
        """Stop charging and end the transaction, if ``transaction_id`` is the one open."""
        if self.transaction_id() != transaction_id or not self._port.remote_stop():
            return "Rejected"
        snapshot = self._port.snapshot()
        self._end_transaction("Remote", self._clock.now(), snapshot.energy_import_wh)
        return "Accepted"

    def change_availability(self, connector_id: int, kind: str) -> str:
        """ChangeAvailability (section 5.2): connector 0 (the charge point) or 1 alike.

        Inoperative while a transaction runs is Scheduled for its end.
        """
        if connector_id not in (0, CONNECTOR_ID):
            return "Rejected"
        return self._availability.change(
            kind == "Operative", transaction_open=self._transactions.current is not None
        )

    def _availability_changed(self) -> None:
        self._status_dirty.set()
        snapshot = self._port.snapshot()
        if (
            self._availability.operative
            and self._waiting_session
            and self._transactions.current is None
            and snapshot.ev_connected
        ):
            # Back in service with the EV still plugged in: its session starts now,
            # as at a plug-in.
            self._waiting_session = False
            self._begin_transaction(
                snapshot.session_id,
                self._options.local_id_tag,
                snapshot.energy_import_wh,
                self._clock.now(),
                authorize=True,
            )

    def trigger_message(self, requested: str, connector_id: int | None) -> str:
        """Core TriggerMessage (section 5.17): Accepted, Rejected or NotImplemented."""
        return self._triggers.answer(
            self._core_triggers(),
            requested,
            TriggerTarget(connector_id),
            target_exists=connector_id in (None, 0, CONNECTOR_ID),
        )

    def extended_trigger_message(self, requested: str, connector_id: int | None) -> str:
        """ExtendedTriggerMessage (security whitepaper): as TriggerMessage, plus the log upload.

        SignChargePointCertificate is NotImplemented: this charger does not make
        its own key pair and CSR (SignCertificate), so it cannot honour it.
        """
        return self._triggers.answer(
            self._extended_triggers(),
            requested,
            TriggerTarget(connector_id),
            target_exists=connector_id in (None, 0, CONNECTOR_ID),
        )

    def after_trigger_message(self, requested: str) -> None:
        """Send the message an accepted (Extended)TriggerMessage asked for."""
        self._triggers.after(requested)

    def _common_triggers(self) -> dict[str, Triggerable]:
        return {
            "BootNotification": Triggerable(self._trigger_boot),
            "Heartbeat": Triggerable(self._trigger_heartbeat),
            "MeterValues": Triggerable(self._trigger_meter_values),
            "StatusNotification": Triggerable(self._trigger_status),
        }

    def _core_triggers(self) -> dict[str, Triggerable]:
        return {
            **self._common_triggers(),
            "FirmwareStatusNotification": Triggerable(self._trigger_core_firmware_status),
            # GetDiagnostics is not offered (GetLog is): never uploading, always Idle.
            "DiagnosticsStatusNotification": Triggerable(self._trigger_diagnostics_status),
        }

    def _extended_triggers(self) -> dict[str, Triggerable]:
        return {
            **self._common_triggers(),
            # The whitepaper: FirmwareStatusNotification here means its
            # SignedFirmwareStatusNotification (the signed update's progress).
            "FirmwareStatusNotification": Triggerable(self._trigger_signed_firmware_status),
            "LogStatusNotification": Triggerable(self._trigger_log_status),
        }

    async def _trigger_boot(self, _: TriggerTarget) -> None:
        if not self._link.online:
            self._boot_alarm.wake()  # Pending or Rejected: the boot loop sends it now
            return
        answer = await send_live(self._link, self._boot_message())
        if answer is not None and str(answer.status) == "Accepted" and int(answer.interval) > 0:
            self._config.set_value(cfg.HEARTBEAT_INTERVAL, str(int(answer.interval)))

    async def _trigger_heartbeat(self, _: TriggerTarget) -> None:
        await send_live(self._link, request("Heartbeat"))

    async def _trigger_status(self, target: TriggerTarget) -> None:
        """The status now, sent even if unchanged; no connector named: both (section 5.17)."""
        for connector_id, (status, error) in self._statuses().items():
            if target.evse_id in (None, connector_id):
                await send_live(self._link, self._status_message(connector_id, status, error))

    async def _trigger_meter_values(self, target: TriggerTarget) -> None:
        """The latest reading of every MeterValuesSampledData measurand (section 5.17)."""
        measurands = self._config.measurands(cfg.METER_VALUES_SAMPLED_DATA) or (ENERGY_IMPORT,)
        value = meter_value(self._port.snapshot(), measurands, READING_CONTEXT, self._clock.now())
        connector_id = CONNECTOR_ID if target.evse_id is None else target.evse_id
        transaction_id = self.transaction_id() if connector_id == CONNECTOR_ID else None
        message = request(
            "MeterValues",
            connector_id=connector_id,
            transaction_id=transaction_id,
            meter_value=[value],
        )
        await send_live(self._link, message)

    async def _trigger_core_firmware_status(self, _: TriggerTarget) -> None:
        status, _request_id = firmware_status_now(self._installer)
        message = request("FirmwareStatusNotification", status=core_firmware_status(status))
        await send_live(self._link, message)

    async def _trigger_signed_firmware_status(self, _: TriggerTarget) -> None:
        status, request_id = firmware_status_now(self._installer)
        message = request(STATUS_16, status=status, request_id=request_id)
        await send_live(self._link, message)

    async def _trigger_diagnostics_status(self, _: TriggerTarget) -> None:
        await send_live(self._link, request("DiagnosticsStatusNotification", status="Idle"))

    async def _trigger_log_status(self, _: TriggerTarget) -> None:
        status, request_id = self._uploads.current()
        message = request("LogStatusNotification", status=status, request_id=request_id)
        await send_live(self._link, message)

    def reset(self, kind: str) -> str:
        """Always accepted: the charger can always restart."""
        return "Accepted"

    def after_reset(self, kind: str) -> None:
        """End the transaction, deliver what can be delivered, then restart the charger."""
        self._spawn(self._reset(kind))

    async def _reset(self, kind: str) -> None:
        self._seclog.record(
            SecurityEventType.RESET_OR_REBOOT, f"{kind} reset requested by the CSMS"
        )
        snapshot = self._port.snapshot()
        self._end_transaction(f"{kind}Reset", self._clock.now(), snapshot.energy_import_wh)
        await self._restart(hard=kind == "Hard")

    async def _restart(self, *, hard: bool) -> None:
        """Deliver the queue (for at most ``reset_flush_s``), then restart the charger."""
        self._sender.queue_security_events()
        if not await self.wait_until_drained(self._options.reset_flush_s):
            _log.warning("restarting with %d messages still queued", len(self._queue))
        self._port.reset(hard)

    def change_configuration(self, key: str, value: str) -> str:
        """ChangeConfiguration through the configuration table."""
        status = self._config.change(key, value)
        _log.info("ChangeConfiguration %s: %s", key, status)
        return status

    def after_change_configuration(self, key: str) -> None:
        """Reconnect after a change of the security profile or the authorization key."""
        if self._security.take_reconnect_request():
            self._spawn(self._reconnect_when_idle())

    async def _reconnect_when_idle(self) -> None:
        # Not in the middle of one of our calls: closing then would lose its answer.
        async with self._link.idle():
            await self._transport.reconnect()

    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration through the configuration table."""
        return self._config.listing(keys)

    def get_log(
        self,
        log_type: str,
        request_id: int,
        remote_location: str,
        retries: int | None,
        retry_interval: int | None,
    ) -> tuple[str, str | None]:
        """Accept a SecurityLog upload to an http(s) location."""
        return self._uploads.accept(log_type, request_id, remote_location, retries, retry_interval)

    def after_get_log(self, request_id: int) -> None:
        """Start the upload accepted by :meth:`get_log`."""
        task = self._uploads.start(request_id)
        if task is not None:
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def signed_update_firmware(self, request: dict[str, Any]) -> str:
        """SignedUpdateFirmware: Rejected unless a firmware installer was given."""
        if self._firmware is None:
            return "Rejected"
        return self._firmware.request(request)

    def after_signed_update_firmware(self, request_id: int) -> None:
        """Start the accepted firmware request (download, verify, wait, install)."""
        task = None if self._firmware is None else self._firmware.start(request_id)
        if task is not None:
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _charging_session_active(self) -> bool:
        return self._transactions.current is not None or self._port.snapshot().ev_connected

    async def _notify_log_status(self, status: str, request_id: int) -> None:
        await self._link.send_now(
            request("LogStatusNotification", status=status, request_id=request_id)
        )

    def _allow_plain_http_upload(self) -> bool:
        allowed = self._options.allow_plain_http_upload
        return (not self._transport.config.secure) if allowed is None else allowed

    def smart_charging_supported(self) -> bool:
        """True when a smart-charging handler was given."""
        return self._smart is not None

    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """SetChargingProfile, handed to the smart-charging handler."""
        assert self._smart is not None
        return self._smart.set_charging_profile(connector_id, profile)

    def clear_charging_profile(self, request: dict[str, Any]) -> str:
        """ClearChargingProfile, handed to the smart-charging handler."""
        assert self._smart is not None
        return self._smart.clear_charging_profile(request)

    def get_composite_schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        """GetCompositeSchedule, handed to the smart-charging handler."""
        assert self._smart is not None
        return self._smart.get_composite_schedule(request)

    # ================================================================== configuration hooks

    def _external_keys(self) -> list[ExternalKey]:
        profiles = "Core,SmartCharging" if self._smart is not None else "Core"
        return [
            ExternalKey("SupportedFeatureProfiles", get=lambda: profiles, set=None),
            ExternalKey(
                cfg.SECURITY_PROFILE,
                get=self._security.security_profile,
                set=self._security.set_security_profile,
            ),
            # Write-only (OCPP 1.6 security whitepaper): never returned by GetConfiguration.
            ExternalKey(cfg.AUTHORIZATION_KEY, get=None, set=self._security.set_authorization_key),
            ExternalKey(
                cfg.UK_RANDOM_DELAY_MAX_DURATION,
                get=lambda: str(self._port.random_delay_max_s()),
                set=self._set_random_delay_max,
            ),
        ]

    def _set_random_delay_max(self, value: str) -> str:
        """Regulation 11's remote setting of the maximum delay (0..1800 s)."""
        try:
            seconds = int(value.strip())
        except ValueError:
            return cfg.REJECTED
        if not 0 <= seconds <= _RANDOM_DELAY_MAX_S:
            return cfg.REJECTED
        try:
            self._port.set_random_delay_max_s(seconds)
        except ValueError:
            return cfg.REJECTED
        return cfg.ACCEPTED

    def _config_changed(self, name: str) -> None:
        alarm = {
            cfg.HEARTBEAT_INTERVAL: self._heartbeat_alarm,
            cfg.METER_VALUE_SAMPLE_INTERVAL: self._sample_alarm,
            cfg.CLOCK_ALIGNED_DATA_INTERVAL: self._aligned_alarm,
        }.get(name)
        if alarm is not None:
            alarm.wake()

    # ================================================================== helpers

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(lambda: work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _guard(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work``, logging a failure instead of losing it in a forgotten task."""
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("OCPP background work failed")
