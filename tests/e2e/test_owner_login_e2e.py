"""Logging in to the real charger while someone on the network guesses passwords."""

from __future__ import annotations

import itertools
import sqlite3
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import OWNER, OWNER_PASSWORD, UKSCP, RunningCharger, device_client

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]
OWNERS_LOGIN = {"username": OWNER, "password": OWNER_PASSWORD}
WRONG = {"username": OWNER, "password": "not-the-password-at-all"}


def test_a_stranger_cannot_keep_the_owners_browser_out(charger_factory: Factory):
    charger = charger_factory()
    with device_client(charger.url, charger.data_dir) as browser:
        assert browser.post("/api/v1/login", json=OWNERS_LOGIN).status_code == 200
        assert browser.cookies.get("ukscp_device")
        # Someone on the same address (a shared NAT) guesses until locked out.
        with device_client(charger.url, charger.data_dir) as stranger:
            codes = [stranger.post("/api/v1/login", json=WRONG).status_code for _ in range(6)]
            assert codes[-1] == 429
            assert stranger.post("/api/v1/login", json=OWNERS_LOGIN).status_code == 429
        # The owner's browser still logs in, and its session was never ended.
        assert browser.get("/api/v1/session").status_code == 200
        assert browser.post("/api/v1/login", json=OWNERS_LOGIN).status_code == 200


def test_the_console_unlock_lets_the_owner_back_in_and_is_logged(charger_factory: Factory):
    charger = charger_factory()
    with device_client(charger.url, charger.data_dir) as new_browser:
        for _ in range(5):
            assert new_browser.post("/api/v1/login", json=WRONG).status_code in (401, 429)
        assert new_browser.post("/api/v1/login", json=OWNERS_LOGIN).status_code == 429
        unlock = subprocess.run(
            [str(UKSCP), "owner", "unlock", "--data-dir", str(charger.data_dir)],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert unlock.returncode == 0, unlock.stderr
        assert "lockouts cleared" in unlock.stdout
        assert new_browser.post("/api/v1/login", json=OWNERS_LOGIN).status_code == 200
    records = charger.client.get("/api/v1/security-log", params={"limit": 20}).json()
    assert any(r["type"] == "LockoutsCleared" for r in records)


def test_owner_unlock_without_an_account_says_so(tmp_path: Path):
    result = subprocess.run(
        [str(UKSCP), "owner", "unlock", "--data-dir", str(tmp_path / "empty")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "no owner account" in result.stderr


def _flood(charger: RunningCharger, stop: threading.Event, answers: list[int], first: int):
    """Wrong logins, each from a new loopback address and username: every one is checked."""
    context = ssl.create_default_context(cafile=charger.data_dir / "tls" / "device-cert.pem")
    for n in itertools.count():
        if stop.is_set():
            return
        address = f"127.{first}.{n // 250 % 250 + 1}.{n % 250 + 1}"
        transport = httpx.HTTPTransport(local_address=address, verify=context)
        with httpx.Client(transport=transport, base_url=charger.url, timeout=30) as client:
            body = {"username": f"guess{first}x{n}", "password": "not-the-password-at-all"}
            try:
                answers.append(client.post("/api/v1/login", json=body).status_code)
            except httpx.HTTPError:
                answers.append(0)


def test_a_login_flood_does_not_stop_metering(charger_factory: Factory):
    # Before, every password was hashed in the event loop: a flood stored 5 of 20 samples.
    charger = charger_factory("--sim-plug")
    stop = threading.Event()
    answers: list[int] = []
    flooders = [
        threading.Thread(target=_flood, args=(charger, stop, answers, k), daemon=True)
        for k in range(2, 18)
    ]
    started = time.time()
    for thread in flooders:
        thread.start()
    time.sleep(12)
    ended = time.time()
    health = charger.client.get("/api/v1/health")
    stop.set()
    for thread in flooders:
        thread.join(timeout=60)
    assert health.status_code == 200
    assert charger.stop() == 0  # the sampler commits its last batch
    with sqlite3.connect(charger.data_dir / "metering.sqlite3") as db:
        stored = db.execute(
            "SELECT count(*) FROM samples WHERE ts_ms BETWEEN ? AND ?",
            (int((started + 1) * 1000), int((ended - 1) * 1000)),
        ).fetchone()[0]
    assert stored >= 8, f"{stored} samples in 10 s of flood"
    assert 401 in answers
    # Beyond the worker's queue the answer is at once, in words, and nothing is hashed.
    assert set(answers) <= {401, 503}
