"""Start the real ``ukscp run`` process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

UKSCP = Path(sys.executable).with_name("ukscp")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningCharger:
    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    client: httpx.Client
    console: list[str] = field(default_factory=list)  # what it printed until ready

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        self.client.close()  # as a browser tab closing: the charger need not wait for it
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


OWNER = "owner"
OWNER_PASSWORD = "plum-kettle-harbour-71-violet"  # a test account on a temporary charger


def device_client(url: str, data_dir: Path) -> httpx.Client:
    """A client that trusts exactly this charger's own certificate."""
    context = ssl.create_default_context(cafile=data_dir / "tls" / "device-cert.pem")
    return httpx.Client(base_url=url, timeout=5, verify=context)


def log_in(client: httpx.Client, data_dir: Path) -> None:
    """Set the charger up on first start (setup code from the console), else log in."""
    body = {"username": OWNER, "password": OWNER_PASSWORD}
    if client.get("/api/v1/health").json()["setup_done"]:
        session = client.post("/api/v1/login", json=body)
    else:
        code = subprocess.run(
            [str(UKSCP), "setup-code", "--data-dir", str(data_dir)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        session = client.post("/api/v1/setup", json={**body, "setup_code": code})
    assert session.status_code == 200, session.text
    client.headers["Authorization"] = f"Bearer {session.json()['token']}"
    client.cookies.clear()


def start_charger(
    data_dir: Path,
    *args: str,
    ready_timeout: float = 30,
    any_time: bool = True,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    subcommand: str = "run",
) -> RunningCharger:
    """Start ``ukscp run`` (or ``subcommand``), set it up or log in as the owner, over HTTPS.

    With ``any_time`` the owner's first-use choice is "remove": the charger ships
    with off-peak default hours (regulation 10), and tests that run at any hour of
    the day make the owner's choice so that charging is allowed.
    """
    port = free_port()
    process = subprocess.Popen(
        [*(command or [str(UKSCP)]), subcommand, "--data-dir", str(data_dir), "--host", "127.0.0.1",
         "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + ready_timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "charger ready at" in line:
            url = line.rsplit(" ", 1)[1].strip()
            client = device_client(url, data_dir) if url.startswith("https") else httpx.Client(
                base_url=url, timeout=5
            )
            log_in(client, data_dir)
            charger = RunningCharger(process, url, data_dir, client, seen)
            if any_time and charger.client.get("/api/v1/schedule").json()["first_use_pending"]:
                remove = {"choice": "remove"}
                choice = charger.client.post("/api/v1/schedule/first-use", json=remove)
                assert choice.status_code == 200, choice.text
            return charger
    process.kill()
    raise AssertionError("ukscp did not become ready:\n" + "".join(seen))


@pytest.fixture
def charger_factory(tmp_path: Path) -> Iterator[object]:
    started: list[RunningCharger] = []

    def factory(*args: str, data_dir: Path | None = None, any_time: bool = True) -> RunningCharger:
        charger = start_charger(data_dir or tmp_path / "data", *args, any_time=any_time)
        started.append(charger)
        return charger

    yield factory
    for charger in started:
        charger.client.close()
        if charger.process.poll() is None:
            charger.process.kill()
            charger.process.wait()
