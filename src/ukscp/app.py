"""The composition root: the one place that reads the settings and builds the charger.

Everything else receives what it needs as constructor arguments, so tests build
the same object graph on a :class:`~ukscp.clock.VirtualClock`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI

import ukscp
from ukscp.charger import Charger
from ukscp.clock import Clock
from ukscp.config import ConfigError, Settings
from ukscp.events import (
    ChargerStarted,
    ChargerStopping,
    EventBus,
    LimitChanged,
    SessionEnded,
    SessionStarted,
)
from ukscp.evse.controller import EvseController
from ukscp.evse.state_machine import CONNECTED_STATES
from ukscp.files import restrict_to_owner
from ukscp.firmware.install import FirmwareInstaller
from ukscp.firmware.slots import FirmwareSlots
from ukscp.firmware.updates import UpdateChecker
from ukscp.hardware.protocols import Board, EvSimulator, TamperInput
from ukscp.hardware.registry import Wiring, build_hardware
from ukscp.history import EventHistory
from ukscp.integrations.openadr.signals import Supply as OpenAdrSupply
from ukscp.integrations.openadr.ven import OpenAdrVen
from ukscp.integrations.openadr.ven import make_client as make_openadr_client
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.limits.arbiter import LimitChange
from ukscp.metering import METERING_FILE, MeteringStore, MeterSampler
from ukscp.ocpp.queue import QUEUE_FILE, MessageQueue
from ukscp.ocpp.service import OcppClient, OcppService
from ukscp.ocpp.transport import CsmsTransport, TransportConfig, TransportError
from ukscp.ocpp_adapter import AppChargerPort
from ukscp.personal_data import PersonalData
from ukscp.regulation.default_mode import DefaultMode
from ukscp.regulation.delay_gate import (
    RandomDelayEnabledChanged,
    RandomDelayGate,
    RandomDelayMaxDurationChanged,
    draw_delay_s,
)
from ukscp.regulation.dsr import DsrLimits
from ukscp.regulation.random_delay import DelaySettings, Draw, Policy
from ukscp.security.audit import attach_security_log
from ukscp.security.credentials import OwnerAccounts, SetupCodeFile
from ukscp.security.integrity_monitor import IntegrityMonitor
from ukscp.security.password_worker import PasswordWorker
from ukscp.security.seclog import SECLOG_FILE, SecurityEventType, SecurityLog
from ukscp.security.tamper import TamperGuard
from ukscp.security.tls import ensure_device_certificate, server_ssl_context
from ukscp.settings_store import SettingsStore
from ukscp.storage import DatabaseCorrupt, move_aside
from ukscp.web.api import create_api
from ukscp.web.auth import Auth
from ukscp.web.server import EdgeSettings, WebServer

_log = logging.getLogger(__name__)

RESTART_EXIT_CODE = 3  # a Reset from the CSMS: the service manager starts the charger again
HISTORY_FILE = "history.sqlite3"
SETTINGS_FILE = "settings.sqlite3"
ACCOUNTS_FILE = "accounts.sqlite3"
SESSION_ACTIVE_KEY = "evse.session_active"
DELAY_ENABLED_KEY = "random_delay.enabled"
DELAY_MAX_KEY = "random_delay.max_duration_s"
_NAMED_PATHS = 20  # paths named in the start-up line when permissions were tightened
_Store = TypeVar("_Store")


@dataclass
class App:
    """The built charger: its parts, and how to run and stop it."""

    settings: Settings
    clock: Clock
    bus: EventBus
    history: EventHistory
    arbiter: Arbiter
    board: Board
    controller: EvseController
    gate: RandomDelayGate
    default_mode: DefaultMode
    dsr: DsrLimits
    port: AppChargerPort  # what the OCPP client drives
    metering: MeteringStore
    sampler: MeterSampler
    integrity: IntegrityMonitor
    tamper: TamperGuard
    updates: UpdateChecker | None
    ocpp: OcppService
    reset_requested: asyncio.Event
    charger: Charger
    api: FastAPI
    store: SettingsStore
    seclog: SecurityLog
    accounts: OwnerAccounts
    setup_codes: SetupCodeFile
    sim: EvSimulator | None  # the driver's simulator controls, when it has them
    firmware: FirmwareInstaller | None = None
    openadr: OpenAdrVen | None = None  # dsr.openadr.enabled
    passwords: PasswordWorker | None = None

    async def run(self, stop: asyncio.Event, on_ready: Callable[[str], None]) -> int:
        """Serve until ``stop`` is set, then shut down cleanly; returns the exit code."""
        web = self.settings.web
        edge = EdgeSettings(
            max_connections=web.max_connections,
            max_body_bytes=web.max_body_bytes,
            header_timeout_s=web.header_timeout_s,
            body_timeout_s=web.body_timeout_s,
            trusted_proxies=tuple(web.trusted_proxies),
        )
        server = WebServer(
            self.api, web.host, web.port, self._tls_context(), web.http_redirect_port, edge
        )
        self.start()
        # Loops that end when shutdown() stops them...
        loops = [
            asyncio.create_task(self.controller.run(), name="evse-controller"),
            asyncio.create_task(self.default_mode.run(), name="default-mode"),
            asyncio.create_task(self.sampler.run(), name="meter-sampler"),
            asyncio.create_task(self.tamper.run(), name="tamper"),
        ]
        # ...and periodic checks that hold no state worth finishing: cancelled.
        periodic = [
            asyncio.create_task(self._housekeeping(), name="housekeeping"),
            asyncio.create_task(
                self.integrity.run(self.settings.integrity.check_interval_h), name="integrity"
            ),
        ]
        if self.updates is not None:
            interval_h = self.settings.updates.check_interval_h
            periodic.append(asyncio.create_task(self.updates.run(interval_h), name="updates"))
        loops.append(asyncio.create_task(self.ocpp.run(), name="ocpp"))
        if self.openadr is not None:
            periodic.append(asyncio.create_task(self.openadr.run(), name="openadr"))
        server.start()
        on_ready(server.url)
        if self.firmware is not None:
            self.firmware.confirm_boot()  # a new firmware's first start: now it has run
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self.reset_requested.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        reset = self.reset_requested.is_set()
        self.shutdown("reset requested by the CSMS" if reset else "stop requested (signal)")
        await server.stop()
        for task in periodic:
            task.cancel()
        await asyncio.gather(*loops, *periodic, return_exceptions=True)
        self.close()
        return RESTART_EXIT_CODE if reset else 0

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.settings.web.insecure_http:
            self.seclog.record(
                SecurityEventType.INSECURE_HTTP_ENABLED,
                "the local page is served over plain HTTP (--insecure-http, lab use)",
            )
            return None
        hostnames = [self.settings.web.host, socket.gethostname()]
        cert, key = ensure_device_certificate(
            self.settings.data_dir, hostnames, self.clock, seclog=self.seclog
        )
        return server_ssl_context(cert, key)

    async def _housekeeping(self) -> None:
        # Daily: the security log keeps 13 months (metering runs its own retention).
        while True:
            self.seclog.rotate()
            await self.clock.sleep(24 * 3600)

    def start(self) -> None:
        """Offer the first limit and bring the simulated EV in if asked.

        A session that was active when the charger went down, with the EV still
        connected now, makes this start a power restoration: a relevant time for
        the randomised delay. A first start on a fresh data directory, or an EV
        plugged in after start (``--sim-plug``), is not.
        """
        if self.sim is not None:
            self.sim.restore()
        if self.store.get(SESSION_ACTIVE_KEY, False) and self.board.pilot_state() in (
            CONNECTED_STATES
        ):
            self.gate.power_restored()
        else:
            # No session survived the restart: a boost "until the session ends" is over.
            self.default_mode.on_session_ended()
            current = self.arbiter.current
            self.controller.apply_limit(current.amps, current.phases, current.source)
        if self.sim is not None and self.settings.hardware.sim_plug_at_start:
            self.sim.plug()

    def close(self) -> None:
        """Close the databases (after :meth:`shutdown` and the tasks have ended)."""
        self.ocpp.close()
        self.history.close()
        self.metering.close()
        if self.passwords is not None:
            self.passwords.close()
        self.accounts.close()
        self.seclog.close()
        self.store.close()

    def shutdown(self, reason: str) -> None:
        """Make the EVSE safe and record why the charger stops."""
        self.bus.publish(ChargerStopping(at=self.clock.now(), reason=reason))
        self.ocpp.stop()
        self.default_mode.stop()
        self.sampler.stop()
        self.tamper.stop()
        self.gate.close()
        self.controller.stop()


def _record_tightened(
    data_dir: Path, tightened: list[tuple[Path, int]], seclog: SecurityLog
) -> None:
    """Say which paths of the data directory other local users could open until now."""
    names = [
        f"{path.relative_to(data_dir).as_posix()} (was {mode:04o})"
        for path, mode in tightened
    ]
    shown = ", ".join(names[:_NAMED_PATHS]) + (
        f" and {len(names) - _NAMED_PATHS} more" if len(names) > _NAMED_PATHS else ""
    )
    text = f"data directory {data_dir}: took the access of other users away from {shown}"
    _log.warning("%s", text)
    seclog.record(SecurityEventType.FILE_PERMISSIONS_TIGHTENED, text)


def _open_or_move_aside(
    open_store: Callable[[Path], _Store], path: Path, seclog: SecurityLog, clock: Clock
) -> _Store:
    """Open a store; one whose file cannot be read is moved aside (kept), told, and begun anew.

    Only a damage SQLite finds on opening (a garbled header) is caught here:
    reading every page of the metering database at each start would cost too much.
    """
    try:
        return open_store(path)
    except DatabaseCorrupt as exc:
        seclog.database_moved_aside(path, move_aside(path, clock.now()), exc.reason)
        return open_store(path)


def _delay_settings(settings: Settings, store: SettingsStore) -> DelaySettings:
    """The config file's delay settings, with what the owner or CSMS changed since on top."""
    evse = settings.evse_manager
    return DelaySettings(
        enabled=store.get(DELAY_ENABLED_KEY, evse.uk_smartcharging_random_delay_enable),
        max_duration_s=store.get(
            DELAY_MAX_KEY, evse.uk_smartcharging_random_delay_max_duration
        ),
        at_any_change=evse.uk_smartcharging_random_delay_at_any_change,
        policy=Policy(evse.uk_smartcharging_random_delay_policy),
    )


