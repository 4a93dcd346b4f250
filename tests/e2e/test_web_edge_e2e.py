"""What an unauthenticated client on the owner's network can hold of the real charger.

Each test starts the real ``ukscp run`` and plays the attacker on 127.0.0.1: half-open
connections, slow requests, huge bodies, made-up proxy headers. Limits are scaled down
(a low RLIMIT_NOFILE, short timeouts) so the tests are quick.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import OWNER, RunningCharger, device_client, start_charger

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]
HALF_A_HEADER = b"GET /api/v1/health HTTP/1.1\r\nHost: charger\r\nUser-Agent: slo"


class Output:
    """The charger's console output, read on a thread so the pipe never fills."""

    def __init__(self, charger: RunningCharger) -> None:
        self.lines: list[str] = []
        assert charger.process.stdout is not None
        stream = charger.process.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))


@contextlib.contextmanager
def running(tmp_path: Path, config: str = "", *, open_files: int | None = None) -> Iterator[
    tuple[RunningCharger, Output]
]:
    """The real charger with ``config`` (YAML under ``web:``), optionally a low RLIMIT_NOFILE."""
    path = tmp_path / "config.yaml"
    path.write_text("web:\n" + (config or "  {}\n"), encoding="utf-8")
    command = None
    if open_files is not None:
        # As systemd's LimitNOFILE would: the limit is set before ukscp starts.
        command = [
            sys.executable,
            "-c",
            "import resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files}, {open_files})); "
            "sys.argv[0] = 'ukscp'; from ukscp.cli import main; main()",
        ]
    charger = start_charger(tmp_path / "data", "--config", str(path), command=command)
    output = Output(charger)
    try:
        yield charger, output
    finally:
        charger.client.close()
        if charger.process.poll() is None:
            charger.process.kill()
            charger.process.wait()


def port_of(charger: RunningCharger) -> int:
    return int(charger.url.rstrip("/").rsplit(":", 1)[1])


def tls_context(charger: RunningCharger) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=charger.data_dir / "tls" / "device-cert.pem")


def tls_socket(charger: RunningCharger, timeout: float = 10) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port_of(charger)), timeout=timeout)
    return tls_context(charger).wrap_socket(raw, server_hostname="127.0.0.1")


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closes ``sock`` before the socket's own timeout."""
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:  # reset, or a TLS connection cut without its close
        return True


def read_answer(sock: socket.socket) -> tuple[int, dict[str, object]]:
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    return answer.status, json.loads(answer.read())


# --- TCP_NODELAY ---------------------------------------------------------------------------

_SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture (5.6+)


