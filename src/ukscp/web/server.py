"""Serving the page and API inside the charger's event loop: HTTPS, and a redirect.

uvicorn runs the HTTP protocol; the connections it serves are accepted by
:mod:`ukscp.web.connections` (a cap, timeouts, TCP_NODELAY) and every request passes
:mod:`ukscp.web.body_limit` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from ukscp.web.body_limit import BodyLimit
from ukscp.web.connections import (
    Acceptor,
    ConnectionTable,
    EdgeLimits,
    GuardedH11Protocol,
    connection_cap,
    open_file_limit,
)

GRACEFUL_STOP_S = 3

_log = logging.getLogger(__name__)


class ServeError(Exception):
    """The charger cannot serve its page and API (e.g. the port is taken)."""


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket, or ServeError in words.

    Bound and listening before the charger says "ready": connections queue
    until they are accepted, and a taken port is reported before anything starts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP (the acceptor sets it as well, so that neither alone is relied on).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    listener.setblocking(False)
    return listener


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    """What an unauthenticated client may hold: see :mod:`ukscp.web.connections`."""

    max_connections: int | None = None
    max_body_bytes: int = 65536
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    trusted_proxies: tuple[str, ...] = ()


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our event loop; the CLI, not uvicorn, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _redirect_app(https_port: int) -> ASGIApp:
    async def to_https(request: Request) -> RedirectResponse:
        host = request.url.hostname or "localhost"
        target = request.url.replace(scheme="https", netloc=f"{host}:{https_port}")
        return RedirectResponse(str(target), status_code=308)

    return Starlette(routes=[Route("/{path:path}", to_https, methods=["GET", "HEAD", "POST"])])


class WebServer:
    """The page and API on one port (HTTPS unless a lab asked for plain HTTP)."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        redirect_port: int | None = None,
        edge: EdgeSettings | None = None,
    ) -> None:
        self._listener = listen(host, port)
        self._redirect_listener = None if redirect_port is None else listen(host, redirect_port)
        self._host = host
        self._ssl = ssl_context
        self._edge = edge or EdgeSettings()
        # One cap for both ports: they draw on the same open-file limit.
        open_files = open_file_limit()
        self._table = ConnectionTable(connection_cap(open_files, self._edge.max_connections))
        _log.info(
            "web: up to %d connections at once (open-file limit %d)", self._table.cap, open_files
        )
        self._servers: list[_EmbeddedServer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._acceptors: list[asyncio.Task[None]] = []
        self._app = app

    @property
    def url(self) -> str:
        """Where the owner finds the page."""
        port = self._listener.getsockname()[1]
        scheme = "http" if self._ssl is None else "https"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{port}/"

    def start(self) -> None:
        """Start serving (on the running event loop)."""
        self._spawn(self._app, self._listener, self._ssl)
        if self._redirect_listener is not None:
            https_port = self._listener.getsockname()[1]
            self._spawn(_redirect_app(https_port), self._redirect_listener, None)

    def _spawn(self, app: ASGIApp, listener: socket.socket, tls: ssl.SSLContext | None) -> None:
        edge = self._edge
        trusted = list(edge.trusted_proxies)
        config = uvicorn.Config(
            BodyLimit(app, edge.max_body_bytes),
            log_level="warning",
            lifespan="off",
            ws="none",  # no route is a websocket
            # uvicorn believes X-Forwarded-For from 127.0.0.1 by default (and from
            # $FORWARDED_ALLOW_IPS): only from proxies the config names.
            proxy_headers=bool(trusted),
            forwarded_allow_ips=trusted or None,
            # A browser holding an idle TLS connection never answers the TLS close:
            # it must not hold up a SIGTERM for the 30 s of asyncio's SSL shutdown.
            timeout_graceful_shutdown=GRACEFUL_STOP_S,
        )
        config.load()
        server = _EmbeddedServer(config)
        self._servers.append(server)
        # No sockets for uvicorn: it serves the connections our acceptor hands it.
        self._tasks.append(asyncio.create_task(server.serve(sockets=[])))
        limits = EdgeLimits(edge.header_timeout_s, edge.body_timeout_s)

        def protocol() -> GuardedH11Protocol:
            return GuardedH11Protocol(
                config, server.server_state, {}, table=self._table, limits=limits
            )

        acceptor = Acceptor(listener, protocol, tls, self._table, edge.header_timeout_s)
        self._acceptors.append(asyncio.create_task(acceptor.run()))

    async def stop(self) -> None:
        """Stop accepting, then stop serving and wait for open requests to finish."""
        for acceptor in self._acceptors:
            acceptor.cancel()
        await asyncio.gather(*self._acceptors, return_exceptions=True)
        for listener in (self._listener, self._redirect_listener):
            if listener is not None:
                listener.close()
        for server in self._servers:
            server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
