"""What one client may hold of the web server: connections, and time to send a request.

uvicorn 0.54 (with h11) leaves three gaps that an unauthenticated client on the
owner's network can use, so they are closed here, narrowly, around it:

* it accepts every connection, with no cap below the process's open-file limit;
  asyncio's accept loop (Python 3.11, ``selector_events._accept_connection``) then
  meets EMFILE and, per pending connection, logs a traceback and schedules another
  retry: the loop spins and the log grows by hundreds of MB a minute. :class:`Acceptor`
  accepts instead, against a :class:`ConnectionTable` capped below RLIMIT_NOFILE, and
  backs off when the process is out of files anyway;
* it has no timeout before a request's headers are complete (its keep-alive timeout
  only starts after a response), nor for a request's body; asyncio's TLS handshake
  timeout is 60 s. :class:`GuardedH11Protocol` gives each request a deadline for its
  headers and one for its body, and the acceptor passes the handshake timeout;
* accepted sockets do not get TCP_NODELAY: asyncio sets it only when
  ``sock.proto == IPPROTO_TCP``, and a socket from ``socket.socket(family,
  SOCK_STREAM)`` has proto 0, so every answer written in two parts waited for the
  client's delayed ACK (about 40 ms). The acceptor sets it on every connection.

uvicorn's own settings do the rest: h11's default ``max_incomplete_event_size``
(16 KiB) bounds a request's headers, ``timeout_keep_alive`` (5 s) closes a connection
idle after an answer, and ``proxy_headers``/``forwarded_allow_ips`` are set from
``web.trusted_proxies`` (:mod:`ukscp.web.server`). ``limit_concurrency`` does not do
this job: it counts connections only once accepted, and answers 503 only when a whole
request has arrived, which a half-open connection never sends.

At the cap the oldest connection still waiting for its client (in the TLS handshake,
sending headers or a body, or idle between requests) is closed to make room, so
half-open connections cannot keep the owner's browser out; a newcomer is refused only
when every connection holds a request the charger is answering. Refusals, evictions,
timeouts and running out of files are logged at most once a minute each.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

_log = logging.getLogger(__name__)

# Files the charger needs besides its page's connections: SQLite databases with their
# WAL and shared-memory files, the OCPP websocket and queue, firmware downloads, logs.
# About 25 are open at idle.
RESERVED_FILES = 100
LOG_EVERY_S = 60.0
# After EMFILE, accepting again at once would fail again: wait for files to free up.
ACCEPT_RETRY_S = 1.0
_OUT_OF_FILES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def open_file_limit() -> int:
    """The process's soft RLIMIT_NOFILE (what systemd's LimitNOFILE sets)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


def connection_cap(open_files: int, configured: int | None = None) -> int:
    """Most connections to serve at once: below ``open_files`` by the charger's own needs.

    ``configured`` (``web.max_connections``) can only lower it.
    """
    cap = max(1, open_files - RESERVED_FILES)
    return cap if configured is None else min(cap, configured)


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """The time a client has for each step of a request."""

    header_timeout_s: float
    body_timeout_s: float


