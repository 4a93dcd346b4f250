"""OCPP 2.0.1 transactions (part 2, functional block E, and F01-F03): TransactionEvents.

:class:`Transactions201` follows the charger's sessions (TxStartPoint and
TxStopPoint EVConnected), reports their changes as TransactionEvents numbered
with seqNo, and answers RequestStartTransaction and RequestStopTransaction
(its route table is :func:`routes`). Every event is written to the persistent
queue first, so nothing waits on the network; ``offline`` says which were
made without a connection. A session begun while online is authorized first
(C01): the owner's idToken goes in an Authorize just before its Started event,
and the owner charges whatever the answer (TxCtrlr.StopTxOnInvalidId false).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ukscp.events import SessionEnded, SessionStarted
from ukscp.ocpp.blocks.meter_values.readings import (
    CURRENT_OFFERED,
    ENERGY_IMPORT,
    POWER_IMPORT,
    SAMPLE_PERIODIC,
    TRANSACTION_BEGIN,
    TRANSACTION_END,
    ocpp_time,
)
from ukscp.ocpp.blocks.meter_values.values201 import meter_value
from ukscp.ocpp.blocks.settings import device_model201 as dm
from ukscp.ocpp.blocks.settings.device_model201 import DeviceModel
from ukscp.ocpp.blocks.transactions.core import (
    PendingRemoteStart,
    ServiceHold,
    TransactionsContext,
    stale_end_reason,
)
from ukscp.ocpp.blocks.transactions.record201 import (
    IdToken,
    OpenTransaction,
    TransactionState,
    transaction_event,
)
from ukscp.ocpp.link import CsmsRefused
from ukscp.ocpp.port import EVSE_ID
from ukscp.ocpp.queue import QueuedMessage
from ukscp.ocpp.routes import Call, Result, Route
from ukscp.ocpp.smart_charging.v201 import SmartCharging201
from ukscp.ocpp.v201._lib import request
from ukscp.ocpp.v201.status import charging_state

_log = logging.getLogger(__name__)

OWNER_IDENTIFIER = "ukscp-owner"
"""The idToken of the owner's own sessions (a home charger has no card reader)."""

TRANSACTION_EVENT = "TransactionEvent"