def _persist_runtime_state(bus: EventBus, store: SettingsStore, gate: RandomDelayGate) -> None:
    """Keep what must survive a restart: delay settings, and whether a session is active."""

    def session_started(_: SessionStarted) -> None:
        store.set(SESSION_ACTIVE_KEY, True)
        gate.ev_plugged()

    def session_ended(_: SessionEnded) -> None:
        store.set(SESSION_ACTIVE_KEY, False)
        gate.ev_unplugged()

    bus.subscribe(SessionStarted, session_started)
    bus.subscribe(SessionEnded, session_ended)
    bus.subscribe(
        RandomDelayEnabledChanged, lambda event: store.set(DELAY_ENABLED_KEY, event.enabled)
    )
    bus.subscribe(
        RandomDelayMaxDurationChanged, lambda event: store.set(DELAY_MAX_KEY, event.new_s)
    )


def _update_checker(settings: Settings, clock: Clock, seclog: SecurityLog) -> UpdateChecker | None:
    """Update checks, when a TUF repository and its pinned root were provisioned."""
    url, root = settings.updates.tuf_repository_url, settings.updates.trusted_root_file
    if url is None or root is None:
        return None
    try:
        return UpdateChecker(
            clock, seclog, url, root, settings.data_dir / "tuf", ukscp.__version__
        )
    except ValueError as exc:
        raise ConfigError(f"updates: {exc}") from None


