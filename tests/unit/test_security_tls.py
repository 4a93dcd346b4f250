"""The per-device certificate and the HTTPS server context, with real TLS handshakes."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ukscp.clock import VirtualClock
from ukscp.security.seclog import SecurityLog
from ukscp.security.tls import (
    certificate_fingerprint,
    ensure_device_certificate,
    server_ssl_context,
)

HOSTS = ["charger.local", "192.168.1.50", "0.0.0.0"]


def load(cert: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert.read_bytes())


def sans(cert: Path) -> tuple[set[str], set[str]]:
    san = load(cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(san.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return dns, ips


@pytest.fixture
def pair(tmp_path: Path, clock: VirtualClock) -> tuple[Path, Path]:
    return ensure_device_certificate(tmp_path, HOSTS, clock)


def test_certificate_names_every_host_and_loopback(pair: tuple[Path, Path]):
    dns, ips = sans(pair[0])
    assert dns == {"charger.local", "localhost"}
    assert ips == {"192.168.1.50", "127.0.0.1", "::1"}  # 0.0.0.0 is no address to visit


def test_certificate_is_ecdsa_p256_for_ten_years(pair: tuple[Path, Path], clock: VirtualClock):
    cert = load(pair[0])
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    lifetime = cert.not_valid_after_utc - clock.now()
    assert timedelta(days=3649) < lifetime <= timedelta(days=3650)
    assert cert.not_valid_before_utc < clock.now()
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_each_device_gets_its_own_key_and_serial(tmp_path: Path, clock: VirtualClock):
    a, _ = ensure_device_certificate(tmp_path / "a", HOSTS, clock)
    b, _ = ensure_device_certificate(tmp_path / "b", HOSTS, clock)
    assert load(a).serial_number != load(b).serial_number
    assert load(a).public_key() != load(b).public_key()
    assert certificate_fingerprint(a) != certificate_fingerprint(b)


def test_key_and_cert_are_the_owners_only(pair: tuple[Path, Path]):
    # The certificate is public, but the data directory holds nothing for other users.
    cert, key = pair
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o600


def test_second_call_reuses_the_certificate(
    tmp_path: Path, clock: VirtualClock, pair: tuple[Path, Path]
):
    before = (pair[0].read_bytes(), pair[1].read_bytes())
    again = ensure_device_certificate(tmp_path, HOSTS, clock)
    assert again == pair
    assert (again[0].read_bytes(), again[1].read_bytes()) == before


def test_too_open_key_is_tightened(tmp_path: Path, clock: VirtualClock, pair: tuple[Path, Path]):
    pair[1].chmod(0o644)
    ensure_device_certificate(tmp_path, HOSTS, clock)
    assert stat.S_IMODE(pair[1].stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "damage",
    [
        lambda cert, key: key.unlink(),
        lambda cert, key: cert.write_text("garbage"),
        lambda cert, key: key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n"),
    ],
    ids=["key missing", "cert corrupt", "key corrupt"],
)
def test_missing_or_corrupt_files_are_regenerated(
    tmp_path: Path,
    clock: VirtualClock,
    pair: tuple[Path, Path],
    damage: Callable[[Path, Path], None],
    caplog: pytest.LogCaptureFixture,
):
    old = pair[0].read_bytes()
    damage(*pair)
    cert, key = ensure_device_certificate(tmp_path, HOSTS, clock)
    assert cert.read_bytes() != old
    server_ssl_context(cert, key)  # the new pair belongs together
    assert "making a new device certificate" in caplog.text


def test_a_new_hostname_gets_a_new_certificate(
    tmp_path: Path, clock: VirtualClock, pair: tuple[Path, Path], seclog_path: Path
):
    seclog = SecurityLog(seclog_path, clock)
    cert, _ = ensure_device_certificate(tmp_path, [*HOSTS, "garage.example"], clock, seclog=seclog)
    assert "garage.example" in sans(cert)[0]
    record = seclog.records(limit=1)[0]
    assert record.type == "DeviceCertificateGenerated"
    assert "lacks garage.example" in record.info
    assert certificate_fingerprint(cert) in record.info


def test_an_expired_certificate_is_replaced(
    tmp_path: Path, clock: VirtualClock, pair: tuple[Path, Path]
):
    clock.set_wall_time(clock.now() + timedelta(days=3651))
    cert, _ = ensure_device_certificate(tmp_path, HOSTS, clock)
    assert load(cert).not_valid_after_utc > clock.now()


@pytest.fixture
def seclog_path(tmp_path: Path) -> Path:
    return tmp_path / "security.sqlite3"


def test_server_context_requires_tls_1_2(pair: tuple[Path, Path]):
    context = server_ssl_context(*pair)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


class OneShotServer:
    """A TLS server on 127.0.0.1 that takes one connection, in a thread."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10)
        self.port = self._listener.getsockname()[1]
        self.version: str | None = None
        self.error: Exception | None = None
        self._context = context
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
            conn.settimeout(10)
            with self._context.wrap_socket(conn, server_side=True) as tls:
                self.version = tls.version()
                tls.sendall(b"ok")
        except (OSError, ssl.SSLError) as exc:
            self.error = exc
        finally:
            self._listener.close()

    def join(self) -> None:
        self._thread.join(timeout=10)


def handshake(port: int, client: ssl.SSLContext, server_hostname: str) -> tuple[str, bytes]:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return str(tls.version()), tls.recv(2)


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_real_handshake_verifies_the_device_certificate(pair: tuple[Path, Path], name: str):
    server = OneShotServer(server_ssl_context(*pair))
    client = ssl.create_default_context(cafile=str(pair[0]))  # hostname checked too
    version, data = handshake(server.port, client, name)
    server.join()
    assert data == b"ok"
    assert version in ("TLSv1.2", "TLSv1.3")
    assert server.error is None


def test_a_tls_1_2_client_is_served(pair: tuple[Path, Path]):
    server = OneShotServer(server_ssl_context(*pair))
    client = ssl.create_default_context(cafile=str(pair[0]))
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    version, _ = handshake(server.port, client, "localhost")
    server.join()
    assert version == "TLSv1.2"


def test_a_tls_1_1_client_is_refused(pair: tuple[Path, Path]):
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1 itself is deprecated
            # OpenSSL 3 only offers TLS 1.1 at security level 0.
            client.set_ciphers("DEFAULT:@SECLEVEL=0")
            client.minimum_version = ssl.TLSVersion.TLSv1_1
            client.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"this OpenSSL cannot make a TLS 1.1 client: {exc}")
    server = OneShotServer(server_ssl_context(*pair))
    with pytest.raises(ssl.SSLError) as caught:
        handshake(server.port, client, "localhost")
    server.join()
    if "NO_PROTOCOLS_AVAILABLE" in str(caught.value) or server.error is None:
        pytest.skip(f"this OpenSSL refused to offer TLS 1.1 itself: {caught.value}")
    assert server.version is None
    assert "UNSUPPORTED_PROTOCOL" in str(server.error) or "VERSION" in str(caught.value).upper()
