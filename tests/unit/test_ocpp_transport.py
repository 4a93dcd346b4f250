"""Transport settings, credentials and backoff, without a network."""

from __future__ import annotations

import base64
import ssl
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ukscp.config import OcppSettings
from ukscp.ocpp.transport import (
    Backoff,
    ConnectFailed,
    FailureKind,
    TransportConfig,
    TransportError,
    basic_auth_header,
    check_config,
    classify,
    client_ssl_context,
    read_authorization_key,
    write_authorization_key,
)


def config(**changes: object) -> TransportConfig:
    base: dict[str, object] = {
        "url": "wss://csms.example/ocpp",
        "identity": "CP 1/a",
        "security_profile": 2,
        "authorization_key_file": Path("/nonexistent/key"),
    }
    base.update(changes)
    return TransportConfig(**base)  # type: ignore[arg-type]


def test_the_endpoint_appends_the_identity_url_encoded() -> None:
    assert config().endpoint == "wss://csms.example/ocpp/CP%201%2Fa"
    assert config(url="wss://csms.example/ocpp/").endpoint == "wss://csms.example/ocpp/CP%201%2Fa"


def test_the_subprotocol_follows_the_version() -> None:
    assert config().subprotocol == "ocpp1.6"
    assert config(version="2.0.1").subprotocol == "ocpp2.0.1"


def test_settings_come_from_the_config_file_section(tmp_path: Path) -> None:
    settings = OcppSettings(url="wss://x.example/o", identity="CP_9", security_profile=3)
    built = TransportConfig.from_settings(
        settings, client_cert_file=tmp_path / "c.pem", client_key_file=tmp_path / "k.pem"
    )
    assert (built.identity, built.security_profile, built.version) == ("CP_9", 3, "1.6")
    assert built.client_cert_file == tmp_path / "c.pem"
    check_config(built)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "http://csms.example/ocpp"}, "not a websocket URL"),
        ({"url": "ws://csms.example/ocpp"}, "requires TLS"),
        ({"url": "ws://csms.example/ocpp", "security_profile": 1}, "allow_insecure_transport"),
        ({"identity": "CP:1"}, "must not contain ':'"),
        ({"security_profile": 0}, "must be 1, 2 or 3"),
        ({"authorization_key_file": None}, "needs ocpp.authorization_key_file"),
        ({"security_profile": 3}, "needs the charger's TLS certificate"),
    ],
)
def test_unsafe_or_incomplete_settings_are_refused_with_a_reason(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(TransportError, match=message):
        check_config(config(**changes))


def test_plain_ws_is_accepted_only_for_profile_1_when_allowed() -> None:
    check_config(
        config(url="ws://lab.local/ocpp", security_profile=1, allow_insecure_transport=True)
    )


def test_basic_auth_is_identity_colon_key() -> None:
    header = basic_auth_header("CP_1", "s3cret:with-colon")
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]).decode() == "CP_1:s3cret:with-colon"


def test_the_key_file_is_read_stripped_and_written_0600(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "ocpp_key"
    write_authorization_key(path, "0123456789abcdef")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_authorization_key(path) == "0123456789abcdef"
    assert not list(path.parent.glob(".*tmp"))


@pytest.mark.parametrize("content", [None, "", "  \n"])
def test_a_missing_or_empty_key_is_a_configuration_failure(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "ocpp_key"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConnectFailed) as caught:
        read_authorization_key(path)
    assert caught.value.kind is FailureKind.CONFIGURATION


def test_the_client_context_demands_tls_1_2_and_checks_the_server() -> None:
    context = client_ssl_context(config())
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_tls_failures_are_told_apart() -> None:
    certificate = ssl.SSLCertVerificationError(1, "certificate verify failed")
    certificate.verify_message = "unable to get local issuer certificate"
    assert classify(certificate).kind is FailureKind.SERVER_CERTIFICATE
    version = ssl.SSLError(1, "alert")
    version.reason = "TLSV1_ALERT_PROTOCOL_VERSION"
    assert classify(version).kind is FailureKind.TLS_VERSION
    assert classify(ConnectionRefusedError(111, "refused")).kind is FailureKind.NETWORK


@given(st.integers(min_value=0, max_value=200), st.floats(min_value=0, max_value=0.999))
def test_backoff_grows_to_its_cap_and_never_waits_less_than_half_a_step(
    attempt: int, fraction: float
) -> None:
    backoff = Backoff(initial_s=2.0, maximum_s=300.0)
    step = min(300.0, 2.0 * 2 ** min(attempt, 32))
    delay = backoff.delay_s(attempt, fraction)
    assert step / 2 <= delay <= step
    assert delay <= 300.0
