"""The composition root: the one place that reads the settings and builds the charger.

Everything else receives what it needs as constructor arguments, so tests build
the same object graph on a :class:`~ukscp.clock.VirtualClock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

import ukscp
from ukscp.charger import Charger, SimulatedEv
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
from ukscp.hardware.protocols import Board
from ukscp.hardware.sim import SimBoard, SimEV, SimMeter
from ukscp.history import EventHistory
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.limits.arbiter import LimitChange
from ukscp.metering import METERING_FILE, MeteringStore, MeterSampler
from ukscp.regulation.default_mode import DefaultMode
from ukscp.regulation.delay_gate import (
    RandomDelayEnabledChanged,
    RandomDelayGate,
    RandomDelayMaxDurationChanged,
    draw_delay_s,
)
from ukscp.regulation.dsr import DsrLimits
from ukscp.regulation.random_delay import DelaySettings, Draw, Policy
from ukscp.settings_store import SettingsStore
from ukscp.web.api import create_api

_log = logging.getLogger(__name__)

HISTORY_FILE = "history.sqlite3"
SETTINGS_FILE = "settings.sqlite3"
SESSION_ACTIVE_KEY = "evse.session_active"
DELAY_ENABLED_KEY = "random_delay.enabled"
DELAY_MAX_KEY = "random_delay.max_duration_s"


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
    metering: MeteringStore
    sampler: MeterSampler
    charger: Charger
    api: FastAPI
    store: SettingsStore
    sim: SimulatedEv | None

    async def run(self, stop: asyncio.Event, on_ready: Callable[[str], None]) -> int:
        """Serve until ``stop`` is set, then shut down cleanly; returns the exit code."""
        web = self.settings.web
        try:
            listener = _listen(web.host, web.port)
        except OSError as exc:
            raise ServeError(f"cannot listen on {web.host}:{web.port}: {exc.strerror}") from None
        port = listener.getsockname()[1]
        server = _EmbeddedServer(uvicorn.Config(self.api, log_level="warning", lifespan="off"))
        self.start()
        controller_task = asyncio.create_task(self.controller.run(), name="evse-controller")
        schedule_task = asyncio.create_task(self.default_mode.run(), name="default-mode")
        sampler_task = asyncio.create_task(self.sampler.run(), name="meter-sampler")
        server_task = asyncio.create_task(server.serve(sockets=[listener]), name="web-server")
        on_ready(f"http://{web.host}:{port}/")
        await stop.wait()
        self.shutdown("stop requested (signal)")
        server.should_exit = True
        await asyncio.gather(
            controller_task, schedule_task, sampler_task, server_task, return_exceptions=True
        )
        self.close()
        return 0

    def start(self) -> None:
        """Record the start, offer the first limit, and bring the simulated EV in if asked.

        A session that was active when the charger went down, with the EV still
        connected now, makes this start a power restoration: a relevant time for
        the randomised delay. A first start on a fresh data directory, or an EV
        plugged in after start (``--sim-plug``), is not.
        """
        self.bus.publish(ChargerStarted(at=self.clock.now(), version=ukscp.__version__))
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
        self.history.close()
        self.metering.close()
        self.store.close()

    def shutdown(self, reason: str) -> None:
        """Make the EVSE safe and record why the charger stops."""
        self.bus.publish(ChargerStopping(at=self.clock.now(), reason=reason))
        self.default_mode.stop()
        self.sampler.stop()
        self.gate.close()
        self.controller.stop()


class ServeError(Exception):
    """The charger cannot serve its page and API (e.g. the port is taken)."""


def _listen(host: str, port: int) -> socket.socket:
    # Bound and listening before we say "ready": connections queue until uvicorn accepts,
    # and a taken port is reported in words before anything starts.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    listener.setblocking(False)
    return listener


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our event loop; the CLI, not uvicorn, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _refuse_unbuilt_features(settings: Settings) -> None:
    # Saying "enabled" must never silently do nothing.
    unbuilt = {
        "ocpp.enabled": settings.ocpp.enabled,
        "dsr.openadr.enabled": settings.dsr.openadr.enabled,
    }
    for key, enabled in unbuilt.items():
        if enabled:
            raise ConfigError(f"{key}: this feature is not available in ukscp {ukscp.__version__}")


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


def build_app(settings: Settings, clock: Clock, *, draw: Draw = draw_delay_s) -> App:
    """Build the whole charger from ``settings``.

    ``draw`` picks each random delay; only tests and the fleet simulator pass another.
    """
    _refuse_unbuilt_features(settings)
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    store = SettingsStore(data_dir / SETTINGS_FILE)
    bus = EventBus()
    history = EventHistory(data_dir / HISTORY_FILE)
    history.attach(bus)
    metering = MeteringStore(
        data_dir / METERING_FILE, raw_window_s=int(settings.metering.raw_retention_h * 3600)
    )
    metering.attach(bus)

    sim_ev = SimEV(phases=settings.supply.phases)
    board = SimBoard(
        clock,
        sim_ev,
        max_current_a=settings.hardware.board_max_current_a,
        phases=settings.supply.phases,
        voltage_v=settings.supply.voltage_v,
    )
    meter = SimMeter(board)
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
    dsr = DsrLimits(arbiter, default_mode, bus)

    sim = SimulatedEv(sim_ev, store)
    charger = Charger(clock, controller, arbiter, gate, default_mode, metering, meter, sim)
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
        metering=metering,
        sampler=sampler,
        charger=charger,
        api=create_api(charger),
        store=store,
        sim=sim,
    )