def server_side_nodelay(pid: int, client: socket.socket) -> int:
    """TCP_NODELAY of the charger's own socket for ``client``'s connection.

    A copy of each of the charger's file descriptors is taken with pidfd_getfd(2) and
    the one whose peer is ``client`` is asked for its option.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                continue
            copy = libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if copy < 0:
                pytest.skip(f"pidfd_getfd unavailable: {os.strerror(ctypes.get_errno())}")
            with socket.socket(fileno=copy) as theirs, contextlib.suppress(OSError):
                if theirs.getpeername() == client.getsockname():
                    return theirs.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        os.close(pidfd)
    raise AssertionError("the charger holds no socket for this connection")


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_accepted_connections_have_tcp_nodelay(charger_factory: Factory, scheme: str):
    # Without it every answer written in two parts waits ~40 ms for a delayed ACK.
    charger = charger_factory(*(["--insecure-http"] if scheme == "http" else []))
    raw = socket.create_connection(("127.0.0.1", port_of(charger)), timeout=10)
    sock = tls_context(charger).wrap_socket(raw, server_hostname="127.0.0.1") if (
        scheme == "https"
    ) else raw
    with sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: charger\r\n\r\n")
        status, body = read_answer(sock)
        assert (status, body["status"]) == (200, "ok")
        assert server_side_nodelay(charger.process.pid, sock) == 1


# --- connections: cap, half-open, timeouts -------------------------------------------------


def test_half_open_connections_beyond_the_open_file_limit_do_not_keep_the_owner_out(
    tmp_path: Path,
):
    # 160 open files: the cap is 60. Before, the 136th connection hit EMFILE and asyncio's
    # accept loop logged a traceback per pending connection, every second, and spun.
    with running(tmp_path, open_files=160) as (charger, output):
        attackers: list[socket.socket] = []
        try:
            for _ in range(40):  # TLS done, then half a request header, forever
                sock = tls_socket(charger)
                sock.sendall(HALF_A_HEADER)
                attackers.append(sock)
            for _ in range(220):  # TCP only: stuck before the TLS handshake
                with contextlib.suppress(OSError):
                    attackers.append(
                        socket.create_connection(("127.0.0.1", port_of(charger)), timeout=0.5)
                    )
            with device_client(charger.url, charger.data_dir) as owner:
                assert owner.get("/api/v1/health").status_code == 200
        finally:
            for sock in attackers:
                sock.close()
        with device_client(charger.url, charger.data_dir) as owner:
            assert owner.get("/api/v1/health").status_code == 200
        assert output.count("Too many open files") == 0
        assert output.count("out of system resource") == 0
        assert output.count("out of file descriptors") == 0
        # Logged once a minute, not once per connection.
        assert 1 <= output.count("connections open (the cap)") <= 2
        assert charger.stop() == 0


def test_at_a_configured_cap_the_longest_waiting_connections_make_room(tmp_path: Path):
    # Long deadlines: only the cap closes connections here, however slow the machine.
    config = "  max_connections: 5\n  header_timeout_s: 120\n"
    with running(tmp_path, config) as (charger, output):
        charger.client.close()  # only the connections below
        held = []
        try:
            for _ in range(12):
                sock = tls_socket(charger, timeout=5)
                sock.sendall(HALF_A_HEADER)
                held.append(sock)
            # The oldest seven were closed for the newest five.
            assert [closed_by_server(sock) for sock in held[:7]] == [True] * 7
            with device_client(charger.url, charger.data_dir) as owner:
                assert owner.get("/api/v1/health").status_code == 200
            assert closed_by_server(held[7])  # the owner's connection took its place
            held[8].settimeout(0.5)
            assert not closed_by_server(held[8])
        finally:
            for sock in held:
                sock.close()
        assert output.count("connections open (the cap)") == 1
        assert charger.stop() == 0


def test_slow_clients_are_cut_off_at_the_header_and_body_timeouts(tmp_path: Path):
    config = "  header_timeout_s: 1\n  body_timeout_s: 1\n"
    with running(tmp_path, config) as (charger, _):
        silent_tcp = socket.create_connection(("127.0.0.1", port_of(charger)), timeout=15)
        half_header = tls_socket(charger, timeout=15)
        half_header.sendall(HALF_A_HEADER)
        half_body = tls_socket(charger, timeout=15)
        half_body.sendall(
            b"POST /api/v1/login HTTP/1.1\r\nHost: charger\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"username\": "
        )
        with silent_tcp, half_header, half_body:
            assert closed_by_server(silent_tcp), "a TLS handshake that never starts"
            assert closed_by_server(half_header), "half a request header"
            assert closed_by_server(half_body), "a body that never ends"
        # A client in good time is served on a kept-alive connection.
        answers = [charger.client.get("/api/v1/health").status_code for _ in range(3)]
        assert answers == [200, 200, 200]
        charger.stop()


# --- request bodies ------------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(charger_factory: Factory):
    charger = charger_factory()
    with tls_socket(charger) as sock:
        # 250 MB announced, none of it sent: the answer must come anyway.
        sock.sendall(
            b"POST /api/v1/login HTTP/1.1\r\nHost: charger\r\nContent-Type: application/json\r\n"
            b"Content-Length: 262144000\r\n\r\n"
        )
        status, body = read_answer(sock)
    assert status == 413
    assert body == {
        "error": "the request body is larger than the 65536 bytes this charger accepts",
        "detail": None,
    }
    assert charger.client.get("/api/v1/health").status_code == 200


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(charger_factory: Factory):
    charger = charger_factory()
    with tls_socket(charger) as sock:
        sock.sendall(
            b"POST /api/v1/login HTTP/1.1\r\nHost: charger\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        # 80 kB of a body that never ends: before, the charger waited for the rest.
        chunk = b'{"username": "owner", "password": "' + b"x" * 16_000
        for _ in range(5):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            chunk = b"x" * 16_000
        status, body = read_answer(sock)
    assert status == 413
    assert body == {
        "error": "the request body is larger than the 65536 bytes this charger accepts",
        "detail": None,
    }


# --- proxy headers -------------------------------------------------------------------------


def _failed_login_client(charger: RunningCharger) -> str:
    with device_client(charger.url, charger.data_dir) as stranger:
        wrong = stranger.post(
            "/api/v1/login",
            json={"username": OWNER, "password": "not-the-password-at-all"},
            headers={"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"},
        )
    assert wrong.status_code == 401
    records = charger.client.get("/api/v1/security-log", params={"limit": 20}).json()
    failed = next(r for r in records if r["type"] == "LoginFailed")
    return str(failed["info"])


def test_forwarded_headers_from_a_client_are_not_believed(tmp_path: Path):
    with running(tmp_path) as (charger, _):
        info = _failed_login_client(charger)
        assert "client=127.0.0.1" in info
        assert "203.0.113.9" not in info
        charger.stop()


def test_forwarded_headers_from_a_configured_proxy_are_believed(tmp_path: Path):
    with running(tmp_path, "  trusted_proxies: ['127.0.0.1']\n") as (charger, _):
        assert "client=203.0.113.9" in _failed_login_client(charger)
        charger.stop()

