"""Shared parts of the OCPP 1.6 tests: a real central system, a fake charger, helpers.

The central system is built on the ``ocpp`` library (``ocpp.v16.ChargePoint`` on
the server side) over ``websockets.serve`` on 127.0.0.1. It records every
request it receives, in order, across connections and restarts. (This module
holds no tests; it is named ``test_*`` only to live beside the tests that use it.)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call_result
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ukscp.clock import VirtualClock
from ukscp.events import EventBus, SessionEnded, SessionStarted
from ukscp.limits.limit import Limit
from ukscp.ocpp.queue import QUEUE_FILE, MessageQueue
from ukscp.ocpp.transport import Backoff, CsmsTransport, TransportConfig
from ukscp.ocpp.v16 import ChargerSnapshot, ClientOptions, OcppClient16, SmartCharging16
from ukscp.security.seclog import SECLOG_FILE, SecurityLog
from ukscp.settings_store import SettingsStore

IDENTITY = "CP_1"
KEY = "a-per-device-key-0123456789"


# ----------------------------------------------------------------------------- CSMS


@dataclass
class Received:
    """One request the CSMS received."""

    action: str
    payload: dict[str, Any]
    connection: int


class RecordingCsms:
    """The version-neutral part of a CSMS connection: record requests, send raw frames.

    Mixed in before an ``ocpp`` library ChargePoint (``ocpp.v16`` or ``ocpp.v201``).
    """

    def __init__(self, cp_id: str, connection: ServerConnection, server: CsmsServer) -> None:
        super().__init__(cp_id, connection, response_timeout=5)
        self.server = server
        self.number = server.connection_count
        self._raw_waiters: dict[str, asyncio.Future[list[Any]]] = {}

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.server.received.append(Received(action, payload, self.number))

    async def route_message(self, raw_msg: str) -> None:
        # Answers to raw_call() are taken here; everything else is the library's.
        with contextlib.suppress(ValueError, TypeError, IndexError):
            message = json.loads(raw_msg)
            waiter = self._raw_waiters.pop(message[1], None)
            if waiter is not None:
                waiter.set_result(message)
                return
        await super().route_message(raw_msg)

    async def raw_call(self, text: str, unique_id: str, timeout_s: float = 5) -> list[Any]:
        """Send ``text`` as is and return the charge point's answer (a parsed list)."""
        waiter: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._raw_waiters[unique_id] = waiter
        await self._connection.send(text)
        return await asyncio.wait_for(waiter, timeout_s)


