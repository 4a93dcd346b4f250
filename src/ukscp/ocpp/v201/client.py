"""The OCPP 2.0.1 charging station client: the charger's side of its link to the CSMS.

One long-lived :class:`OcppClient201` per charger, the 2.0.1 sibling of
:class:`~ukscp.ocpp.v16.client.OcppClient16`. It

* registers with BootNotification (B01-B03: Pending and Rejected are retried
  after the interval the CSMS gives), heartbeats (G02) and reports the
  connector's status from the EVSE's IEC 61851 state (G01);
* follows the charger through the event bus: a plug-in (``SessionStarted``)
  begins a transaction, an unplug ends it, and changes of charging state or
  offered current are TransactionEvent Updated (E01-E07), each numbered with
  seqNo;
* samples the meter every SampledDataCtrlr.TxUpdatedInterval during a
  transaction and at each AlignedDataCtrlr.Interval boundary (J01, J02);
* writes transaction messages and critical security events to the persistent
  queue first; the version-neutral :class:`~ukscp.ocpp.sender.QueueSender`
  delivers them in order whenever the CSMS is reachable (regulation 7);
* answers the CSMS's requests (remote start/stop, reset, device model, GetLog,
  smart charging, ChangeAvailability G03/G04, TriggerMessage F06) through the
  narrow :class:`~ukscp.ocpp.port.ChargerPort`.

Each connection gets a fresh :class:`~ukscp.ocpp.v201.charge_point.ChargePoint201`;
everything that outlives a connection lives here.
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
from ukscp.ocpp.availability import REJECTED, Availability
from ukscp.ocpp.firmware import STATUS_201, FirmwareUpdates
from ukscp.ocpp.link import CsmsLink, CsmsRefused
from ukscp.ocpp.log_upload import LogUploads
from ukscp.ocpp.meter_values import (
    CURRENT_OFFERED,
    ENERGY_IMPORT,
    POWER_IMPORT,
    SAMPLE_CLOCK,
    SAMPLE_PERIODIC,
    TRANSACTION_BEGIN,
    TRANSACTION_END,
    next_aligned,
    ocpp_time,
)
from ukscp.ocpp.port import ChargerPort, KeyValueStore
from ukscp.ocpp.queue import MessageQueue, QueuedMessage
from ukscp.ocpp.security_keys import SecurityKeys
from ukscp.ocpp.sender import QueueSender
from ukscp.ocpp.transport import CsmsTransport
from ukscp.ocpp.trigger import (
    READING_CONTEXT,
    Triggerable,
    Triggers,
    TriggerTarget,
    firmware_status_now,
    send_live,
)
from ukscp.ocpp.v201 import device_model as dm
from ukscp.ocpp.v201._lib import request
from ukscp.ocpp.v201.charge_point import ChargePoint201
from ukscp.ocpp.v201.device_model import DeviceModel, ExternalVariable, Name
from ukscp.ocpp.v201.meter_values import meter_value
from ukscp.ocpp.v201.reports import base_report, profile_reports, variable_results
from ukscp.ocpp.v201.smart import SmartCharging201
from ukscp.ocpp.v201.status import charging_state, connector_status
from ukscp.ocpp.v201.transactions import (
    CONNECTOR_ID,
    EVSE_ID,
    OpenTransaction,
    TransactionState,
    id_token,
    transaction_event,
)
from ukscp.security.firmware_install import FirmwareInstaller
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)

BOOT_REASON_KEY = "ocpp.v201.boot_reason"
"""Settings-store key: why the next start happens, when this run caused it."""

OWNER_IDENTIFIER = "ukscp-owner"
"""The idToken of the owner's own sessions (a home charger has no card reader)."""

_IDLE_S = 3600.0  # how long a loop with nothing to do sleeps before looking again
_RANDOM_DELAY_MAX_S = 1800
TRANSACTION_EVENT = "TransactionEvent"


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What BootNotification says about this charging station."""

    vendor: str = "ukscp"
    model: str = "ukscp"
    serial_number: str | None = None
    firmware_version: str = ukscp.__version__


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Tunables of the client (the defaults suit a real charger)."""

    boot: BootInfo = field(default_factory=BootInfo)
    owner_identifier: str = OWNER_IDENTIFIER
    response_timeout_s: float = 30.0  # real seconds for the CSMS to answer one call
    boot_retry_s: float = 60.0  # when Pending/Rejected come without an interval
    reset_flush_s: float = 10.0  # how long a reset waits for the queue to drain
    security_event_poll_s: float = 60.0  # a look for records written by another process
    upload_timeout_s: float = 60.0
    allow_plain_http_upload: bool | None = None  # None: where the transport allows ws://


