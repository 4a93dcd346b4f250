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
  smart charging, ChangeAvailability G03/G04, UnlockConnector F05, TriggerMessage
  F06, ClearCache C11, DataTransfer P01) through the narrow
  :class:`~ukscp.ocpp.port.ChargerPort`.

It assembles the blocks that do this (:mod:`ukscp.ocpp.blocks.transactions.v201`,
:mod:`ukscp.ocpp.blocks.meter_values.v201`, :mod:`ukscp.ocpp.blocks.settings.device_model201`,
...) and joins their route tables; each connection gets a fresh
:class:`~ukscp.ocpp.v201._lib.Router` answering from them
(:class:`~ukscp.ocpp.session.Session`, with :class:`~ukscp.ocpp.v201.edge.Edge201`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ukscp.clock import Clock
from ukscp.events import EventBus
from ukscp.firmware.install import FirmwareInstaller
from ukscp.ocpp.blocks.availability.core import REJECTED
from ukscp.ocpp.blocks.availability.routes import routes201 as availability_routes
from ukscp.ocpp.blocks.firmware.routes import UPDATE_201, status_trigger
from ukscp.ocpp.blocks.firmware.routes import routes as firmware_routes
from ukscp.ocpp.blocks.firmware.updates import STATUS_201
from ukscp.ocpp.blocks.logs.routes import status_trigger as log_status_trigger
from ukscp.ocpp.blocks.meter_values.v201 import MeterValues201
from ukscp.ocpp.blocks.reset import IMMEDIATE_201, Resets
from ukscp.ocpp.blocks.reset import routes201 as reset_routes201
from ukscp.ocpp.blocks.settings import device_model201 as dm
from ukscp.ocpp.blocks.settings.device_model201 import DeviceModel, ExternalVariable, Name
from ukscp.ocpp.blocks.settings.random_delay import enabled_setter, enabled_text, remote_setter
from ukscp.ocpp.blocks.settings.routes import routes201 as settings_routes
from ukscp.ocpp.blocks.transactions.record201 import (
    OpenTransaction,
    TransactionState,
)
from ukscp.ocpp.blocks.transactions.v201 import OWNER_IDENTIFIER, Transactions201
from ukscp.ocpp.blocks.transactions.v201 import routes as transaction_routes
from ukscp.ocpp.blocks.trigger.core import Triggerable, TriggerTarget
from ukscp.ocpp.blocks.trigger.routes import routes201 as trigger_routes201
from ukscp.ocpp.client_base import CommonOptions, OcppClientBase
from ukscp.ocpp.port import ChargerPort, KeyValueStore
from ukscp.ocpp.queue import MessageQueue
from ukscp.ocpp.routes import Route, join
from ukscp.ocpp.sender import QueueSender
from ukscp.ocpp.session import BootInfo
from ukscp.ocpp.smart_charging.caps import MAX_PROFILES
from ukscp.ocpp.smart_charging.v201 import ExternalLimits201, SmartCharging201
from ukscp.ocpp.smart_charging.v201 import routes as smart_charging_routes
from ukscp.ocpp.transport import CsmsTransport
from ukscp.ocpp.v201._lib import request, result
from ukscp.ocpp.v201.edge import INTERVAL_VARIABLES, Edge201
from ukscp.security.seclog import SecurityLog

_log = logging.getLogger(__name__)





@dataclass(frozen=True, slots=True)
class ClientOptions(CommonOptions):
    """Tunables of the client (the defaults suit a real charger)."""

    owner_identifier: str = OWNER_IDENTIFIER


class OcppClient201(OcppClientBase[OpenTransaction, SmartCharging201]):
    """The OCPP 2.0.1 client of one charger; see the module docstring.

    Construct it once in the composition root (before the charger starts, so it
    sees the first session), then ``await run()`` in a task; :meth:`stop` ends
    it and :meth:`close` closes its queue.
    """

    _TASK_PREFIX = "ocpp201"
    _FIRMWARE_STATUS = STATUS_201
    _options: ClientOptions
    _tx: Transactions201
    _meter: MeterValues201

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
        super().__init__(
            transport=transport,
            port=port,
            clock=clock,
            seclog=seclog,
            queue=queue,
            store=store,
            options=options or ClientOptions(),
            smart_charging=smart_charging,
            firmware=firmware,
        )
        self._model = DeviceModel(
            store, external=self._external_variables(), on_change=self._variable_changed
        )
        self._tx = Transactions201(
            self._transactions_context(),
            TransactionState(store),
            self._model,
            smart_charging,
            self._options.owner_identifier,
            ended=lambda: self._resets.transaction_ended(),
        )
        self._sender = QueueSender(
            queue=queue,
            seclog=seclog,
            clock=clock,
            link=self._link,
            request=lambda action, payload: request(action, **payload),
            attempts=lambda: self._model.int_value(dm.MESSAGE_ATTEMPTS),
            retry_interval_s=lambda: self._model.int_value(dm.MESSAGE_ATTEMPT_INTERVAL),
            before_sending=self._tx.before_sending,
            before_run=self._security_events.queue_new,
        )
        self._meter = MeterValues201(self._meter_context(), self._model, self._tx)
        if smart_charging is not None:
            smart_charging.attach(self._tx)
        self._edge = Edge201(
            identity=transport.config.identity,
            boot=self._options.boot,
            response_timeout_s=self._options.response_timeout_s,
            model=self._model,
            store=store,
            port=port,
            clock=clock,
            availability=self._availability,
        )
        self._resets = Resets(
            seclog=seclog,
            end_transaction=self._tx.end_for_reset,
            restart=lambda hard: self._restart(hard=hard, reason="RemoteReset"),
            spawn=self._background.spawn,
            hard_kind=IMMEDIATE_201,
        )
        self._follow(bus)
        # K12/K13: limits set outside the CSMS are told to it, those in force now first.
        self._external = ExternalLimits201(port, queue, self._sender.wake)
        self._subscriptions.append(port.watch_limits(self._external.changed))
        self._external.changed()
        self._routes = join(
            self._shared_routes(result),
            smart_charging_routes(smart_charging, result, request, self._send_later),
            firmware_routes(UPDATE_201, self._firmware, result, self._background.adopt),
            availability_routes(self._availability, self._transaction_open, result),
            settings_routes(
                self._model,
                self._reconnect_if_asked,
                result,
                request,
                self._clock.now,
                self._send_later,
            ),
            transaction_routes(self._tx, result),
            reset_routes201(self._resets, self._transaction_open, result),
            self._trigger_routes(),
        )

    # ================================================================== public surface

    @property
    def device_model(self) -> DeviceModel:
        """The variables (GetVariables/SetVariables)."""
        return self._model

    # ================================================================== one connection

    # ================================================================== meter values

    # ================================================================== transactions

    # ================================================================== the CSMS's requests

    def _trigger_routes(self) -> list[Route]:
        send = self._session.send_live
        table = {
            # F06.FR.17: once Accepted, a BootNotification is not triggered again.
            "BootNotification": Triggerable(
                self._session.trigger_boot, lambda _: REJECTED if self._link.online else None
            ),
            "Heartbeat": Triggerable(self._session.trigger_heartbeat),
            "StatusNotification": Triggerable(self._trigger_status),
            "MeterValues": Triggerable(self._meter.trigger),
            "TransactionEvent": Triggerable(
                self._meter.trigger_transaction_event,
                lambda _: None if self._tx.transaction is not None else REJECTED,
            ),
            "FirmwareStatusNotification": status_trigger(
                STATUS_201, self._installer, request, send
            ),
            "LogStatusNotification": log_status_trigger(self._uploads, request, send),
        }
        return trigger_routes201(self._triggers, table, result)


    async def _trigger_status(self, _: TriggerTarget) -> None:
        """Connector 1's status now, even if unchanged."""
        for connector_id, status in self._edge.statuses().items():
            await self._session.send_live(self._edge.status_message(connector_id, status))

    # -- Firmware (L01) --------------------------------------------------------------------

    # ================================================================== device model hooks

    def _external_variables(self) -> list[ExternalVariable]:
        smart = self._smart
        profiles = [] if smart is None else [
            # How many profiles are installed; at most maxLimit (what SetChargingProfile holds to).
            ExternalVariable(
                dm.PROFILE_ENTRIES,
                get=lambda: str(len(smart.profiles)),
                set=None,
                data_type="integer",
                max_limit=MAX_PROFILES,
            )
        ]
        return [
            *profiles,
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
                set=remote_setter(self._port),
                data_type="integer",
                unit="s",
            ),
            ExternalVariable(
                dm.RANDOM_DELAY_ENABLED,
                get=lambda: enabled_text(self._port),
                set=enabled_setter(self._port),
                data_type="boolean",
            ),
        ]

    def _variable_changed(self, name: Name) -> None:
        self._wake_for(next((k for k, v in INTERVAL_VARIABLES.items() if v == name), None))


__all__ = [
    "OWNER_IDENTIFIER",
    "BootInfo",
    "ClientOptions",
    "OcppClient201",
]