def _ocpp_client(
    settings: Settings,
    clock: Clock,
    seclog: SecurityLog,
    store: SettingsStore,
    bus: EventBus,
    port: AppChargerPort,
    board_max_a: float,
    firmware: FirmwareInstaller | None = None,
) -> OcppClient:
    """The OCPP 1.6J or 2.0.1 client (``ocpp.version``), built before the charger starts."""
    # Imported here: a charger with no back end never loads the OCPP library and its
    # schemas (about 10 MB and 0.3 s at start).
    from ukscp.ocpp.v16 import ClientOptions as Options16
    from ukscp.ocpp.v16 import OcppClient16, SmartCharging16
    from ukscp.ocpp.v201 import ClientOptions as Options201
    from ukscp.ocpp.v201 import OcppClient201, SmartCharging201

    try:
        transport = CsmsTransport(TransportConfig.from_settings(settings.ocpp), clock, seclog)
    except TransportError as exc:
        raise ConfigError(f"ocpp: {exc}") from None
    smart_charging = (SmartCharging201 if settings.ocpp.version == "2.0.1" else SmartCharging16)(
        port=port,
        clock=clock,
        store=store,
        voltage_v=settings.supply.voltage_v,
        phases=settings.supply.phases,
        max_current_a=min(settings.supply.max_current_a, board_max_a),
        dsr_provider=settings.ocpp.dsr_provider,
        csms_randomises=settings.ocpp.randomises_delay,
    )
    queue = _open_or_move_aside(MessageQueue, settings.data_dir / QUEUE_FILE, seclog, clock)
    private = settings.ocpp.allow_private_targets
    if isinstance(smart_charging, SmartCharging201):
        return OcppClient201(
            transport=transport,
            port=port,
            bus=bus,
            clock=clock,
            seclog=seclog,
            queue=queue,
            store=store,
            options=Options201(
                allow_private_targets=private,
                csms_randomises_delay=settings.ocpp.randomises_delay,
                dsr_provider=settings.ocpp.dsr_provider,
            ),
            smart_charging=smart_charging,
            firmware=firmware,
        )
    return OcppClient16(
        transport=transport,
        port=port,
        bus=bus,
        clock=clock,
        seclog=seclog,
        queue=queue,
        store=store,
        options=Options16(
            allow_private_targets=private,
            csms_randomises_delay=settings.ocpp.randomises_delay,
            dsr_provider=settings.ocpp.dsr_provider,
        ),
        smart_charging=smart_charging,
        firmware=firmware,
    )