class OcppClient201:
    """The OCPP 2.0.1 client of one charger; see the module docstring.

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
        smart_charging: SmartCharging201 | None = None,
        firmware: FirmwareInstaller | None = None,
    ) -> None:
        if transport.config.version != "2.0.1":
            raise ValueError(f"OcppClient201 speaks OCPP 2.0.1, not {transport.config.version}")
        self._transport = transport
        self._port = port
        self._store = store
        self._clock = clock
        self._seclog = seclog
        self._queue = queue
        self._options = options or ClientOptions()
        self._smart = smart_charging
        self._link = CsmsLink()
        self._security = SecurityKeys(transport, seclog, store)
        self._model = DeviceModel(
            store, external=self._external_variables(), on_change=self._variable_changed
        )
        self._sender = QueueSender(
            queue=queue,
            seclog=seclog,
            clock=clock,
            link=self._link,
            request=lambda action, payload: request(action, **payload),
            attempts=lambda: self._model.int_value(dm.MESSAGE_ATTEMPTS),
            retry_interval_s=lambda: self._model.int_value(dm.MESSAGE_ATTEMPT_INTERVAL),
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
        # Before the charger starts: a station taken out of service stays out after a restart.
        self._availability = Availability(store, port, self._availability_changed)
        self._waiting_session = False  # an EV plugged in while out of service
        self._installer = firmware
        self._firmware = (
            None
            if firmware is None
            else FirmwareUpdates(
                firmware,
                status_action=STATUS_201,
                queue=queue,
                wake_sender=self._sender.wake,
                session_active=self._charging_session_active,
                restart=lambda: self._restart(hard=False, reason="FirmwareUpdate"),
                seclog=seclog,
            )
        )
        self._stopping = asyncio.Event()
        self._boot_alarm = Alarm(clock)
        self._heartbeat_alarm = Alarm(clock)
        self._sample_alarm = Alarm(clock)
        self._aligned_alarm = Alarm(clock)
        self._authorize_first: set[str] = set()  # transactions to Authorize before starting
        self._pending_remote: tuple[str, int, float] | None = None  # token, id, deadline
        self._reset_when_idle = False
        self._profile_requests: dict[int, dict[int, list[dict[str, Any]]]] = {}
        self._report_requests: dict[int, str] = {}  # request id -> report base
        self._background: set[asyncio.Task[Any]] = set()
        self._triggers = Triggers(self._spawn)
        if smart_charging is not None:
            smart_charging.attach(self)
        self._end_stale_transaction()
        self._subscriptions = [
            bus.subscribe(SessionStarted, self._on_session_started),
            bus.subscribe(SessionEnded, self._on_session_ended),
            bus.subscribe(EvseStateChanged, lambda _: self._evse_changed(rate=False)),
            bus.subscribe(OfferedCurrentChanged, lambda _: self._evse_changed(rate=True)),
        ]

    # ================================================================== public surface

    @property
    def device_model(self) -> DeviceModel:
        """The variables (GetVariables/SetVariables)."""
        return self._model

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
        """False while the CSMS has the station out of service (G03/G04)."""
        return self._availability.operative

    @property
    def online(self) -> bool:
        """True while connected and registered (BootNotification accepted)."""
        return self._link.online

    async def run(self) -> None:
        """Connect, reconnect, sample and deliver until :meth:`stop` (or cancellation)."""
        tasks = [
            asyncio.create_task(self._transport.run(self._session), name="ocpp201-transport"),
            asyncio.create_task(self._guard(self._sampled_loop), name="ocpp201-sampled"),
            asyncio.create_task(self._guard(self._aligned_loop), name="ocpp201-aligned"),
            asyncio.create_task(self._guard(self._security_event_loop), name="ocpp201-seclog"),
        ]
        if self._smart is not None:
            tasks.append(asyncio.create_task(self._guard(self._smart.run), name="ocpp201-profiles"))
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

        For the owner re-pointing the charger (regulation 6). Call after
        :meth:`run` has returned.
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
        cp = ChargePoint201(
            self._transport.config.identity, connection, self, self._options.response_timeout_s
        )
        self._link.attach(cp)
        receiver = asyncio.create_task(cp.start(), name="ocpp201-receive")
        worker = asyncio.create_task(self._registered(), name="ocpp201-registered")
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

    async def _boot(self) -> None:
        """BootNotification until Accepted, waiting the interval the CSMS gives in between."""
        boot = self._options.boot
        station: dict[str, Any] = {
            "model": boot.model,
            "vendor_name": boot.vendor,
            "firmware_version": boot.firmware_version,
        }
        if boot.serial_number is not None:
            station["serial_number"] = boot.serial_number
        # Why this start happened, as the last run left it (B01: RemoteReset after the
        # CSMS's Reset, FirmwareUpdate after an install); anything else is a power-up.
        reason = self._store.get(BOOT_REASON_KEY) or "PowerUp"
        message = request("BootNotification", charging_station=station, reason=reason)
        while True:
            try:
                answer = await self._link.call(message)
            except (CsmsRefused, TimeoutError) as exc:
                _log.warning("BootNotification not answered: %s", exc)
                await self._clock.sleep(self._options.boot_retry_s)
                continue
            status, interval = str(answer.status), int(answer.interval)
            if status == "Accepted":
                self._store.set(BOOT_REASON_KEY, None)
                _log.info("registered with the CSMS (heartbeat every %d s)", interval)
                if interval > 0:
                    self._model.set_value(dm.HEARTBEAT_INTERVAL, str(interval))
                return
            # Pending (B02) or Rejected (B03): nothing else is sent until accepted,
            # unless triggered (F06: a triggered BootNotification cuts the wait short).
            wait = interval if interval > 0 else self._options.boot_retry_s
            _log.info("BootNotification %s: trying again in %s s", status, wait)
            await self._boot_alarm.sleep(wait)

    async def _heartbeat_loop(self) -> None:
        last = self._clock.monotonic()
        while True:
            interval = self._model.int_value(dm.HEARTBEAT_INTERVAL)
            remaining = last + interval - self._clock.monotonic()
            if interval > 0 and remaining <= 0:
                last = self._clock.monotonic()
                with contextlib.suppress(CsmsRefused, TimeoutError):
                    await self._link.call(request("Heartbeat"))
                continue
            await self._heartbeat_alarm.sleep(remaining if interval > 0 else _IDLE_S)

    async def _status_loop(self) -> None:
        """StatusNotification of connector 1 at registration and on every change (G01)."""
        last: str | None = None
        while True:
            self._status_dirty.clear()
            current = connector_status(self._port.snapshot(), self._availability.operative)
            if current != last:
                try:
                    await self._link.call(self._status_message(current))
                except (CsmsRefused, TimeoutError) as exc:
                    _log.warning("StatusNotification refused: %s", exc)
                last = current  # even if refused: do not loop on a CSMS that refuses it
            if not self._status_dirty.is_set():
                await self._status_dirty.wait()

    def _status_message(self, status: str) -> Any:
        return request(
            "StatusNotification",
            timestamp=ocpp_time(self._clock.now()),
            connector_status=status,
            evse_id=EVSE_ID,
            connector_id=CONNECTOR_ID,
        )

    async def _before_sending(self, message: QueuedMessage, payload: dict[str, Any]) -> None:
        """Authorize the owner's token just before the start of a session begun online (C01)."""
        if message.action != TRANSACTION_EVENT or message.tx_ref not in self._authorize_first:
            return
        self._authorize_first.discard(message.tx_ref)
        token = payload.get("id_token")
        if token is None:
            return
        try:
            answer = await self._link.call(request("Authorize", id_token=token))
        except (CsmsRefused, TimeoutError) as exc:
            _log.info("Authorize not answered (%s): charging as the owner anyway", exc)
            return
        info = answer.id_token_info
        status = info.get("status") if isinstance(info, dict) else getattr(info, "status", None)
        if status != "Accepted":
            # TxCtrlr.StopTxOnInvalidId is false: the owner's charger keeps charging.
            _log.warning("the CSMS does not accept idToken %r (%s)", token, status)

    # ================================================================== meter values

    async def _sampled_loop(self) -> None:
        """TransactionEvent Updated every TxUpdatedInterval while a transaction is open (J02)."""
        last = self._clock.monotonic()
        while True:
            interval = self._model.int_value(dm.TX_UPDATED_INTERVAL)
            remaining = last + interval - self._clock.monotonic()
            if interval > 0 and remaining <= 0:
                last = self._clock.monotonic()
                if self._transactions.current is not None:
                    measurands = self._model.measurands(dm.TX_UPDATED_MEASURANDS)
                    self._queue_updated("MeterValuePeriodic", measurands, SAMPLE_PERIODIC)
                continue
            await self._sample_alarm.sleep(remaining if interval > 0 else _IDLE_S)

    async def _aligned_loop(self) -> None:
        """Clock-aligned values at each AlignedDataCtrlr.Interval boundary (J01).

        In a transaction they are a TransactionEvent (so they keep its order and
        seqNo), outside one a MeterValues request.
        """
        while True:
            interval = self._model.int_value(dm.ALIGNED_INTERVAL)
            if interval <= 0:
                await self._aligned_alarm.sleep(_IDLE_S)
                continue
            now = self._clock.now()
            due = next_aligned(now, interval)
            await self._aligned_alarm.sleep((due - now).total_seconds())
            if self._clock.now() < due:
                continue  # woken early: the interval changed
            measurands = self._model.measurands(dm.ALIGNED_MEASURANDS)
            if self._transactions.current is not None:
                self._queue_updated("MeterValueClock", measurands, SAMPLE_CLOCK, at=due)
                continue
            value = meter_value(self._port.snapshot(), measurands, SAMPLE_CLOCK, due)
            if value is not None:
                self._queue.put("MeterValues", {"evse_id": EVSE_ID, "meter_value": [value]})
                self._sender.wake()

    async def _security_event_loop(self) -> None:
        # Other modules write the security log directly: follow its critical records.
        await self._sender.follow_security_log(self._options.security_event_poll_s)

    # ================================================================== transactions

    def _on_session_started(self, event: SessionStarted) -> None:
        if self._transactions.current is not None:
            self._end_transaction("AbnormalCondition", "Other", event.at)
        if not self._availability.operative:
            # Out of service: no transaction starts (it may when made Operative again).
            self._waiting_session = True
            self._status_dirty.set()
            return
        token, remote_start_id = self._take_pending_remote_start()
        self._begin_transaction(
            event.session_id,
            token,
            event.at,
            trigger="RemoteStart" if remote_start_id is not None else "CablePluggedIn",
            remote_start_id=remote_start_id,
        )

    def _on_session_ended(self, event: SessionEnded) -> None:
        self._waiting_session = False
        if self._transactions.current is not None:
            self._end_transaction("EVCommunicationLost", "EVDisconnected", event.at)
        self._status_dirty.set()

    def _evse_changed(self, *, rate: bool) -> None:
        """The EVSE's state or offer changed: the connector status, and the transaction's."""
        self._status_dirty.set()
        transaction = self._transactions.current
        if transaction is None:
            return
        state = charging_state(self._port.snapshot())
        if state != transaction.charging_state:
            self._queue_updated("ChargingStateChanged", (ENERGY_IMPORT,), SAMPLE_PERIODIC)
        elif rate:
            self._queue_updated(
                "ChargingRateChanged", (CURRENT_OFFERED, POWER_IMPORT), SAMPLE_PERIODIC
            )

    def _begin_transaction(
        self,
        session_id: str | None,
        token: str,
        at: datetime,
        *,
        trigger: str,
        remote_start_id: int | None,
    ) -> OpenTransaction:
        transaction = self._transactions.begin(session_id, token, at, remote_start_id)
        if remote_start_id is None and self.online:
            self._authorize_first.add(transaction.transaction_id)
        snapshot = self._port.snapshot()
        state = charging_state(snapshot)
        self._transactions.take_seq_no(state)  # seqNo 0 is the Started event's
        payload = transaction_event(
            event_type="Started",
            at=ocpp_time(at),
            trigger_reason=trigger,
            seq_no=0,
            transaction=transaction,
            charging_state=state,
            offline=not self.online,
            meter_value=meter_value(snapshot, (ENERGY_IMPORT,), TRANSACTION_BEGIN, at),
            with_evse=True,
            with_id_token=True,
        )
        self._queue.put(TRANSACTION_EVENT, payload, tx_ref=transaction.transaction_id)
        self._transaction_changed()
        return transaction

    def _queue_updated(
        self,
        trigger: str,
        measurands: tuple[str, ...],
        context: str,
        *,
        at: datetime | None = None,
        with_id_token: bool = False,
    ) -> None:
        transaction = self._transactions.current
        if transaction is None:
            return
        snapshot = self._port.snapshot()
        state = charging_state(snapshot)
        changed = state != transaction.charging_state
        seq_no = self._transactions.take_seq_no(state)
        when = at or self._clock.now()
        payload = transaction_event(
            event_type="Updated",
            at=ocpp_time(when),
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction=self._transactions.current or transaction,
            # chargingState goes with the event that saw it change (E01.FR.?? practice),
            # and with a triggered one, which reports the transaction as it is now (F06).
            charging_state=(
                state if changed or trigger in ("ChargingStateChanged", "Trigger") else None
            ),
            offline=not self.online,
            meter_value=meter_value(snapshot, measurands, context, when) if measurands else None,
            with_id_token=with_id_token,
        )
        # A periodic sample may give way in a long outage (the cap of the queue); an
        # update that says something changed never does.
        periodic = trigger == "MeterValuePeriodic"
        self._queue.put(
            TRANSACTION_EVENT, payload, tx_ref=transaction.transaction_id, sheddable=periodic
        )
        self._sender.wake()

    def _end_transaction(self, trigger: str, reason: str, at: datetime) -> None:
        current = self._transactions.current
        if current is None:
            return
        seq_no = self._transactions.take_seq_no()
        transaction = self._transactions.end()
        assert transaction is not None
        snapshot = self._port.snapshot()
        payload = transaction_event(
            event_type="Ended",
            at=ocpp_time(at),
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction=transaction,
            charging_state=charging_state(snapshot),
            offline=not self.online,
            meter_value=meter_value(snapshot, (ENERGY_IMPORT,), TRANSACTION_END, at),
            stopped_reason=reason,
        )
        self._queue.put(TRANSACTION_EVENT, payload, tx_ref=transaction.transaction_id)
        self._authorize_first.discard(transaction.transaction_id)
        self._transaction_changed()
        self._availability.transaction_ended()  # a Scheduled Inoperative applies now
        if self._reset_when_idle:
            self._reset_when_idle = False
            self._spawn(self._reset("OnIdle"))

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
        self._end_transaction("AbnormalCondition", reason, self._clock.now())

    def _take_pending_remote_start(self) -> tuple[str, int | None]:
        pending, self._pending_remote = self._pending_remote, None
        if pending is not None and self._clock.monotonic() <= pending[2]:
            return pending[0], pending[1]
        return self._options.owner_identifier, None

    # ================================================================== the CSMS's requests

    def request_start(
        self, id_token: str, remote_start_id: int, evse_id: int | None, profile: Any
    ) -> tuple[str, str | None]:
        """F01/F02: start charging for ``id_token``: at once if plugged in, else at plug-in.

        With a transaction already open (the owner's, begun at plug-in) the
        request still starts charging, within that transaction (F01.FR.?? a
        running transaction is reported back): the CSMS relays the owner's
        "charge now".
        """
        if evse_id not in (None, EVSE_ID) or not self._availability.operative:
            return "Rejected", None
        if profile is not None and (
            self._smart is None or not self._smart.accept_remote_start_profile(profile)
        ):
            return "Rejected", None
        if not self._port.remote_start(id_token):
            return "Rejected", None
        current = self._transactions.current
        if current is not None:
            self._transactions.set_remote_start_id(remote_start_id)
            self._queue_updated("RemoteStart", (), SAMPLE_PERIODIC, with_id_token=True)
            return "Accepted", current.transaction_id
        snapshot = self._port.snapshot()
        if snapshot.ev_connected:
            self._begin_transaction(
                snapshot.session_id,
                id_token,
                self._clock.now(),
                trigger="RemoteStart",
                remote_start_id=remote_start_id,
            )
        else:
            timeout = self._model.int_value(dm.EV_CONNECTION_TIMEOUT)
            self._pending_remote = (id_token, remote_start_id, self._clock.monotonic() + timeout)
        return "Accepted", None

    def request_stop(self, transaction_id: str) -> str:
        """F03: stop charging and end the transaction, if ``transaction_id`` is the one open."""
        current = self._transactions.current
        if current is None or current.transaction_id != transaction_id:
            return "Rejected"
        if not self._port.remote_stop():
            return "Rejected"
        self._end_transaction("RemoteStop", "Remote", self._clock.now())
        return "Accepted"

    def change_availability(
        self, operational_status: str, evse_id: int | None, connector_id: int | None
    ) -> str:
        """G03 (the station) or G04 (EVSE 1 or its connector): all the same on one connector.

        Inoperative while a transaction runs is Scheduled for its end.
        """
        if evse_id not in (None, EVSE_ID) or connector_id not in (None, CONNECTOR_ID):
            return REJECTED
        return self._availability.change(
            operational_status == "Operative",
            transaction_open=self._transactions.current is not None,
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
            # Back in service with the EV still plugged in: its transaction starts
            # now, as at a plug-in.
            self._waiting_session = False
            self._begin_transaction(
                snapshot.session_id,
                self._options.owner_identifier,
                self._clock.now(),
                trigger="CablePluggedIn",
                remote_start_id=None,
            )

    def trigger_message(self, requested: str, evse_id: int | None, connector_id: int | None) -> str:
        """F06: Accepted, Rejected or NotImplemented.

        The certificate triggers (SignChargingStationCertificate, SignV2GCertificate,
        SignCombinedCertificate) are NotImplemented: this station makes no key pair
        and CSR of its own (A02/A03) and speaks no ISO 15118. Neither is it a Local
        Controller (PublishFirmwareStatusNotification).
        """
        return self._triggers.answer(
            self._trigger_table(),
            requested,
            TriggerTarget(evse_id, connector_id),
            target_exists=evse_id in (None, EVSE_ID) and connector_id in (None, CONNECTOR_ID),
        )

    def after_trigger_message(self, requested: str) -> None:
        """Send the message an accepted TriggerMessage asked for."""
        self._triggers.after(requested)

    def _trigger_table(self) -> dict[str, Triggerable]:
        return {
            # F06.FR.17: once Accepted, a BootNotification is not triggered again.
            "BootNotification": Triggerable(
                self._trigger_boot, lambda _: REJECTED if self._link.online else None
            ),
            "Heartbeat": Triggerable(self._trigger_heartbeat),
            "StatusNotification": Triggerable(self._trigger_status),
            "MeterValues": Triggerable(self._trigger_meter_values),
            "TransactionEvent": Triggerable(
                self._trigger_transaction_event,
                lambda _: None if self._transactions.current is not None else REJECTED,
            ),
            "FirmwareStatusNotification": Triggerable(self._trigger_firmware_status),
            "LogStatusNotification": Triggerable(self._trigger_log_status),
        }

    async def _trigger_boot(self, _: TriggerTarget) -> None:
        self._boot_alarm.wake()  # the boot loop, Pending or Rejected, sends it now

    async def _trigger_heartbeat(self, _: TriggerTarget) -> None:
        await send_live(self._link, request("Heartbeat"))

    async def _trigger_status(self, _: TriggerTarget) -> None:
        """Connector 1's status now, even if unchanged."""
        status = connector_status(self._port.snapshot(), self._availability.operative)
        await send_live(self._link, self._status_message(status))

    async def _trigger_meter_values(self, _: TriggerTarget) -> None:
        """The latest reading of every AlignedDataCtrlr.Measurands measurand (F06)."""
        measurands = self._model.measurands(dm.ALIGNED_MEASURANDS) or (ENERGY_IMPORT,)
        snapshot = self._port.snapshot()
        now = self._clock.now()
        value = meter_value(snapshot, measurands, READING_CONTEXT, now) or meter_value(
            snapshot, (ENERGY_IMPORT,), READING_CONTEXT, now
        )
        message = request("MeterValues", evse_id=EVSE_ID, meter_value=[value])
        await send_live(self._link, message)

    async def _trigger_transaction_event(self, _: TriggerTarget) -> None:
        """Updated, triggerReason Trigger, through the queue: its seqNo keeps its place."""
        measurands = self._model.measurands(dm.TX_UPDATED_MEASURANDS) or (ENERGY_IMPORT,)
        self._queue_updated("Trigger", measurands, READING_CONTEXT)

    async def _trigger_firmware_status(self, _: TriggerTarget) -> None:
        status, request_id = firmware_status_now(self._installer)
        await send_live(self._link, request(STATUS_201, status=status, request_id=request_id))

    async def _trigger_log_status(self, _: TriggerTarget) -> None:
        status, request_id = self._uploads.current()
        message = request("LogStatusNotification", status=status, request_id=request_id)
        await send_live(self._link, message)

    def reset(self, kind: str, evse_id: int | None) -> str:
        """B11/B12: the whole station restarts; OnIdle waits for the transaction to end."""
        if evse_id is not None:
            return "Rejected"  # one EVSE: resetting it alone is resetting the station
        if kind == "OnIdle" and self._transactions.current is not None:
            self._reset_when_idle = True
            return "Scheduled"
        return "Accepted"

    def after_reset(self, kind: str) -> None:
        """Carry out an Accepted reset (a Scheduled one waits for the transaction's end)."""
        if kind == "OnIdle" and self._reset_when_idle:
            return
        self._spawn(self._reset(kind))

    async def _reset(self, kind: str) -> None:
        self._seclog.record(
            SecurityEventType.RESET_OR_REBOOT, f"{kind} reset requested by the CSMS"
        )
        self._end_transaction("ResetCommand", "ImmediateReset", self._clock.now())
        await self._restart(hard=kind == "Immediate", reason="RemoteReset")

    async def _restart(self, *, hard: bool, reason: str) -> None:
        """Deliver the queue (for at most ``reset_flush_s``), then restart the charger.

        ``reason`` is the next BootNotification's (BootReasonEnumType).
        """
        self._store.set(BOOT_REASON_KEY, reason)
        self._sender.queue_security_events()
        if not await self.wait_until_drained(self._options.reset_flush_s):
            _log.warning("restarting with %d messages still queued", len(self._queue))
        self._port.reset(hard)

    # -- Firmware (L01) --------------------------------------------------------------------

    def update_firmware(self, request: dict[str, Any]) -> str:
        """L01 UpdateFirmware: Rejected unless a firmware installer was given."""
        if self._firmware is None:
            return "Rejected"
        return self._firmware.request(request)

    def after_update_firmware(self, request_id: int) -> None:
        """Start the accepted firmware request (download, verify, wait, install)."""
        task = None if self._firmware is None else self._firmware.start(request_id)
        if task is not None:
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _charging_session_active(self) -> bool:
        return self._transactions.current is not None or self._port.snapshot().ev_connected

    def get_variables(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """B06: each variable's value, or why not."""
        return variable_results(items, lambda name, kind, _: self._model.get(name, kind))

    def set_variables(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """B05: set each variable; the answer says, per variable, whether it was taken."""

        def setter(name: Name, kind: str, value: str | None) -> tuple[str, str | None]:
            status = self._model.set(name, value or "", kind)
            _log.info("SetVariables %s.%s: %s", name.component, name.variable, status)
            return status, None

        return variable_results(items, setter, setting=True)

    def after_set_variables(self) -> None:
        """Reconnect after a change of the security profile or the Basic auth password."""
        if self._security.take_reconnect_request():
            self._spawn(self._reconnect_when_idle())

    async def _reconnect_when_idle(self) -> None:
        # Not in the middle of one of our calls: closing then would lose its answer.
        async with self._link.idle():
            await self._transport.reconnect()

    def get_base_report(self, request_id: int, report_base: str) -> str:
        """B07: FullInventory lists every variable, ConfigurationInventory the settable ones.

        SummaryInventory (optional in B07) is not offered.
        """
        if report_base not in ("FullInventory", "ConfigurationInventory"):
            return "NotSupported"
        self._report_requests[request_id] = report_base
        return "Accepted"

    def after_get_base_report(self, request_id: int) -> None:
        """NotifyReport, best effort (the CSMS asks again if it is lost)."""
        report_base = self._report_requests.pop(request_id, None)
        if report_base is None:
            return
        entries = self._model.report()
        if report_base == "ConfigurationInventory":
            entries = (e for e in entries if e.mutability != "ReadOnly")
        data = base_report(entries)
        message = request(
            "NotifyReport",
            request_id=request_id,
            generated_at=ocpp_time(self._clock.now()),
            seq_no=0,
            report_data=data,
        )
        self._spawn(self._send_now(message))

    def get_log(
        self,
        log_type: str,
        request_id: int,
        remote_location: str,
        retries: int | None,
        retry_interval: int | None,
    ) -> tuple[str, str | None]:
        """N01: accept a SecurityLog upload to an http(s) location."""
        return self._uploads.accept(log_type, request_id, remote_location, retries, retry_interval)

    def after_get_log(self, request_id: int) -> None:
        """Start the upload accepted by :meth:`get_log`."""
        task = self._uploads.start(request_id)
        if task is not None:
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _notify_log_status(self, status: str, request_id: int) -> None:
        await self._link.send_now(
            request("LogStatusNotification", status=status, request_id=request_id)
        )

    def _allow_plain_http_upload(self) -> bool:
        allowed = self._options.allow_plain_http_upload
        return (not self._transport.config.secure) if allowed is None else allowed

    def set_charging_profile(self, evse_id: int, profile: dict[str, Any]) -> tuple[str, str | None]:
        """K01, handed to the smart-charging handler."""
        if self._smart is None:
            return "Rejected", "smart charging is not enabled"
        return self._smart.set_charging_profile(evse_id, profile)

    def clear_charging_profile(
        self, profile_id: int | None, criteria: dict[str, Any] | None
    ) -> str:
        """K10, handed to the smart-charging handler."""
        if self._smart is None:
            return "Unknown"
        return self._smart.clear_charging_profile(profile_id, criteria)

    def get_composite_schedule(
        self, evse_id: int, duration_s: int, unit: str | None
    ) -> dict[str, Any]:
        """K08, handed to the smart-charging handler."""
        if self._smart is None:
            return {"status": "Rejected"}
        return self._smart.get_composite_schedule(evse_id, duration_s, unit)

    def get_charging_profiles(
        self, request_id: int, evse_id: int | None, criterion: dict[str, Any]
    ) -> str:
        """K09: Accepted when some profile matches (the reports follow), else NoProfiles."""
        if self._smart is None:
            return "NoProfiles"
        found = self._smart.matching_profiles(evse_id, criterion)
        if not found:
            return "NoProfiles"
        self._profile_requests[request_id] = found
        return "Accepted"

    def after_get_charging_profiles(self, request_id: int) -> None:
        """One ReportChargingProfiles per EVSE, ``tbc`` on all but the last."""
        found = self._profile_requests.pop(request_id, None)
        if found is None:
            return
        messages = [
            request("ReportChargingProfiles", **fields)
            for fields in profile_reports(request_id, found)
        ]
        self._spawn(self._send_all(messages))

    async def _send_all(self, messages: list[Any]) -> None:
        for message in messages:
            await self._link.send_now(message)

    async def _send_now(self, message: Any) -> None:
        await self._link.send_now(message)

    # ================================================================== device model hooks

    def _external_variables(self) -> list[ExternalVariable]:
        return [
            # Never lowered over OCPP (A02; DESIGN section 5).
            ExternalVariable(
                dm.SECURITY_PROFILE,
                get=self._security.security_profile,
                set=self._security.set_security_profile,
                data_type="integer",
            ),
            # Write-only (A01): never returned by GetVariables or a report.
            ExternalVariable(
                dm.BASIC_AUTH_PASSWORD, get=None, set=self._security.set_authorization_key
            ),
            ExternalVariable(
                Name(dm.SECURITY, "Identity"),
                get=lambda: self._transport.config.identity,
                set=None,
            ),
            ExternalVariable(
                dm.RANDOM_DELAY_MAX,
                get=lambda: str(self._port.random_delay_max_s()),
                set=self._set_random_delay_max,
                data_type="integer",
                unit="s",
            ),
        ]

    def _set_random_delay_max(self, value: str) -> str:
        """Regulation 11's remote setting of the maximum delay (0..1800 s)."""
        try:
            seconds = int(value.strip())
        except ValueError:
            return dm.REJECTED
        if not 0 <= seconds <= _RANDOM_DELAY_MAX_S:
            return dm.REJECTED
        try:
            self._port.set_random_delay_max_s(seconds)
        except ValueError:
            return dm.REJECTED
        return dm.ACCEPTED

    def _variable_changed(self, name: Name) -> None:
        alarm = {
            dm.HEARTBEAT_INTERVAL: self._heartbeat_alarm,
            dm.TX_UPDATED_INTERVAL: self._sample_alarm,
            dm.ALIGNED_INTERVAL: self._aligned_alarm,
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


__all__ = [
    "OWNER_IDENTIFIER",
    "BootInfo",
    "ClientOptions",
    "OcppClient201",
    "id_token",
]
