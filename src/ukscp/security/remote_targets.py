"""Where a back end may make the charger upload to or download from, and how hard it may try.

OCPP GetLog (an upload of the security log) and SignedUpdateFirmware /
UpdateFirmware (a download) carry a URL and retry settings the CSMS chooses.
A hostile or broken CSMS must not be able to turn the charger into a tool
against its own network, nor keep it busy for ever:

* **Targets.** ``https://`` (plain ``http://`` only where the lab allows plain
  ``ws://`` too), and every address the host name resolves to must be global:
  loopback, link-local (``169.254.169.254``, a cloud's metadata service),
  private, shared (CGNAT), multicast and reserved addresses are refused unless
  ``ocpp.allow_private_targets`` is set (a lab with its file server on the
  local network). The name is resolved and checked when the connection is
  made, and the connection goes to the address that was checked, so a
  redirect, or a DNS answer that changes between a check and the connection,
  leads nowhere else. A refused target is final: it is logged once and not
  retried.
* **Retries.** The CSMS's ``retries`` is clamped to 0..:data:`MAX_RETRIES` (5)
  and ``retryInterval`` to :data:`MIN_RETRY_INTERVAL_S` (30 s) ..
  :data:`MAX_RETRY_INTERVAL_S` (1 h); absent, they are 2 and 60 s. A request
  therefore makes at most 6 attempts, at least 30 s apart, over at most about
  5 hours: enough to ride out a file server's restart or a short outage, and
  no more than a charger should spend on one request. (Neither OCPP 1.6's
  security whitepaper nor 2.0.1 sets limits; both leave the retry policy to the
  charger when the fields are absent.)
* **One at a time, and stopped when asked.** Each transfer runs on a worker
  thread (urllib), and :meth:`Transfer.abort` shuts its sockets, so a
  cancelled transfer (a newer request, the back end replaced, the charger
  stopping) ends at once instead of at its socket timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from http.client import HTTPMessage
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

_log = logging.getLogger(__name__)

MAX_RETRIES = 5
DEFAULT_RETRIES = 2
MIN_RETRY_INTERVAL_S = 30
MAX_RETRY_INTERVAL_S = 3600
DEFAULT_RETRY_INTERVAL_S = 60

T = TypeVar("T")


class TargetRefused(Exception):
    """The target is not one the charger may reach; final, never retried."""


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """How many more attempts after the first, and how far apart."""

    retries: int
    interval_s: int
    clamped: bool  # the request asked for more, or faster, than allowed


def retry_plan(retries: int | None, interval_s: int | None) -> RetryPlan:
    """The CSMS's ``retries`` and ``retryInterval``, within this module's bounds."""
    wanted = (
        DEFAULT_RETRIES if retries is None else retries,
        DEFAULT_RETRY_INTERVAL_S if interval_s is None else interval_s,
    )
    allowed = (
        min(max(wanted[0], 0), MAX_RETRIES),
        min(max(wanted[1], MIN_RETRY_INTERVAL_S), MAX_RETRY_INTERVAL_S),
    )
    return RetryPlan(*allowed, clamped=allowed != wanted)


def address_refusal(address: str) -> str | None:
    """Why the charger may not connect to IP ``address``, or None (a global unicast address)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return None
    kinds = (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
    )
    kind = next((name for name, match in kinds if match), "non-global")
    return f"{address} is a {kind} address"


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Which targets a transfer may reach (see the module docstring)."""

    allow_plain_http: bool = False
    allow_private: bool = False
    ca_file: Path | None = None
    refusal: Callable[[str], str | None] = field(default=address_refusal)
    """Why an IP address is off limits (only tests pass another)."""

    def location_problem(self, location: str) -> str | None:
        """Why ``location`` cannot be used, as far as can be told without resolving it."""
        parts = urlsplit(location)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            return f"unsupported location {location!r} (only http(s) URLs are)"
        if parts.scheme == "http" and not self.allow_plain_http:
            return "plain http:// is not allowed (use https://)"
        if self.allow_private:
            return None
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} names this charger itself"
        try:
            return self.refusal(host)
        except ValueError:
            return None  # a host name: resolved and checked when connecting

    def address_problem(self, address: str) -> str | None:
        """Why the charger may not connect to IP ``address``, or None."""
        return None if self.allow_private else self.refusal(address.split("%", 1)[0])


class _Guard:
    """Makes the sockets of one transfer: only to allowed addresses; shuts them on abort."""

    def __init__(self, policy: TargetPolicy) -> None:
        self._policy = policy
        self._sockets: list[socket.socket] = []
        self._aborted = False
        self._lock = threading.Lock()

    def connect(
        self, address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        """``socket.create_connection`` with every resolved address checked first."""
        host, port = address
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for *_, sockaddr in found:
            problem = self._policy.address_problem(str(sockaddr[0]))
            if problem is not None:
                raise TargetRefused(f"{host}: {problem}")
        failure = OSError(f"{host} has no address")
        for family, kind, proto, _, sockaddr in found:
            sock = socket.socket(family, kind, proto)
            with self._lock:
                if self._aborted:
                    sock.close()
                    raise OSError("the transfer was stopped")
                self._sockets.append(sock)
            try:
                if isinstance(timeout, (int, float)):
                    sock.settimeout(timeout)
                sock.connect(sockaddr)
            except OSError as exc:
                failure = exc
                sock.close()
                continue
            return sock
        raise failure

    def abort(self) -> None:
        """Shut every socket of the transfer: a thread blocked on one returns at once."""
        with self._lock:
            self._aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # not connected yet, or already closed
                sock.shutdown(socket.SHUT_RDWR)


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # http.client opens its socket through this attribute (HTTPS wraps that socket).
        self._create_connection = guard.connect


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = guard.connect


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self._guard = guard

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_GuardedHTTPConnection, guard=self._guard), req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, guard: _Guard, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._guard = guard
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = partial(_GuardedHTTPSConnection, guard=self._guard)
        return self.do_open(connection, req, context=self._tls)


class _SameRules(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to where the request itself could have gone."""

    def __init__(self, policy: TargetPolicy) -> None:
        self._policy = policy

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        problem = self._policy.location_problem(newurl)
        if problem is not None:
            raise TargetRefused(f"redirected to {newurl!r}: {problem}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """System CAs, and ``ca_file`` if given; TLS 1.2 at least."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class Transfer:
    """One exchange with a target the CSMS named, under a :class:`TargetPolicy`.

    :meth:`open` blocks (call it on a worker thread, see :meth:`run`); no proxy
    is taken from the environment: only the CSMS says where data goes.
    """

    def __init__(self, policy: TargetPolicy) -> None:
        self._guard = _Guard(policy)
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            _GuardedHTTPHandler(self._guard),
            _GuardedHTTPSHandler(self._guard, tls_context(policy.ca_file)),
            _SameRules(policy),
        )

    def open(self, request: urllib.request.Request, timeout_s: float) -> Any:
        """``urlopen`` through the guarded handlers (raises TargetRefused, URLError, ...)."""
        return self._opener.open(request, timeout=timeout_s)

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` (which uses :meth:`open`) on a worker thread; cancelled: aborted."""
        try:
            return await asyncio.to_thread(work)
        except asyncio.CancelledError:
            self._guard.abort()
            raise

    def abort(self) -> None:
        """End the exchange now: its sockets are shut, its thread returns."""
        self._guard.abort()
