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
from ukscp.events import ChargerStarted, ChargerStopping, EventBus, LimitChanged
from ukscp.evse.controller import EvseController
from ukscp.hardware.sim import SimBoard, SimEV, SimMeter
from ukscp.history import EventHistory
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.limits.arbiter import LimitChange
from ukscp.settings_store import SettingsStore
from ukscp.web.api import create_api

_log = logging.getLogger(__name__)

HISTORY_FILE = "history.sqlite3"
SETTINGS_FILE = "settings.sqlite3"


@dataclass
class App:
    """The built charger: its parts, and how to run and stop it."""

    settings: Settings
    clock: Clock
    bus: EventBus
    history: EventHistory
    arbiter: Arbiter
    controller: EvseController
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
        server_task = asyncio.create_task(server.serve(sockets=[listener]), name="web-server")
        on_ready(f"http://{web.host}:{port}/")
        await stop.wait()
        self.shutdown("stop requested (signal)")
        server.should_exit = True
        await asyncio.gather(controller_task, server_task, return_exceptions=True)
        self.close()
        return 0

    def start(self) -> None:
        """Record the start and bring the simulated EV in if asked to."""
        self.bus.publish(ChargerStarted(at=self.clock.now(), version=ukscp.__version__))
        self.controller.apply_limit(
            self.arbiter.current.amps, self.arbiter.current.phases, self.arbiter.current.source
        )
        if self.sim is not None:
            self.sim.restore()
            if self.settings.hardware.sim_plug_at_start:
                self.sim.plug()

    def close(self) -> None:
        """Close the databases (after :meth:`shutdown` and the tasks have ended)."""
        self.history.close()
        self.store.close()

    def shutdown(self, reason: str) -> None:
        """Make the EVSE safe and record why the charger stops."""
        self.bus.publish(ChargerStopping(at=self.clock.now(), reason=reason))
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


def build_app(settings: Settings, clock: Clock) -> App:
    """Build the whole charger from ``settings``."""
    _refuse_unbuilt_features(settings)
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    store = SettingsStore(data_dir / SETTINGS_FILE)
    bus = EventBus()
    history = EventHistory(data_dir / HISTORY_FILE)
    history.attach(bus)

    sim_ev = SimEV(phases=settings.supply.phases)
    board = SimBoard(
        clock,
        sim_ev,
        max_current_a=settings.hardware.board_max_current_a,
        phases=settings.supply.phases,
        voltage_v=settings.supply.voltage_v,
    )
    meter = SimMeter(board)
    controller = EvseController(board, meter, clock, bus)

    arbiter = Arbiter(
        caps={
            "hardware": Limit(board.max_current_a, LimitSource.HARDWARE, "board rating"),
            "supply": Limit(settings.supply.max_current_a, LimitSource.SUPPLY, "supply fuse"),
        },
        supply_phases=settings.supply.phases,
    )

    def on_limit_change(change: LimitChange) -> None:
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
        controller.apply_limit(change.new.amps, change.new.phases, change.cause.source)

    arbiter.subscribe(on_limit_change)

    sim = SimulatedEv(sim_ev, store)
    charger = Charger(clock, controller, arbiter, meter, sim)
    return App(
        settings=settings,
        clock=clock,
        bus=bus,
        history=history,
        arbiter=arbiter,
        controller=controller,
        charger=charger,
        api=create_api(charger),
        store=store,
        sim=sim,
    )
