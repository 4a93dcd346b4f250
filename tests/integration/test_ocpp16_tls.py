"""Security profiles 2 and 3 over real TLS (certificates from ``trustme``), and plain ws://."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve

from tests.integration.test_ocpp16_support import (
    IDENTITY,
    KEY,
    eventually,
    make_charger,
    running_csms,
    settle_real,
    transport_config,
    write_key,
)
from ukscp.app import build_app
from ukscp.clock import VirtualClock
from ukscp.config import OcppSettings, Settings
from ukscp.ocpp.transport import (
    ConnectFailed,
    CsmsTransport,
    FailureKind,
    InsecureTransportRefused,
)
from ukscp.security.seclog import SecurityLog


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("localhost", "127.0.0.1"))).configure_cert(context)
    return context


def ca_file(ca: trustme.CA, data: Path) -> Path:
    path = data / "csms-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


async def test_profile_2_connects_to_a_csms_signed_by_the_configured_ca(
    tmp_path: Path, clock: VirtualClock, ca: trustme.CA
) -> None:
    write_key(tmp_path / "ocpp_key")
    async with running_csms(ssl_context=server_context(ca), basic_auth=(IDENTITY, KEY)) as csms:
        config = transport_config(
            csms.url,
            tmp_path,
            security_profile=2,
            ca_file=ca_file(ca, tmp_path),
            allow_insecure_transport=False,
        )
        charger = make_charger(tmp_path, clock, config)
        charger.start()
        try:
            await eventually(lambda: "StatusNotification" in csms.actions(), clock)
        finally:
            await charger.stop()


async def refused(
    tmp_path: Path, clock: VirtualClock, csms_url: str, config_ca: Path, event: str
) -> list[str]:
    config = transport_config(
        csms_url, tmp_path, security_profile=2, ca_file=config_ca, allow_insecure_transport=False
    )
    charger = make_charger(tmp_path, clock, config)
    charger.start()
    try:
        await eventually(
            lambda: any(r.type == event for r in charger.seclog.records()), clock, what=event
        )
        for _ in range(3):  # more failed attempts: still one record
            await clock.advance(10)
            await settle_real(clock, 0.1)
        return [r.info for r in charger.seclog.records() if r.type == event]
    finally:
        await charger.stop()


async def test_a_csms_certificate_from_another_ca_is_refused_and_logged(
    tmp_path: Path, clock: VirtualClock, ca: trustme.CA
) -> None:
    write_key(tmp_path / "ocpp_key")
    impostor = trustme.CA()
    async with running_csms(ssl_context=server_context(impostor)) as csms:
        infos = await refused(
            tmp_path, clock, csms.url, ca_file(ca, tmp_path), "InvalidCentralSystemCertificate"
        )
        assert csms.connection_count == 0
    assert len(infos) == 1
    assert "unable to get local issuer certificate" in infos[0]


async def test_a_csms_certificate_for_another_host_is_refused_and_logged(
    tmp_path: Path, clock: VirtualClock, ca: trustme.CA
) -> None:
    write_key(tmp_path / "ocpp_key")
    async with running_csms(ssl_context=server_context(ca, "csms.example")) as csms:
        infos = await refused(
            tmp_path, clock, csms.url, ca_file(ca, tmp_path), "InvalidCentralSystemCertificate"
        )
        assert csms.connection_count == 0
    assert len(infos) == 1
    assert "localhost" in infos[0] or "mismatch" in infos[0].lower()


@pytest.fixture
def tls11_server(ca: trustme.CA) -> Iterator[int]:
    """A TLS server that speaks nothing newer than TLS 1.1 (handshakes only)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                context.wrap_socket(connection, server_side=True).close()
            except (ssl.SSLError, OSError):
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    listener.close()


async def test_a_csms_offering_only_tls_1_1_is_refused_and_logged(
    tmp_path: Path, clock: VirtualClock, ca: trustme.CA, tls11_server: int
) -> None:
    write_key(tmp_path / "ocpp_key")
    url = f"wss://localhost:{tls11_server}/ocpp"
    infos = await refused(tmp_path, clock, url, ca_file(ca, tmp_path), "InvalidTLSVersion")
    assert len(infos) == 1
    assert "TLS >= 1.2" in infos[0]