def _openadr_ven(
    settings: Settings, dsr: DsrLimits, clock: Clock, store: SettingsStore, board_max_a: float
) -> OpenAdrVen | None:
    """The OpenADR VEN, when ``dsr.openadr`` is enabled (the package loaded only then)."""
    chosen = settings.dsr.openadr
    if not chosen.enabled or chosen.vtn_url is None or chosen.ven_name is None:
        return None
    client, set_handler, handle_distribution = make_openadr_client(
        ven_name=chosen.ven_name,
        vtn_url=chosen.vtn_url,
        cert_file=None if chosen.cert_file is None else str(chosen.cert_file),
        key_file=None if chosen.key_file is None else str(chosen.key_file),
    )
    supply = settings.supply
    return OpenAdrVen(
        client=client,
        on_event_handler=set_handler,
        handle_distribution=handle_distribution,
        dsr=dsr,
        clock=clock,
        store=store,
        supply=OpenAdrSupply(
            max_current_a=min(supply.max_current_a, board_max_a),
            voltage_v=supply.voltage_v,
            phases=supply.phases,
        ),
    )


def build_app(settings: Settings, clock: Clock, *, draw: Draw = draw_delay_s) -> App:
    """Build the whole charger from ``settings``.

    ``draw`` picks each random delay; only tests and the fleet simulator pass another.
    """
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tightened = restrict_to_owner(data_dir)  # before any file in it is opened
    seclog = SecurityLog(data_dir / SECLOG_FILE, clock)
    seclog.check_chain_at_start()
    if tightened:
        _record_tightened(data_dir, tightened, seclog)

    store = _open_or_move_aside(SettingsStore, data_dir / SETTINGS_FILE, seclog, clock)
    bus = EventBus()
    history = _open_or_move_aside(EventHistory, data_dir / HISTORY_FILE, seclog, clock)
    history.attach(bus)
    attach_security_log(bus, seclog)
    # Recorded before any part acts, so that a limit set while building (default
    # hours at a peak start) follows the start in the history, not precedes it.
    bus.publish(ChargerStarted(at=clock.now(), version=ukscp.__version__))
    setup_codes = SetupCodeFile(data_dir)
    # An unreadable account store is moved aside like the others: the owner sets the
    # charger up again with a new setup code from the console (physical access).
    accounts = _open_or_move_aside(
        lambda path: OwnerAccounts(path, clock, seclog=seclog), data_dir / ACCOUNTS_FILE,
        seclog, clock,
    )
    metering = _open_or_move_aside(
        lambda path: MeteringStore(
            path, raw_window_s=int(settings.metering.raw_retention_h * 3600)
        ),
        data_dir / METERING_FILE,
        seclog,
        clock,
    )
    metering.attach(bus)

    try:
        hardware = build_hardware(
            settings.hardware.board,
            settings.hardware.meter,
            Wiring(
                clock=clock,
                store=store,
                board_max_current_a=settings.hardware.board_max_current_a,
                phases=settings.supply.phases,
                voltage_v=settings.supply.voltage_v,
            ),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    board, meter, sim = hardware.board, hardware.meter, hardware.simulator
    sampler = MeterSampler(meter, clock, metering)
    controller = EvseController(board, meter, clock, bus)

    arbiter = Arbiter(
        caps={
            "hardware": Limit(board.max_current_a, LimitSource.HARDWARE, "board rating"),
            "supply": Limit(settings.supply.max_current_a, LimitSource.SUPPLY, "supply fuse"),
        },
        supply_phases=settings.supply.phases,
    )

    def record_limit_change(change: LimitChange) -> None:
        bus.publish(
            LimitChanged(
                at=clock.now(),
                source=change.cause.source,
                old_amps=change.old.amps,
                new_amps=change.new.amps,
                old_phases=change.old.phases,
                new_phases=change.new.phases,
                binding_source=change.new.source,
                reason=change.cause.reason,
                cleared=change.cleared,
            )
        )

    arbiter.subscribe(record_limit_change)
    gate = RandomDelayGate(
        clock=clock,
        bus=bus,
        apply=controller.apply_limit,
        ev_connected=lambda: controller.ev_connected,
        initial=arbiter.current,
        settings=_delay_settings(settings, store),
        draw=draw,
    )
    arbiter.subscribe(gate.on_limit_change)
    _persist_runtime_state(bus, store, gate)
    default_mode = DefaultMode(
        clock, arbiter, store, bus, settings.provisioning.sold_with_dsr_agreement
    )
    dsr = DsrLimits(arbiter, default_mode, bus, clock)
    integrity = IntegrityMonitor(
        clock,
        arbiter,
        seclog,
        settings.integrity.manifest_file,
        settings.integrity.public_key_file,
        settings.integrity.on_failure_limit_a,
    )

    tamper = TamperGuard(
        clock, board if isinstance(board, TamperInput) else None, arbiter, seclog, store
    )
    updates = _update_checker(settings, clock, seclog)
    # Signed firmware from the CSMS (whichever OCPP client runs), into A/B slots.
    firmware = FirmwareInstaller(
        clock=clock,
        seclog=seclog,
        slots=FirmwareSlots(settings.data_dir),
        root_ca_file=settings.updates.firmware_root_ca_file,
        running_version=ukscp.__version__,
        bus=bus,
        allow_plain_http=settings.ocpp.allow_insecure_transport,
        allow_private_targets=settings.ocpp.allow_private_targets,
        ca_file=settings.ocpp.ca_file,
        running_package=Path(ukscp.__file__).parent,
    )
    reset_requested = asyncio.Event()
    port = AppChargerPort(
        controller=controller,
        meter=meter,
        gate=gate,
        arbiter=arbiter,
        default_mode=default_mode,
        dsr=dsr,
        bus=bus,
        reset=lambda hard: reset_requested.set(),
    )
    ocpp = OcppService(
        file_settings=settings.ocpp,
        store=store,
        data_dir=settings.data_dir,
        factory=lambda chosen: _ocpp_client(
            settings.model_copy(update={"ocpp": chosen}),
            clock,
            seclog,
            store,
            bus,
            port,
            board.max_current_a,
            firmware,
        ),
        seclog=seclog,
    )
    charger = Charger(
        clock,
        controller,
        arbiter,
        gate,
        default_mode,
        metering,
        integrity,
        tamper,
        updates,
        meter,
        sim,
        firmware=firmware,
        personal_data=PersonalData(
            clock=clock,
            bus=bus,
            metering=metering,
            history=history,
            backend=ocpp,
            file_backend=settings.ocpp,
            data_dir=data_dir,
            accounts=accounts,
            compacted=[data_dir / name for name in (SETTINGS_FILE, ACCOUNTS_FILE, QUEUE_FILE)],
        ),
        dsr=dsr,
        read_meter=sampler.read,
    )
    passwords = PasswordWorker()
    auth = Auth(accounts, secure_cookies=not settings.web.insecure_http, passwords=passwords)
    openadr = _openadr_ven(settings, dsr, clock, store, board.max_current_a)
    return App(
        settings=settings,
        clock=clock,
        bus=bus,
        history=history,
        arbiter=arbiter,
        board=board,
        controller=controller,
        gate=gate,
        default_mode=default_mode,
        dsr=dsr,
        port=port,
        metering=metering,
        sampler=sampler,
        integrity=integrity,
        tamper=tamper,
        updates=updates,
        ocpp=ocpp,
        reset_requested=reset_requested,
        charger=charger,
        api=create_api(charger, auth, setup_codes, seclog, ocpp),
        store=store,
        seclog=seclog,
        accounts=accounts,
        setup_codes=setup_codes,
        sim=sim,
        firmware=firmware,
        passwords=passwords,
        openadr=openadr,
    )
