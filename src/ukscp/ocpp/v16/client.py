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
* answers the CSMS's requests (every Core request, GetLog, smart charging,
  TriggerMessage and ExtendedTriggerMessage) through the narrow
  :class:`~ukscp.ocpp.port.ChargerPort`.

It assembles the blocks that do this (:mod:`ukscp.ocpp.blocks.transactions.v16`,
:mod:`ukscp.ocpp.blocks.meter_values.v16`, :mod:`ukscp.ocpp.blocks.settings.configuration16`,
...) and joins their route tables; each connection gets a fresh
:class:`~ukscp.ocpp.v16._lib.Router` answering from them
(:class:`~ukscp.ocpp.session.Session`, with :class:`~ukscp.ocpp.v16.edge.Edge16`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ukscp.clock import Clock
from ukscp.events import EventBus
from ukscp.firmware.install import FirmwareInstaller
from ukscp.ocpp.blocks.availability.routes import routes16 as availability_routes
from ukscp.ocpp.blocks.firmware.routes import (
    SIGNED_UPDATE_16,
    core_status_trigger16,
    status_trigger,
)
from ukscp.ocpp.blocks.firmware.routes import routes as firmware_routes
from ukscp.ocpp.blocks.firmware.updates import STATUS_16
from ukscp.ocpp.blocks.logs.routes import diagnostics_status_trigger16
from ukscp.ocpp.blocks.logs.routes import status_trigger as log_status_trigger
from ukscp.ocpp.blocks.meter_values.v16 import MeterValues16
from ukscp.ocpp.blocks.reset import HARD_16, Resets
from ukscp.ocpp.blocks.reset import routes16 as reset_routes16
from ukscp.ocpp.blocks.settings import configuration16 as cfg
from ukscp.ocpp.blocks.settings.configuration16 import Configuration, ExternalKey
from ukscp.ocpp.blocks.settings.random_delay import enabled_setter, enabled_text, remote_setter
from ukscp.ocpp.blocks.settings.routes import routes16 as settings_routes
from ukscp.ocpp.blocks.transactions.record16 import (
    OpenTransaction,
    TransactionState,
)
from ukscp.ocpp.blocks.transactions.v16 import LOCAL_ID_TAG, Transactions16
from ukscp.ocpp.blocks.transactions.v16 import routes as transaction_routes
from ukscp.ocpp.blocks.trigger.core import (
    Triggerable,
    TriggerTarget,
)
from ukscp.ocpp.blocks.trigger.routes import routes16 as trigger_routes16
from ukscp.ocpp.client_base import CommonOptions, OcppClientBase
from ukscp.ocpp.port import CONNECTOR_ID, ChargerPort, KeyValueStore
from ukscp.ocpp.queue import MessageQueue
from ukscp.ocpp.routes import Route, join
from ukscp.ocpp.session import BootInfo
from ukscp.ocpp.smart_charging.v16 import SmartCharging16
from ukscp.ocpp.smart_charging.v16 import routes as smart_charging_routes
from ukscp.ocpp.transport import CsmsTransport
from ukscp.ocpp.v16._lib import request, result
from ukscp.ocpp.v16.edge import INTERVAL_KEYS, Edge16
from ukscp.ocpp.v16.sender import QueueSender16
from ukscp.security.seclog import SecurityLog

_log = logging.getLogger(__name__)




@dataclass(frozen=True, slots=True)
class ClientOptions(CommonOptions):
    """Tunables of the client (the defaults suit a real charger)."""

    local_id_tag: str = LOCAL_ID_TAG


class OcppClient16(OcppClientBase[OpenTransaction, SmartCharging16]):
    """The OCPP 1.6J client of one charger; see the module docstring.

    Construct it once in the composition root (before the charger starts, so it
    sees the first session), then ``await run()`` in a task; :meth:`stop` ends
    it and :meth:`close` closes its queue.
    """

    _TASK_PREFIX = "ocpp"
    _FIRMWARE_STATUS = STATUS_16
    _options: ClientOptions
    _tx: Transactions16
    _meter: MeterValues16

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
        smart_charging: SmartCharging16 | None = None,
        firmware: FirmwareInstaller | None = None,
    ) -> None:
        if transport.config.version != "1.6":
            raise ValueError(f"OcppClient16 speaks OCPP 1.6, not {transport.config.version}")
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
        self._config = Configuration(
            store, external=self._external_keys(), on_change=self._config_changed
        )
        self._tx = Transactions16(
            self._transactions_context(),
            TransactionState(store),
            self._config,
            smart_charging,
            self._options.local_id_tag,
        )
        self._sender = QueueSender16(
            queue=queue,
            seclog=seclog,
            config=self._config,
            clock=clock,
            link=self._link,
            before_sending=self._tx.before_sending,
            before_run=self._security_events.queue_new,
        )
        self._meter = MeterValues16(self._meter_context(), self._config, self._tx)
        if smart_charging is not None:
            smart_charging.attach(self._tx)
        self._edge = Edge16(
            identity=transport.config.identity,
            boot=self._options.boot,
            response_timeout_s=self._options.response_timeout_s,
            config=self._config,
            port=port,
            clock=clock,
            availability=self._availability,
            transactions=self._tx,
        )
        self._resets = Resets(
            seclog=seclog,
            end_transaction=self._tx.end_for_reset,
            restart=lambda hard: self._restart(hard=hard, reason="RemoteReset"),
            spawn=self._background.spawn,
            hard_kind=HARD_16,
        )
        self._follow(bus)
        self._routes = join(
            self._shared_routes(result),
            [] if smart_charging is None else smart_charging_routes(smart_charging, result),
            firmware_routes(SIGNED_UPDATE_16, self._firmware, result, self._background.adopt),
            availability_routes(self._availability, self._transaction_open, result),
            settings_routes(self._config, self._reconnect_if_asked, result),
            transaction_routes(self._tx, result),
            reset_routes16(self._resets, result),
            self._trigger_routes(),
        )

    # ================================================================== public surface

    @property
    def configuration(self) -> Configuration:
        """The configuration keys (GetConfiguration/ChangeConfiguration)."""
        return self._config

    def transaction_id(self) -> int | None:
        """The CSMS's id of the open transaction, once its start was answered."""
        return self._tx.transaction_id()

    # ================================================================== one connection

    # ================================================================== meter values

    # ================================================================== transactions

    # ================================================================== the CSMS's requests

    def _trigger_routes(self) -> list[Route]:
        send = self._session.send_live
        common = {
            "BootNotification": Triggerable(self._trigger_boot),
            "Heartbeat": Triggerable(self._session.trigger_heartbeat),
            "MeterValues": Triggerable(self._meter.trigger),
            "StatusNotification": Triggerable(self._trigger_status),
        }
        core = {
            **common,
            "FirmwareStatusNotification": core_status_trigger16(self._installer, request, send),
            "DiagnosticsStatusNotification": diagnostics_status_trigger16(request, send),
        }
        extended = {
            **common,
            # The whitepaper: FirmwareStatusNotification here means its
            # SignedFirmwareStatusNotification (the signed update's progress).
            "FirmwareStatusNotification": status_trigger(STATUS_16, self._installer, request, send),
            "LogStatusNotification": log_status_trigger(self._uploads, request, send),
        }
        return trigger_routes16(self._triggers, core, extended, result)

    async def _trigger_boot(self, target: TriggerTarget) -> None:
        answer = await self._session.trigger_boot(target)
        if answer is not None and str(answer.status) == "Accepted":
            self._edge.boot_accepted(int(answer.interval))

    async def _trigger_status(self, target: TriggerTarget) -> None:
        """The status now, sent even if unchanged; no connector named: both (section 5.17)."""
        for connector_id, status in self._edge.statuses().items():
            if target.evse_id in (None, connector_id):
                await self._session.send_live(self._edge.status_message(connector_id, status))

    # ================================================================== configuration hooks

    def _external_keys(self) -> list[ExternalKey]:
        # RemoteTrigger: TriggerMessage is answered (section 5.17).
        profiles = "Core,RemoteTrigger" + (",SmartCharging" if self._smart is not None else "")
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
                set=remote_setter(self._port),
            ),
            ExternalKey(
                cfg.UK_RANDOM_DELAY_ENABLED,
                get=lambda: enabled_text(self._port),
                set=enabled_setter(self._port),
            ),
        ]

    def _config_changed(self, name: str) -> None:
        self._wake_for(next((k for k, v in INTERVAL_KEYS.items() if v == name), None))


__all__ = ["CONNECTOR_ID", "LOCAL_ID_TAG", "BootInfo", "ClientOptions", "OcppClient16"]
