"""OCPP 1.6 transactions: StartTransaction at plug-in, StopTransaction at unplug.

:class:`Transactions16` follows the charger's sessions and answers
RemoteStartTransaction and RemoteStopTransaction (sections 5.11, 5.12; its
route table is :func:`routes`). Start and stop are written to the persistent
queue first, so nothing waits on the network; the CSMS's transactionId
arrives with the answer to StartTransaction and stands in the queue for the
local ``ref`` (:class:`~ukscp.ocpp.blocks.transactions.record16.OpenTransaction`). A
session begun while online is authorized first: the owner's id tag is sent in
an Authorize just before its StartTransaction, and the owner charges whatever
the answer (a home charger's own sessions).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ukscp.events import SessionEnded, SessionStarted
from ukscp.ocpp.blocks.meter_values.readings import ocpp_time
from ukscp.ocpp.blocks.settings import configuration16 as cfg
from ukscp.ocpp.blocks.settings.configuration16 import Configuration
from ukscp.ocpp.blocks.transactions.core import (
    PendingRemoteStart,
    ServiceHold,
    TransactionsContext,
    stale_end_reason,
)
from ukscp.ocpp.blocks.transactions.record16 import (
    OpenTransaction,
    TransactionState,
    start_payload,
    stop_payload,
)
from ukscp.ocpp.link import CsmsRefused
from ukscp.ocpp.port import CONNECTOR_ID
from ukscp.ocpp.queue import QueuedMessage
from ukscp.ocpp.routes import Call, Result, Route
from ukscp.ocpp.smart_charging.v16 import SmartCharging16
from ukscp.ocpp.v16._lib import request
from ukscp.ocpp.v16.sender import id_tag_status

_log = logging.getLogger(__name__)

LOCAL_ID_TAG = "ukscp-owner"
"""The id tag of the owner's own sessions (a home charger has no card reader)."""