class EveryMinute:
    """A warning logged at most once a minute, saying how often it happened meanwhile."""

    def __init__(self, message: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._message = message
        self._clock = clock
        self._count = 0
        self._logged_at: float | None = None

    def note(self) -> None:
        """Count one occurrence; log if a minute has passed since the last line."""
        self._count += 1
        now = self._clock()
        if self._logged_at is None or now - self._logged_at >= LOG_EVERY_S:
            _log.warning("%s [%d in the last minute]", self._message, self._count)
            self._logged_at = now
            self._count = 0


class Connection(Protocol):
    """An open connection, as the table sees it."""

    @property
    def waiting_since(self) -> float | None:
        """Loop time since when it waits for its client; None while a request is answered."""
        ...

    def drop(self) -> None:
        """Close it at once (its file descriptor is freed without a TLS goodbye)."""
        ...


class ConnectionTable:
    """The open connections of the web server, against the cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: dict[int, Connection] = {}
        self.evicted = EveryMinute(
            f"web: {cap} connections open (the cap): closed the oldest that had sent no request"
        )
        self.refused = EveryMinute(
            f"web: {cap} connections open (the cap), all busy: refused a new connection"
        )
        self.timed_out = EveryMinute("web: closed a connection that was too slow to send a request")

    def __len__(self) -> int:
        return len(self._open)

    def add(self, connection: Connection) -> None:
        """Count ``connection`` against the cap."""
        self._open[id(connection)] = connection

    def discard(self, connection: Connection) -> None:
        """Stop counting ``connection`` (idempotent)."""
        self._open.pop(id(connection), None)

    def make_room(self) -> bool:
        """True when there is room for one more, after closing the longest-waiting if full."""
        if len(self._open) < self.cap:
            return True
        waiting = [c for c in self._open.values() if c.waiting_since is not None]
        if not waiting:
            self.refused.note()
            return False
        oldest = min(waiting, key=lambda c: c.waiting_since or 0.0)
        self.discard(oldest)
        oldest.drop()
        self.evicted.note()
        return True


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's headers and body."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        table: ConnectionTable,
        limits: EdgeLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._table = table
        self._limits = limits
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_body = False
        self._waiting_since: float | None = None

    @property
    def waiting_since(self) -> float | None:
        """Loop time since when it waits for its client; None while a request is answered."""
        return self._waiting_since

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Counted from here (after the TLS handshake); the first request's clock starts."""
        super().connection_made(transport)
        self._table.add(self)
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        """No longer counted."""
        self._table.discard(self)
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does, then follow where the request has got to."""
        super().data_received(data)
        self._follow_request()

    def on_response_complete(self) -> None:
        """The next request's clock starts (uvicorn's keep-alive timer closes an idle one)."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_request()
            self._follow_request()  # a pipelined request may already be in

    def drop(self) -> None:
        """Close at once, without waiting for a TLS close from the client."""
        self._cancel_deadline()
        self.transport.abort()

    def _await_request(self) -> None:
        self._waiting_since = self.loop.time()
        self._reading_body = False
        self._arm(self._limits.header_timeout_s)

    def _follow_request(self) -> None:
        state = self.conn.their_state
        if state is h11.IDLE:
            return  # headers not complete yet: the header deadline runs on
        if state is h11.SEND_BODY:
            if not self._reading_body:
                self._reading_body = True
                self._arm(self._limits.body_timeout_s)
            return
        # The whole request is in: the charger is answering it, the client is not late.
        self._waiting_since = None
        self._cancel_deadline()

    def _arm(self, seconds: float) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self._table.timed_out.note()
        self._table.discard(self)
        self.transport.abort()


class _Handshake:
    """A connection still in its TLS handshake: counted, and dropped by cancelling it."""

    def __init__(self, task: asyncio.Task[None], since: float) -> None:
        self._task = task
        self.waiting_since: float | None = since

    def drop(self) -> None:
        self._task.cancel()


class Acceptor:
    """Accepts the connections of one listening socket, within the table's cap."""

    def __init__(
        self,
        listener: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        ssl_context: ssl.SSLContext | None,
        table: ConnectionTable,
        handshake_timeout_s: float,
    ) -> None:
        self._listener = listener
        self._factory = protocol_factory
        self._ssl = ssl_context
        self._table = table
        self._handshake_timeout_s = handshake_timeout_s
        self._handshakes: set[asyncio.Task[None]] = set()
        self._out_of_files = EveryMinute(
            "web: the process is out of file descriptors; accepting again in a second"
        )
        self._failed = EveryMinute("web: accepting a connection failed; retrying in a second")

    async def run(self) -> None:
        """Accept until cancelled; never busy-loops, whatever accept() says."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    sock, _ = await loop.sock_accept(self._listener)
                except ConnectionError:
                    continue  # that client gave up before we accepted it
                except OSError as exc:
                    (self._out_of_files if exc.errno in _OUT_OF_FILES else self._failed).note()
                    await asyncio.sleep(ACCEPT_RETRY_S)
                    continue
                if not self._table.make_room():
                    sock.close()
                else:
                    self._start(loop, sock)
                # A pending connection is accepted without yielding: let the loop close
                # the one just dropped before the next is accepted, so that a burst of
                # connections never holds more files than the cap.
                await asyncio.sleep(0)
        finally:
            for task in list(self._handshakes):
                task.cancel()
            await asyncio.gather(*self._handshakes, return_exceptions=True)

    def _start(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        task = loop.create_task(self._open(sock))
        handshake = _Handshake(task, loop.time())
        self._table.add(handshake)
        self._handshakes.add(task)
        task.add_done_callback(lambda done: self._finished(done, handshake))

    def _finished(self, task: asyncio.Task[None], handshake: _Handshake) -> None:
        self._handshakes.discard(task)
        self._table.discard(handshake)

    async def _open(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self._ssl is None:
                await loop.connect_accepted_socket(self._factory, sock)
            else:
                await loop.connect_accepted_socket(
                    self._factory,
                    sock,
                    ssl=self._ssl,
                    ssl_handshake_timeout=self._handshake_timeout_s,
                    ssl_shutdown_timeout=self._handshake_timeout_s,
                )
        except (OSError, EOFError):
            # A failed or too slow TLS handshake: nothing for the owner to act on.
            with contextlib.suppress(OSError):
                sock.close()