class Transactions201:
    """The open transaction on EVSE 1 and its numbered events."""

    def __init__(
        self,
        context: TransactionsContext,
        state: TransactionState,
        model: DeviceModel,
        smart: SmartCharging201 | None,
        owner_identifier: str = OWNER_IDENTIFIER,
        ended: Callable[[], None] = lambda: None,
    ) -> None:
        self._context = context
        self._state = state
        self._model = model
        self._smart = smart
        self._owner = IdToken(owner_identifier)
        self._ended = ended
        # A remote start before the plug-in: its token and remoteStartId.
        self._pending_remote: PendingRemoteStart[tuple[IdToken, int]] = PendingRemoteStart(
            context.clock
        )
        self._hold = ServiceHold(context.availability, context.status_changed)
        self._authorize_first: set[str] = set()  # transactions to Authorize before Started

    # -- what others read ----------------------------------------------------------------

    @property
    def transaction(self) -> OpenTransaction | None:
        """The open transaction, if any."""
        return self._state.current

    @property
    def state(self) -> TransactionState:
        """The persisted open transaction (to forget it, or to mark a clean stop)."""
        return self._state

    # -- the charger's sessions ----------------------------------------------------------

    def session_started(self, event: SessionStarted) -> None:
        """A plug-in: Started (for a waiting remote start's token, if any)."""
        if self._state.current is not None:
            self._end("AbnormalCondition", "Other", event.at)
        if self._hold.hold():
            return
        remote = self._pending_remote.take()
        self._begin(
            event.session_id,
            self._owner if remote is None else remote[0],
            event.at,
            trigger="CablePluggedIn" if remote is None else "RemoteStart",
            remote_start_id=None if remote is None else remote[1],
        )

    def session_ended(self, event: SessionEnded) -> None:
        """An unplug: Ended (EVDisconnected)."""
        self._hold.release()
        if self._state.current is not None:
            self._end("EVCommunicationLost", "EVDisconnected", event.at)
        self._context.status_changed()

    def evse_changed(self, *, rate: bool) -> None:
        """The EVSE's state (or, ``rate``, its offer) changed: an Updated event says so."""
        transaction = self._state.current
        if transaction is None:
            return
        state = charging_state(self._context.port.snapshot())
        if state != transaction.charging_state:
            self.update("ChargingStateChanged", (ENERGY_IMPORT,), SAMPLE_PERIODIC)
        elif rate:
            self.update("ChargingRateChanged", (CURRENT_OFFERED, POWER_IMPORT), SAMPLE_PERIODIC)

    def availability_changed(self) -> None:
        """Back in service with the EV still plugged in: its transaction begins now."""
        snapshot = self._context.port.snapshot()
        if self._hold.resume(self._state.current is not None, snapshot.ev_connected):
            self._begin(
                snapshot.session_id,
                self._owner,
                self._context.clock.now(),
                trigger="CablePluggedIn",
                remote_start_id=None,
            )

    def end_stale(self) -> None:
        """At start: end the transaction the last run left open (sessions restart)."""
        reason = stale_end_reason(self._state)
        if reason is None:
            return
        self._end("AbnormalCondition", reason, self._context.clock.now())

    def end_for_reset(self, kind: str) -> None:
        """A CSMS reset ends the open transaction (ImmediateReset)."""
        self._end("ResetCommand", "ImmediateReset", self._context.clock.now())

    async def before_sending(self, message: QueuedMessage, payload: dict[str, Any]) -> None:
        """Authorize the owner's token just before the start of a session begun online (C01)."""
        if message.action != TRANSACTION_EVENT or message.tx_ref not in self._authorize_first:
            return
        self._authorize_first.discard(message.tx_ref)
        token = payload.get("id_token")
        if token is None:
            return
        try:
            answer = await self._context.call(request("Authorize", id_token=token))
        except (CsmsRefused, TimeoutError) as exc:
            _log.info("Authorize not answered (%s): charging as the owner anyway", exc)
            return
        info = answer.id_token_info
        status = info.get("status") if isinstance(info, dict) else getattr(info, "status", None)
        if status != "Accepted":
            # TxCtrlr.StopTxOnInvalidId is false: the owner's charger keeps charging.
            _log.warning("the CSMS does not accept idToken %r (%s)", token, status)

    def update(
        self,
        trigger: str,
        measurands: tuple[str, ...],
        context: str,
        *,
        at: datetime | None = None,
        with_id_token: bool = False,
    ) -> None:
        """Queue an Updated event of the open transaction (none open: nothing)."""
        transaction = self._state.current
        if transaction is None:
            return
        snapshot = self._context.port.snapshot()
        state = charging_state(snapshot)
        changed = state != transaction.charging_state
        seq_no = self._state.take_seq_no(state)
        when = at or self._context.clock.now()
        payload = transaction_event(
            event_type="Updated",
            at=ocpp_time(when),
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction=self._state.current or transaction,
            # chargingState goes with the event that saw it change, and with a
            # triggered one, which reports the transaction as it is now (F06).
            charging_state=(
                state if changed or trigger in ("ChargingStateChanged", "Trigger") else None
            ),
            offline=not self._context.online(),
            meter_value=meter_value(snapshot, measurands, context, when) if measurands else None,
            with_id_token=with_id_token,
        )
        # A periodic sample may give way in a long outage (the cap of the queue); an
        # update that says something changed never does.
        periodic = trigger == "MeterValuePeriodic"
        self._context.queue.put(
            TRANSACTION_EVENT, payload, tx_ref=transaction.transaction_id, sheddable=periodic
        )
        self._context.wake_sender()

    # -- the CSMS's requests -------------------------------------------------------------

    def request_start(
        self, token: IdToken, remote_start_id: int, evse_id: int | None, profile: Any
    ) -> tuple[str, str | None]:
        """F01/F02: start charging for ``token``: at once if plugged in, else at plug-in.

        With a transaction already open (the owner's, begun at plug-in) the
        request still starts charging, within that transaction, which is
        reported back: the CSMS relays the owner's "charge now".
        """
        context = self._context
        if evse_id not in (None, EVSE_ID) or not context.availability.operative:
            return "Rejected", None
        if profile is not None and (
            self._smart is None or not self._smart.accept_remote_start_profile(profile)
        ):
            return "Rejected", None
        if not context.port.remote_start(token.value, context.remote_start_cause):
            return "Rejected", None
        current = self._state.current
        if current is not None:
            # F02: the transaction is now the CSMS's token's, and says so in the update.
            self._state.set_remote_start(remote_start_id, token)
            self.update("RemoteStart", (), SAMPLE_PERIODIC, with_id_token=True)
            return "Accepted", current.transaction_id
        snapshot = context.port.snapshot()
        if snapshot.ev_connected:
            self._begin(
                snapshot.session_id,
                token,
                context.clock.now(),
                trigger="RemoteStart",
                remote_start_id=remote_start_id,
            )
        else:
            timeout = self._model.int_value(dm.EV_CONNECTION_TIMEOUT)
            self._pending_remote.set((token, remote_start_id), timeout)
        return "Accepted", None

    def request_stop(self, transaction_id: str) -> str:
        """F03: stop charging and end the transaction, if ``transaction_id`` is the one open."""
        current = self._state.current
        if current is None or current.transaction_id != transaction_id:
            return "Rejected"
        if not self._context.port.remote_stop():
            return "Rejected"
        self._end("RemoteStop", "Remote", self._context.clock.now())
        return "Accepted"

    # -- inside ----------------------------------------------------------------------------

    def _begin(
        self,
        session_id: str | None,
        token: IdToken,
        at: datetime,
        *,
        trigger: str,
        remote_start_id: int | None,
    ) -> None:
        context = self._context
        transaction = self._state.begin(session_id, token, at, remote_start_id)
        if remote_start_id is None and context.online():
            self._authorize_first.add(transaction.transaction_id)
        snapshot = context.port.snapshot()
        state = charging_state(snapshot)
        self._state.take_seq_no(state)  # seqNo 0 is the Started event's
        payload = transaction_event(
            event_type="Started",
            at=ocpp_time(at),
            trigger_reason=trigger,
            seq_no=0,
            transaction=transaction,
            charging_state=state,
            offline=not context.online(),
            meter_value=meter_value(snapshot, (ENERGY_IMPORT,), TRANSACTION_BEGIN, at),
            with_evse=True,
            with_id_token=True,
        )
        context.queue.put(TRANSACTION_EVENT, payload, tx_ref=transaction.transaction_id)
        self._context.transaction_changed()

    def _end(self, trigger: str, reason: str, at: datetime) -> None:
        context = self._context
        if self._state.current is None:
            return
        seq_no = self._state.take_seq_no()
        transaction = self._state.end()
        assert transaction is not None
        snapshot = context.port.snapshot()
        payload = transaction_event(
            event_type="Ended",
            at=ocpp_time(at),
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction=transaction,
            charging_state=charging_state(snapshot),
            offline=not context.online(),
            meter_value=meter_value(snapshot, (ENERGY_IMPORT,), TRANSACTION_END, at),
            stopped_reason=reason,
        )
        context.queue.put(TRANSACTION_EVENT, payload, tx_ref=transaction.transaction_id)
        self._authorize_first.discard(transaction.transaction_id)
        self._context.transaction_changed()
        context.availability.transaction_ended()  # a Scheduled Inoperative applies now
        self._ended()



def routes(transactions: Transactions201, result: Result) -> list[Route]:
    """RequestStartTransaction (F01, F02) and RequestStopTransaction (F03)."""

    def request_start(call: Call) -> Any:
        id_token = call.args["id_token"]
        token = IdToken(str(id_token.get("id_token", "")), str(id_token.get("type", "Central")))
        # The charging profile as on the wire: its parser reads OCPP's own field names.
        status, transaction_id = transactions.request_start(
            token,
            call.args["remote_start_id"],
            call.args.get("evse_id"),
            call.wire.get("chargingProfile"),
        )
        return result("RequestStartTransaction", status=status, transaction_id=transaction_id)

    def request_stop(call: Call) -> Any:
        status = transactions.request_stop(call.args["transaction_id"])
        return result("RequestStopTransaction", status=status)

    return [
        Route("RequestStartTransaction", request_start),
        Route("RequestStopTransaction", request_stop),
    ]