class Transactions16:
    """The open transaction of the one connector, from plug-in to unplug."""

    def __init__(
        self,
        context: TransactionsContext,
        state: TransactionState,
        config: Configuration,
        smart: SmartCharging16 | None,
        local_id_tag: str = LOCAL_ID_TAG,
    ) -> None:
        self._context = context
        self._state = state
        self._config = config
        self._smart = smart
        self._local_id_tag = local_id_tag
        self._finished = False  # a transaction ended while the EV stays plugged in
        self._pending_remote: PendingRemoteStart[str] = PendingRemoteStart(context.clock)
        self._hold = ServiceHold(context.availability, context.status_changed)
        self._authorize_first: set[str] = set()  # refs to Authorize before their start

    # -- what others read ----------------------------------------------------------------

    @property
    def transaction(self) -> OpenTransaction | None:
        """The open transaction, if any."""
        return self._state.current

    @property
    def state(self) -> TransactionState:
        """The persisted open transaction (to forget it, or to mark a clean stop)."""
        return self._state

    @property
    def finished(self) -> bool:
        """A transaction ended while the EV is still plugged in (status Finishing)."""
        return self._finished

    def transaction_id(self) -> int | None:
        """The CSMS's id of the open transaction, once its start was answered."""
        transaction = self._state.current
        return None if transaction is None else self._context.queue.transaction_id(transaction.ref)

    # -- the charger's sessions ----------------------------------------------------------

    def session_started(self, event: SessionStarted) -> None:
        """A plug-in: begin a transaction (for a waiting remote start's id tag, if any)."""
        self._finished = False
        if self._state.current is not None:
            self._end("Other", event.at, event.energy_register_wh)
        if self._hold.hold():
            return
        remote_tag = self._pending_remote.take()
        self._begin(
            event.session_id,
            self._local_id_tag if remote_tag is None else remote_tag,
            event.energy_register_wh,
            event.at,
            authorize=remote_tag is None,
        )

    def session_ended(self, event: SessionEnded) -> None:
        """An unplug: the transaction ends (EVDisconnected)."""
        self._hold.release()
        if self._state.current is not None:
            snapshot = self._context.port.snapshot()
            self._end("EVDisconnected", event.at, snapshot.energy_import_wh)
        self._finished = False
        self._context.status_changed()

    def evse_changed(self, *, rate: bool) -> None:
        """Nothing: 1.6 reports the EVSE's changes with StatusNotification alone."""

    def availability_changed(self) -> None:
        """Back in service with the EV still plugged in: its transaction begins now."""
        snapshot = self._context.port.snapshot()
        if self._hold.resume(self._state.current is not None, snapshot.ev_connected):
            self._begin(
                snapshot.session_id,
                self._local_id_tag,
                snapshot.energy_import_wh,
                self._context.clock.now(),
                authorize=True,
            )

    def end_stale(self) -> None:
        """At start: end the transaction the last run left open (sessions restart)."""
        reason = stale_end_reason(self._state)
        if reason is None:
            return
        snapshot = self._context.port.snapshot()
        self._end(reason, self._context.clock.now(), snapshot.energy_import_wh)
        self._finished = False

    def end_for_reset(self, kind: str) -> None:
        """A CSMS reset of ``kind`` (Hard, Soft) ends the open transaction."""
        snapshot = self._context.port.snapshot()
        self._end(f"{kind}Reset", self._context.clock.now(), snapshot.energy_import_wh)

    async def before_sending(self, message: QueuedMessage, payload: dict[str, Any]) -> None:
        """Authorize the owner's tag just before the start of a session begun online."""
        if message.action != "StartTransaction" or message.tx_ref not in self._authorize_first:
            return
        self._authorize_first.discard(message.tx_ref)
        id_tag = str(payload["id_tag"])
        try:
            answer = await self._context.call(request("Authorize", id_tag=id_tag))
        except (CsmsRefused, TimeoutError) as exc:
            _log.info("Authorize not answered (%s): charging as the owner anyway", exc)
            return
        status = id_tag_status(answer.id_tag_info)
        if status != "Accepted":
            _log.warning("the CSMS does not accept id tag %r (%s)", id_tag, status)

    # -- the CSMS's requests -------------------------------------------------------------

    def remote_start(
        self, id_tag: str, connector_id: int | None, charging_profile: dict[str, Any] | None
    ) -> str:
        """Start charging for ``id_tag``: at once if the EV is plugged in, else at plug-in.

        With a transaction already open (the owner's, begun at plug-in) it still
        starts charging, within that transaction. The start is the CSMS's: the
        randomised delay judges it as the context's ``remote_start_cause``.
        """
        context = self._context
        if connector_id not in (None, CONNECTOR_ID) or not context.availability.operative:
            return "Rejected"
        if (
            charging_profile is not None
            and self._smart is not None
            and not self._smart.accept_remote_start_profile(charging_profile)
        ):
            return "Rejected"
        if not context.port.remote_start(id_tag, context.remote_start_cause):
            return "Rejected"
        if self._state.current is not None:
            return "Accepted"
        snapshot = context.port.snapshot()
        if snapshot.ev_connected:
            self._finished = False
            now = context.clock.now()
            self._begin(
                snapshot.session_id, id_tag, snapshot.energy_import_wh, now, authorize=False
            )
        else:
            self._pending_remote.set(id_tag, self._config.int_value(cfg.CONNECTION_TIMEOUT))
        return "Accepted"

    def remote_stop(self, transaction_id: int) -> str:
        """Stop charging and end the transaction, if ``transaction_id`` is the one open."""
        port = self._context.port
        if self.transaction_id() != transaction_id or not port.remote_stop():
            return "Rejected"
        self._end("Remote", self._context.clock.now(), port.snapshot().energy_import_wh)
        return "Accepted"

    # -- inside ----------------------------------------------------------------------------

    def _begin(
        self, session_id: str | None, id_tag: str, meter_wh: float, at: datetime, *, authorize: bool
    ) -> None:
        transaction = self._state.begin(session_id, id_tag, meter_wh, at)
        if authorize and self._context.online():
            self._authorize_first.add(transaction.ref)
        payload = start_payload(CONNECTOR_ID, id_tag, meter_wh, ocpp_time(at))
        self._context.queue.put("StartTransaction", payload, tx_ref=transaction.ref)
        self._context.transaction_changed()

    def _end(self, reason: str, at: datetime, meter_wh: float) -> None:
        transaction = self._state.end()
        if transaction is None:
            return
        payload = stop_payload(transaction.id_tag, meter_wh, ocpp_time(at), reason)
        self._context.queue.put("StopTransaction", payload, tx_ref=transaction.ref)
        self._authorize_first.discard(transaction.ref)
        self._finished = self._context.port.snapshot().ev_connected
        self._context.transaction_changed()
        self._context.availability.transaction_ended()  # a Scheduled Inoperative applies now



def routes(transactions: Transactions16, result: Result) -> list[Route]:
    """RemoteStartTransaction and RemoteStopTransaction."""

    def remote_start(call: Call) -> Any:
        # The charging profile as on the wire: its parser reads OCPP's own field names.
        status = transactions.remote_start(
            call.args["id_tag"], call.args.get("connector_id"), call.wire.get("chargingProfile")
        )
        return result("RemoteStartTransaction", status=status)

    def remote_stop(call: Call) -> Any:
        status = transactions.remote_stop(call.args["transaction_id"])
        return result("RemoteStopTransaction", status=status)

    return [
        Route("RemoteStartTransaction", remote_start),
        Route("RemoteStopTransaction", remote_stop),
    ]
