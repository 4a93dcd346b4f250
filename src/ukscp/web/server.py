"""Serving the page and API inside the charger's event loop: HTTPS, and a redirect."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route
from starlette.types import ASGIApp

GRACEFUL_STOP_S = 3


class ServeError(Exception):
    """The charger cannot serve its page and API (e.g. the port is taken)."""


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket, or ServeError in words.

    Bound and listening before the charger says "ready": connections queue
    until uvicorn accepts them, and a taken port is reported before anything starts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    listener.setblocking(False)
    return listener


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
    ) -> None:
        self._listener = listen(host, port)
        self._redirect_listener = None if redirect_port is None else listen(host, redirect_port)
        self._host = host
        self._ssl = ssl_context
        self._servers: list[_EmbeddedServer] = []
        self._tasks: list[asyncio.Task[None]] = []
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
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            lifespan="off",
            # A browser holding an idle TLS connection never answers the TLS close:
            # it must not hold up a SIGTERM for the 30 s of asyncio's SSL shutdown.
            timeout_graceful_shutdown=GRACEFUL_STOP_S,
        )
        config.load()
        config.ssl = self._ssl  # our context: TLS 1.2 at least, the device certificate
        self._spawn(config, self._listener)
        if self._redirect_listener is not None:
            https_port = self._listener.getsockname()[1]
            redirect = uvicorn.Config(
                _redirect_app(https_port), log_level="warning", lifespan="off"
            )
            self._spawn(redirect, self._redirect_listener)

    def _spawn(self, config: uvicorn.Config, listener: socket.socket) -> None:
        server = _EmbeddedServer(config)
        self._servers.append(server)
        self._tasks.append(asyncio.create_task(server.serve(sockets=[listener])))

    async def stop(self) -> None:
        """Stop serving and wait for open requests to finish."""
        for server in self._servers:
            server.should_exit = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
