"""Shared parts of the OCPP 2.0.1 tests: a real 2.0.1 central system and the charger side.

The central system is built on the ``ocpp`` library (``ocpp.v201.ChargePoint``
on the server side) over ``websockets.serve`` on 127.0.0.1; what is
version-neutral (the server, recording, raw frames, the fake charger port, the
HTTP upload server, the clock helpers) comes from the 1.6 tests' support
module. (This module holds no tests; it is named ``test_*`` only to live beside
the tests that use it.)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call_result

from tests.integration.test_ocpp16_support import (
    FAST,
    Charger,
    CsmsServer,
    FakePort,
    RealCharger,
    RecordingCsms,
    run_real_charger,
    transport_config,
)
from ukscp.clock import VirtualClock
from ukscp.events import EventBus
from ukscp.ocpp.queue import QUEUE_FILE, MessageQueue
from ukscp.ocpp.transport import CsmsTransport, TransportConfig
from ukscp.ocpp.v201 import ClientOptions, OcppClient201, SmartCharging201
from ukscp.security.seclog import SECLOG_FILE, SecurityLog
from ukscp.settings_store import SettingsStore

SUBPROTOCOL = "ocpp2.0.1"
TEST_OPTIONS = ClientOptions(
    response_timeout_s=5.0,
    reset_flush_s=30.0,
    upload_timeout_s=5.0,
    allow_private_targets=True,  # the upload servers of the tests listen on 127.0.0.1
)


class CentralSystemCp201(RecordingCsms, OcppChargePoint201):
    """The CSMS's end of one OCPP 2.0.1 charging station connection."""

    @on("BootNotification")
    def on_boot(self, **payload: Any) -> Any:
        self._record("BootNotification", payload)
        answers = self.server.boot_answers
        status, interval = (
            answers.pop(0) if answers else ("Accepted", self.server.heartbeat_interval)
        )
        return call_result.BootNotification(
            current_time=datetime.now(UTC).isoformat(), interval=interval, status=status
        )

    @on("Heartbeat")
    def on_heartbeat(self, **payload: Any) -> Any:
        self._record("Heartbeat", payload)
        return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on("StatusNotification")
    def on_status(self, **payload: Any) -> Any:
        self._record("StatusNotification", payload)
        return call_result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **payload: Any) -> Any:
        self._record("Authorize", payload)
        return call_result.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def on_transaction_event(self, **payload: Any) -> Any:
        self._record("TransactionEvent", payload)
        if "id_token" in payload:
            return call_result.TransactionEvent(id_token_info={"status": "Accepted"})
        return call_result.TransactionEvent()

    @on("MeterValues")
    def on_meter_values(self, **payload: Any) -> Any:
        self._record("MeterValues", payload)
        return call_result.MeterValues()

    @on("SecurityEventNotification")
    def on_security_event(self, **payload: Any) -> Any:
        self._record("SecurityEventNotification", payload)
        return call_result.SecurityEventNotification()

    @on("LogStatusNotification")
    def on_log_status(self, **payload: Any) -> Any:
        self._record("LogStatusNotification", payload)
        return call_result.LogStatusNotification()

    @on("NotifyReport")
    def on_notify_report(self, **payload: Any) -> Any:
        self._record("NotifyReport", payload)
        return call_result.NotifyReport()

    @on("ReportChargingProfiles")
    def on_report_charging_profiles(self, **payload: Any) -> Any:
        self._record("ReportChargingProfiles", payload)
        return call_result.ReportChargingProfiles()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **payload: Any) -> Any:
        self._record("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on("NotifyChargingLimit")
    def on_notify_charging_limit(self, **payload: Any) -> Any:
        self._record("NotifyChargingLimit", payload)
        return call_result.NotifyChargingLimit()

    @on("ClearedChargingLimit")
    def on_cleared_charging_limit(self, **payload: Any) -> Any:
        self._record("ClearedChargingLimit", payload)
        return call_result.ClearedChargingLimit()


def csms201(**options: Any) -> CsmsServer:
    """A (not yet started) 2.0.1 central system."""
    return CsmsServer(subprotocol=SUBPROTOCOL, cp_class=CentralSystemCp201, **options)


@contextlib.asynccontextmanager
async def running_csms201(**options: Any) -> AsyncIterator[CsmsServer]:
    """A started 2.0.1 :class:`CsmsServer`, stopped at the end."""
    server = csms201(**options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def transport_config201(url: str, data: Path, **changes: Any) -> TransportConfig:
    """Profile 1 over ws:// (a lab) speaking 2.0.1, unless ``changes`` say otherwise."""
    return transport_config(url, data, version="2.0.1", **changes)


def make_charger201(
    data: Path,
    clock: VirtualClock,
    config: TransportConfig,
    *,
    port: FakePort | None = None,
    options: ClientOptions = TEST_OPTIONS,
    smart_charging: bool = False,
    dsr_provider: bool = False,
) -> Charger:
    """The 2.0.1 client on a fake charger, with real stores under ``data``."""
    bus = EventBus()
    seclog = SecurityLog(data / SECLOG_FILE, clock)
    store = SettingsStore(data / "settings.sqlite3")
    transport = CsmsTransport(config, clock, seclog, backoff=FAST, jitter=lambda: 0.5)
    fake = port or FakePort()
    smart = None
    if smart_charging:
        smart = SmartCharging201(
            port=fake,
            clock=clock,
            store=store,
            voltage_v=230,
            phases=1,
            max_current_a=32,
            dsr_provider=dsr_provider,
        )
    client = OcppClient201(
        transport=transport,
        port=fake,
        bus=bus,
        clock=clock,
        seclog=seclog,
        queue=MessageQueue(data / QUEUE_FILE),
        store=store,
        options=options,
        smart_charging=smart,
    )
    return Charger(client, fake, bus, clock, seclog, store, transport)  # type: ignore[arg-type]


def events(csms: CsmsServer) -> list[dict[str, Any]]:
    """Every TransactionEvent received, in order."""
    return csms.of("TransactionEvent")


def measurands(event: dict[str, Any]) -> set[str]:
    """The measurands of a TransactionEvent's (or MeterValues') first meter value."""
    return {v["measurand"] for v in event["meter_value"][0]["sampled_value"]}


def variable(component: str, name: str, instance: str | None = None) -> dict[str, Any]:
    """A GetVariableDataType / SetVariableDataType's component and variable (snake_case)."""
    var: dict[str, Any] = {"name": name}
    if instance is not None:
        var["instance"] = instance
    return {"component": {"name": component}, "variable": var}


def start_real_charger201(
    data: Path,
    clock: VirtualClock,
    url: str,
    *,
    sample_interval_s: int | None = None,
    draw: Any = None,
) -> RealCharger:
    """The whole charger with the 2.0.1 client (see :func:`run_real_charger`)."""

    def build(app: Any, port: Any) -> OcppClient201:
        transport = CsmsTransport(
            transport_config201(url, data), clock, app.seclog, backoff=FAST, jitter=lambda: 0.5
        )
        client = OcppClient201(
            transport=transport,
            port=port,
            bus=app.bus,
            clock=clock,
            seclog=app.seclog,
            queue=MessageQueue(data / QUEUE_FILE),
            store=app.store,
            options=TEST_OPTIONS,
        )
        if sample_interval_s is not None:
            from ukscp.ocpp.blocks.settings.device_model201 import TX_UPDATED_INTERVAL

            client.device_model.set_value(TX_UPDATED_INTERVAL, str(sample_interval_s))
        return client

    return run_real_charger(data, clock, draw, build)
