"""Security of the real process: HTTPS, setup code, security log, lab HTTP."""

from __future__ import annotations

import sqlite3
import ssl
import stat
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import UKSCP, RunningCharger, free_port

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]


def ukscp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(UKSCP), *args], capture_output=True, text=True, timeout=60)


def test_the_page_is_https_with_the_devices_own_certificate(charger_factory: Factory):
    charger = charger_factory()
    assert charger.url.startswith("https://127.0.0.1:")
    key = charger.data_dir / "tls" / "device-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(httpx.ConnectError):
        httpx.get(charger.url + "api/v1/health", timeout=5)  # an unknown CA is refused
    assert charger.stop() == 0


def test_tls_below_1_2_is_refused(charger_factory: Factory):
    charger = charger_factory()
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        old.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers TLS 1.1 only at level 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 itself is
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot offer TLS 1.1 at all")
    with pytest.raises(httpx.ConnectError) as refused:
        httpx.get(charger.url + "api/v1/health", verify=old, timeout=5)
    # the charger hung up on the TLS 1.1 hello (our client did offer it: not
    # NO_PROTOCOLS_AVAILABLE, which is a client refusing to offer)
    assert "PROTOCOL_VERSION" in str(refused.value) or "UNEXPECTED_EOF" in str(refused.value)
    assert charger.stop() == 0


def test_setup_code_is_printed_until_setup_and_then_says_done(tmp_path: Path):
    data_dir = tmp_path / "data"
    first = ukscp("setup-code", "--data-dir", str(data_dir))
    assert first.returncode == 0
    code = first.stdout.strip()
    assert len(code.replace("-", "")) >= 16
    assert ukscp("setup-code", "--data-dir", str(data_dir)).stdout.strip() == code
    assert stat.S_IMODE((data_dir / "setup-code").stat().st_mode) == 0o600
    other = ukscp("setup-code", "--data-dir", str(tmp_path / "other")).stdout.strip()
    assert other != code  # unique per device


def test_setup_code_after_setup_says_setup_is_done(charger_factory: Factory):
    charger = charger_factory()  # the factory sets the charger up as an owner would
    result = ukscp("setup-code", "--data-dir", str(charger.data_dir))
    assert result.stdout.strip() == "setup is done: log in with the owner's password"
    assert charger.stop() == 0


def test_seclog_verify_passes_then_names_the_record_someone_edited(charger_factory: Factory):
    charger = charger_factory()
    charger.client.put("/api/v1/random-delay", json={"max_duration_s": 900})
    assert charger.stop() == 0
    data_dir = str(charger.data_dir)
    intact = ukscp("seclog", "verify", "--data-dir", data_dir)
    assert intact.returncode == 0, intact.stderr
    assert "intact" in intact.stdout

    with sqlite3.connect(charger.data_dir / "security.sqlite3") as db:
        (target,) = db.execute(
            "SELECT id FROM records WHERE type = 'RandomDelayMaxDurationChanged'"
        ).fetchone()
        # someone with the file in hand gets past the append-only trigger first
        db.execute("DROP TRIGGER records_append_only")
        db.execute("UPDATE records SET info = 'nothing happened' WHERE id = ?", (target,))
    broken = ukscp("seclog", "verify", "--data-dir", data_dir)
    assert broken.returncode == 1
    assert f"BROKEN at record {target}" in broken.stderr


def test_insecure_http_is_logged_as_a_security_event(charger_factory: Factory):
    charger = charger_factory("--insecure-http")
    assert charger.url.startswith("http://")
    log = charger.client.get("/api/v1/security-log").json()
    assert "InsecureHttpEnabled" in [record["type"] for record in log]
    assert charger.stop() == 0


def test_plain_http_port_only_redirects_to_https(charger_factory: Factory, tmp_path: Path):
    redirect_port = free_port()
    config = tmp_path / "c.yaml"
    config.write_text(f"web: {{http_redirect_port: {redirect_port}}}\n")
    charger = charger_factory("--config", str(config))
    response = httpx.get(f"http://127.0.0.1:{redirect_port}/api/v1/status", timeout=5)
    assert response.status_code == 308
    https_port = charger.url.rsplit(":", 1)[1].rstrip("/")
    assert response.headers["location"] == f"https://127.0.0.1:{https_port}/api/v1/status"
    assert charger.stop() == 0