class CentralSystemCp(RecordingCsms, OcppChargePoint):
    """The CSMS's end of one OCPP 1.6 charge point connection."""

    @on("BootNotification")
    def on_boot(self, **payload: Any) -> Any:
        self._record("BootNotification", payload)
        status, interval = (
            self.server.boot_answers.pop(0)
            if self.server.boot_answers
            else (
                "Accepted",
                self.server.heartbeat_interval,
            )
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
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def on_start(self, **payload: Any) -> Any:
        self._record("StartTransaction", payload)
        transaction_id = next(self.server.transaction_ids)
        return call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info={"status": "Accepted"}
        )

    @on("StopTransaction")
    def on_stop(self, **payload: Any) -> Any:
        self._record("StopTransaction", payload)
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

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

    @on("SignedFirmwareStatusNotification")
    def on_signed_firmware_status(self, **payload: Any) -> Any:
        self._record("SignedFirmwareStatusNotification", payload)
        return call_result.SignedFirmwareStatusNotification()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **payload: Any) -> Any:
        self._record("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on("DiagnosticsStatusNotification")
    def on_diagnostics_status(self, **payload: Any) -> Any:
        self._record("DiagnosticsStatusNotification", payload)
        return call_result.DiagnosticsStatusNotification()


@dataclass
class CsmsServer:
    """A central system on 127.0.0.1 that can be stopped and started on the same port."""

    ssl_context: ssl.SSLContext | None = None
    basic_auth: tuple[str, str] | None = None  # (identity, key) the CSMS expects
    heartbeat_interval: int = 300
    boot_answers: list[tuple[str, int]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    auth_failures: int = 0
    connection_count: int = 0
    port: int = 0
    peer_certificates: list[dict[str, Any]] = field(default_factory=list)
    transaction_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(101))
    subprotocol: str = "ocpp1.6"
    cp_class: type[RecordingCsms] = CentralSystemCp
    cp: Any = None
    _server: Server | None = None

    @property
    def url(self) -> str:
        """The CSMS URL the charger is configured with (no identity)."""
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://localhost:{self.port}/ocpp"

    async def start(self) -> None:
        """Listen (on the same port as before, after a stop)."""
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            subprotocols=[self.subprotocol],  # type: ignore[list-item]
            ssl=self.ssl_context,
            process_request=self._check_auth,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Go away abruptly, as a crashed CSMS does."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cp = None

    async def kill(self) -> None:
        """Die without a closing handshake: connections are cut, the port stops listening."""
        if self._server is not None:
            self._server.close(close_connections=False)
            for connection in list(self._server.connections):
                connection.transport.abort()
            await self._server.wait_closed()
            self._server = None
        self.cp = None

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.basic_auth is None:
            return None
        identity, key = self.basic_auth
        expected = "Basic " + base64.b64encode(f"{identity}:{key}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            self.auth_failures += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        self.connection_count += 1
        ssl_object = connection.transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.getpeercert():
            self.peer_certificates.append(ssl_object.getpeercert())
        cp = self.cp_class(connection.request.path.rsplit("/", 1)[-1], connection, self)
        self.cp = cp
        with contextlib.suppress(Exception):
            await cp.start()

    def actions(self, *, skip: tuple[str, ...] = ("Heartbeat",)) -> list[str]:
        """The actions received, in order."""
        return [r.action for r in self.received if r.action not in skip]

    def of(self, action: str) -> list[dict[str, Any]]:
        """The payloads of every ``action`` received, in order."""
        return [r.payload for r in self.received if r.action == action]

    async def call(self, payload: Any) -> Any:
        """Send a request to the connected charge point and return its answer."""
        assert self.cp is not None, "no charge point connected"
        return await self.cp.call(payload)


@contextlib.asynccontextmanager
async def running_csms(**options: Any) -> AsyncIterator[CsmsServer]:
    """A started :class:`CsmsServer`, stopped at the end."""
    server = CsmsServer(**options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ----------------------------------------------------------------------------- the charger side


@dataclass
class FakePort:
    """A charger reduced to what the OCPP client sees of it."""

    pilot_state: str = "A"
    energy_import_wh: float = 1000.0
    power_w: float = 0.0
    offered_a: float = 16.0
    session_id: str | None = None
    remote_starts: list[str] = field(default_factory=list)
    remote_start_causes: list[Limit] = field(default_factory=list)
    remote_stops: int = 0
    resets: list[bool] = field(default_factory=list)
    delay_max_s: int = 600
    delay_enabled: bool = True
    delay_running: bool = False  # set by a test: a delay the CSMS may cancel
    delay_cancels: int = 0
    external: dict[str, float] = field(default_factory=dict)
    limit_watchers: list[Callable[[], None]] = field(default_factory=list)
    limits: list[Limit | None] = field(default_factory=list)
    operative: bool = True

    def snapshot(self) -> ChargerSnapshot:
        connected = self.pilot_state in ("B", "C", "D")
        return ChargerSnapshot(
            pilot_state=self.pilot_state,
            ev_connected=connected,
            contactor_closed=self.pilot_state in ("C", "D"),
            offered_a=self.offered_a,
            phases=1,
            current_a=self.power_w / 230.0,
            power_w=self.power_w,
            energy_import_wh=self.energy_import_wh,
            energy_export_wh=0.0,
            session_id=self.session_id,
        )

    def remote_start(self, id_tag: str, cause: Limit) -> bool:
        self.remote_starts.append(id_tag)
        self.remote_start_causes.append(cause)
        return True

    def remote_stop(self) -> bool:
        self.remote_stops += 1
        return True

    def reset(self, hard: bool) -> None:
        self.resets.append(hard)

    def random_delay_max_s(self) -> int:
        return self.delay_max_s

    def set_random_delay_max_s(self, seconds: int) -> None:
        if not 0 <= seconds <= 1800:
            raise ValueError(seconds)
        self.delay_max_s = seconds

    def random_delay_enabled(self) -> bool:
        return self.delay_enabled

    def set_random_delay_enabled(self, enabled: bool) -> None:
        self.delay_enabled = enabled

    def cancel_random_delay(self) -> bool:
        if not self.delay_running:
            return False
        self.delay_running = False
        self.delay_cancels += 1
        return True

    def external_limits(self) -> dict[str, float]:
        return dict(self.external)

    def watch_limits(self, listener: Callable[[], None]) -> Callable[[], None]:
        self.limit_watchers.append(listener)
        return lambda: self.limit_watchers.remove(listener)

    def set_external_limit(self, source: str, amps: float | None) -> None:
        """An energy manager or a grid operator sets (None: lifts) its limit."""
        if amps is None:
            self.external.pop(source, None)
        else:
            self.external[source] = amps
        for watcher in self.limit_watchers:
            watcher()

    def set_ocpp_limit(self, limit: Limit | None) -> None:
        self.limits.append(limit)

    def set_operative(self, operative: bool) -> None:
        self.operative = operative

    # What the EVSE controller would publish.
    def plug(self, bus: EventBus, clock: VirtualClock, session_id: str = "s1") -> None:
        self.pilot_state, self.session_id, self.power_w = "C", session_id, 7360.0
        bus.publish(
            SessionStarted(
                at=clock.now(), session_id=session_id, energy_register_wh=self.energy_import_wh
            )
        )

    def unplug(self, bus: EventBus, clock: VirtualClock, energy_wh: float) -> None:
        session_id = self.session_id or "s1"
        self.pilot_state, self.session_id, self.power_w = "A", None, 0.0
        bus.publish(
            SessionEnded(at=clock.now(), session_id=session_id, energy_wh=energy_wh, duration_s=1)
        )


@dataclass
class Charger:
    """The OCPP client with a fake port, its stores and its running task."""

    client: OcppClient16
    port: FakePort
    bus: EventBus
    clock: VirtualClock
    seclog: SecurityLog
    store: SettingsStore
    transport: CsmsTransport
    task: asyncio.Task[None] | None = None
    stopped: bool = False

    def start(self) -> None:
        self.task = asyncio.create_task(self.client.run())

    async def stop(self) -> None:
        """Stop and close everything (once: a test may stop early, the fixture again)."""
        if self.stopped:
            return
        self.stopped = True
        self.client.stop()
        if self.task is not None:
            await self.task
        self.client.close()
        self.seclog.close()
        self.store.close()


def write_key(path: Path, key: str = KEY) -> Path:
    """Store an authorization key with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return path


def transport_config(url: str, data: Path, **changes: Any) -> TransportConfig:
    """Profile 1 over ws:// (a lab) unless ``changes`` say otherwise."""
    settings: dict[str, Any] = {
        "url": url,
        "identity": IDENTITY,
        "security_profile": 1,
        "authorization_key_file": data / "ocpp_key",
        "allow_insecure_transport": True,
        "open_timeout_s": 5.0,
    }
    settings.update(changes)
    return TransportConfig(**settings)


FAST = Backoff(initial_s=1.0, maximum_s=8.0)
TEST_OPTIONS = ClientOptions(
    response_timeout_s=5.0,
    reset_flush_s=30.0,
    upload_timeout_s=5.0,
    allow_private_targets=True,  # the upload servers of the tests listen on 127.0.0.1
)


def make_charger(
    data: Path,
    clock: VirtualClock,
    config: TransportConfig,
    *,
    port: FakePort | None = None,
    options: ClientOptions = TEST_OPTIONS,
    smart_charging: bool = False,
) -> Charger:
    """The OCPP client on a fake charger, with real stores under ``data``."""
    bus = EventBus()
    seclog = SecurityLog(data / SECLOG_FILE, clock)
    store = SettingsStore(data / "settings.sqlite3")
    transport = CsmsTransport(config, clock, seclog, backoff=FAST, jitter=lambda: 0.5)
    fake = port or FakePort()
    smart = None
    if smart_charging:
        smart = SmartCharging16(
            port=fake, clock=clock, store=store, voltage_v=230, phases=1, max_current_a=32
        )
    client = OcppClient16(
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
    return Charger(client, fake, bus, clock, seclog, store, transport)


async def eventually(
    predicate: Callable[[], bool],
    clock: VirtualClock,
    *,
    step_s: float = 0.25,
    timeout_s: float = 15.0,
    what: str = "condition",
) -> None:
    """Move virtual time in small steps, and real time a little, until ``predicate``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await clock.advance(step_s)
        await asyncio.sleep(0.005)


async def until_real(
    predicate: Callable[[], bool], clock: VirtualClock, *, timeout_s: float = 15.0, what: str
) -> None:
    """Let real I/O happen, without moving virtual time, until ``predicate``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await clock.settle()
        await asyncio.sleep(0.005)


async def settle_real(clock: VirtualClock, seconds: float = 0.3) -> None:
    """Let real I/O happen for ``seconds`` without moving virtual time."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await clock.settle()
        await asyncio.sleep(0.01)


# ----------------------------------------------------------------------------- upload server


@dataclass
class UploadServer:
    """A plain HTTP server on 127.0.0.1 that keeps what is PUT or POSTed to it.

    It answers ``status`` (201: stored); ``clock``, if given, times each request.
    """

    uploads: list[tuple[str, str, bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    status: int = 201
    clock: VirtualClock | None = None
    times: list[float] = field(default_factory=list)

    def start(self) -> str:
        uploads = self.uploads
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _store(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                uploads.append((self.command, self.path, self.rfile.read(length)))
                if owner.clock is not None:
                    owner.times.append(owner.clock.monotonic())
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = _store
            do_POST = _store

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/logs/"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class HungServer:
    """A TCP server on 127.0.0.1 that takes connections and never answers them.

    An upload or download to it waits until its client gives up; ``closed`` is
    set when the client closes a connection (as an aborted transfer does).
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.accepted = threading.Event()
        self.closed = threading.Event()
        self.connections = 0
        self._stopping = False
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stopping:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self.accepted.set()
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        with connection:
            try:
                while connection.recv(65536):
                    pass  # read the request, never answer it
            except OSError:
                pass
        self.closed.set()

    def stop(self) -> None:
        self._stopping = True
        self._listener.close()


# ----------------------------------------------------------------------------- the real charger


@dataclass
class RealCharger:
    """The whole charger as ``build_app`` makes it, with an OCPP client wired in."""

    app: Any  # ukscp.app.App
    client: Any  # OcppClient16 or OcppClient201
    resets: list[bool]
    tasks: list[asyncio.Task[None]]

    async def stop(self) -> None:
        """Stop as on SIGTERM: the client, then the charger; close the databases."""
        self.client.stop()
        self.app.shutdown("test finished")
        await asyncio.gather(*self.tasks)
        self.client.close()
        self.app.close()


ClientBuilder = Callable[[Any, Any], Any]
"""``(app, port) -> client``: one version's OCPP client on the charger's port."""


def run_real_charger(
    data: Path, clock: VirtualClock, draw: Any, build_client: ClientBuilder
) -> RealCharger:
    """Build the charger on ``data`` (existing state is kept), wire a client in, and run it.

    ``draw`` fixes the randomised delay's draws (``build_app``'s), if given.
    """
    from ukscp.app import build_app
    from ukscp.config import Settings
    from ukscp.hardware.sim import SimMeter
    from ukscp.ocpp_adapter import AppChargerPort

    app = build_app(Settings(data_dir=data), clock, **({} if draw is None else {"draw": draw}))
    resets: list[bool] = []
    port = AppChargerPort(
        controller=app.controller,
        meter=SimMeter(app.board),
        gate=app.gate,
        arbiter=app.arbiter,
        default_mode=app.default_mode,
        dsr=app.dsr,
        bus=app.bus,
        reset=resets.append,
    )
    write_key(data / "ocpp_key")
    client = build_client(app, port)
    app.start()  # after the client subscribed: it sees the restored session start
    tasks = [
        asyncio.create_task(app.controller.run()),
        asyncio.create_task(app.default_mode.run()),
        asyncio.create_task(app.sampler.run()),
        asyncio.create_task(client.run()),
    ]
    return RealCharger(app, client, resets, tasks)


def start_real_charger(
    data: Path,
    clock: VirtualClock,
    url: str,
    *,
    sample_interval_s: int | None = None,
    smart_charging: bool = False,
    draw: Any = None,
    options: ClientOptions = TEST_OPTIONS,
) -> RealCharger:
    """The whole charger with the 1.6 client (see :func:`run_real_charger`)."""

    def build(app: Any, port: Any) -> OcppClient16:
        transport = CsmsTransport(
            transport_config(url, data), clock, app.seclog, backoff=FAST, jitter=lambda: 0.5
        )
        smart = None
        if smart_charging:
            supply = app.settings.supply
            smart = SmartCharging16(
                port=port,
                clock=clock,
                store=app.store,
                voltage_v=supply.voltage_v,
                phases=supply.phases,
                max_current_a=min(supply.max_current_a, app.board.max_current_a),
            )
        client = OcppClient16(
            transport=transport,
            port=port,
            bus=app.bus,
            clock=clock,
            seclog=app.seclog,
            queue=MessageQueue(data / QUEUE_FILE),
            store=app.store,
            options=options,
            smart_charging=smart,
        )
        if sample_interval_s is not None:
            client.configuration.set_value("MeterValueSampleInterval", str(sample_interval_s))
        return client

    return run_real_charger(data, clock, draw, build)