async def test_profile_3_presents_the_chargers_certificate(
    tmp_path: Path, clock: VirtualClock, ca: trustme.CA
) -> None:
    context = server_context(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    device = ca.issue_cert("cp-1.chargers.example", common_name=IDENTITY)
    cert, key = tmp_path / "device-cert.pem", tmp_path / "device-key.pem"
    device.cert_chain_pems[0].write_to_path(str(cert))
    device.private_key_pem.write_to_path(str(key))
    async with running_csms(ssl_context=context) as csms:
        config = transport_config(
            csms.url,
            tmp_path,
            security_profile=3,
            ca_file=ca_file(ca, tmp_path),
            client_cert_file=cert,
            client_key_file=key,
            allow_insecure_transport=False,
            authorization_key_file=None,
        )
        charger = make_charger(tmp_path, clock, config)
        charger.start()
        try:
            await eventually(lambda: "StatusNotification" in csms.actions(), clock)
        finally:
            await charger.stop()
    subject = dict(item[0] for item in csms.peer_certificates[0]["subject"])
    assert subject["commonName"] == IDENTITY


async def test_a_charger_configured_for_profile_3_presents_its_provisioned_certificate(
    tmp_path: Path, clock: VirtualClock, ca: trustme.CA
) -> None:
    context = server_context(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    device = ca.issue_cert("cp-2.chargers.example", common_name="CP_2")
    cert, key = tmp_path / "device-cert.pem", tmp_path / "device-key.pem"
    device.cert_chain_pems[0].write_to_path(str(cert))
    device.private_key_pem.write_to_path(str(key))
    async with running_csms(ssl_context=context) as csms:
        ocpp = OcppSettings(
            enabled=True,
            url=csms.url,
            identity="CP_2",
            security_profile=3,
            ca_file=ca_file(ca, tmp_path),
            client_cert_file=cert,
            client_key_file=key,
        )
        app = build_app(Settings(data_dir=tmp_path / "data", ocpp=ocpp), clock)
        app.start()
        task = asyncio.create_task(app.ocpp.run())
        try:
            await eventually(lambda: app.ocpp.status().online, clock, what="registration")
        finally:
            app.shutdown("test finished")
            await task
            app.close()
    subject = dict(item[0] for item in csms.peer_certificates[0]["subject"])
    assert subject["commonName"] == "CP_2"


def test_plain_ws_is_refused_unless_allowed(tmp_path: Path, clock: VirtualClock) -> None:
    seclog = SecurityLog(tmp_path / "security.sqlite3", clock)
    write_key(tmp_path / "ocpp_key")
    url = "ws://127.0.0.1:9/ocpp"
    with pytest.raises(InsecureTransportRefused, match="allow_insecure_transport"):
        CsmsTransport(
            transport_config(url, tmp_path, allow_insecure_transport=False), clock, seclog
        )
    with pytest.raises(InsecureTransportRefused, match="requires TLS"):
        CsmsTransport(transport_config(url, tmp_path, security_profile=2), clock, seclog)
    assert seclog.records() == []
    CsmsTransport(transport_config(url, tmp_path), clock, seclog)
    [record] = seclog.records()
    assert record.type == "InsecureOcppTransportAllowed"
    assert record.critical
    seclog.close()


async def test_a_server_that_does_not_agree_to_ocpp16_is_not_used(
    tmp_path: Path, clock: VirtualClock
) -> None:
    async def echo(connection: ServerConnection) -> None:
        await connection.wait_closed()

    write_key(tmp_path / "ocpp_key")
    async with serve(echo, "127.0.0.1", 0) as server:  # offers no subprotocol
        port = server.sockets[0].getsockname()[1]
        transport = CsmsTransport(transport_config(f"ws://127.0.0.1:{port}/ocpp", tmp_path), clock)
        with pytest.raises(ConnectFailed) as caught:
            await transport.connect_once()
    assert caught.value.kind is FailureKind.SUBPROTOCOL
    assert "ocpp1.6" in caught.value.detail
