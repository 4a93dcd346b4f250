"""What a back end can make the real charger do, and what it cannot.

The real ``ukscp run`` process against the ``ocpp`` library's central system on
127.0.0.1, once per OCPP version:

* no secret the central system sets (1.6 ChangeConfiguration AuthorizationKey,
  2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword), and no idTag it names,
  reaches the process's output, even with every logger at DEBUG (as an
  integrator chasing a fault would run it): the whole of stdout and stderr is
  searched for any part of them;
* an upload the central system asked for does not hold the charger when it
  is told to stop.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.e2e.conftest import RunningCharger, free_port
from tests.integration.test_ocpp16_support import CsmsServer, HungServer
from tests.integration.test_ocpp201_support import csms201

pytestmark = pytest.mark.e2e

IDENTITY = "CP_SECRETS"
# Test keys for a temporary charger; no run of 8 of their characters occurs in a log by chance.
KEY = "k3Y-1nst4ll3r-Qz81-vW0p"
NEW_KEY = "Csms-s3t-K7c2-e9a51-Xq"
ID_TAG = "TAG-8Q4Z-77XW"
DEBUG_RUN = Path(__file__).with_name("ukscp_at_debug.py")
Factory = Callable[..., RunningCharger]
T = TypeVar("T")


class ThreadedCsms:
    """A :class:`CsmsServer` on an event loop of its own, driven from this synchronous test."""

    def __init__(self, server: CsmsServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(server.start())

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def call(self, message: Any) -> Any:
        return self.run(self.server.call(message))

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"never happened: {what} ({self.server.actions()})")
            time.sleep(0.05)

    def close(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(params=["1.6", "2.0.1"])
def csms(request: pytest.FixtureRequest) -> Iterator[ThreadedCsms]:
    options: dict[str, Any] = {"basic_auth": (IDENTITY, KEY), "heartbeat_interval": 60}
    server = CsmsServer(**options) if request.param == "1.6" else csms201(**options)
    central = ThreadedCsms(server)
    yield central
    central.close()


def charger_config(tmp_path: Path, csms: ThreadedCsms, *lab: str) -> Path:
    """The charger's config file: ``csms`` on plain ws:// (a lab), and the ``lab`` keys set."""
    key_file = tmp_path / "ocpp_key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    version = "2.0.1" if csms.server.subprotocol == "ocpp2.0.1" else "1.6"
    config = tmp_path / "charger.yaml"
    extra = "".join(f", {key}: true" for key in lab)
    config.write_text(
        f"ocpp: {{enabled: true, version: '{version}', "
        f"url: 'ws://127.0.0.1:{csms.server.port}/ocpp', identity: {IDENTITY}, "
        f"security_profile: 1, authorization_key_file: '{key_file}', "
        f"allow_insecure_transport: true{extra}}}\n"
    )
    return config


def start_at_debug(tmp_path: Path, csms: ThreadedCsms) -> tuple[subprocess.Popen[str], Path]:
    """``ukscp run`` with every logger at DEBUG; its whole output goes to a file."""
    config = charger_config(tmp_path, csms)
    output = tmp_path / "output.txt"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, str(DEBUG_RUN), "run", "--config", str(config), "--data-dir",
             str(tmp_path / "data"), "--host", "127.0.0.1", "--port", str(free_port())],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return process, output


def fragments(secret: str, size: int = 8) -> set[str]:
    """Every run of ``size`` characters of ``secret``: a partly logged secret is logged."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def test_no_secret_set_by_the_csms_reaches_the_output_at_debug(
    csms: ThreadedCsms, tmp_path: Path
) -> None:
    process, output = start_at_debug(tmp_path, csms)
    server = csms.server
    try:
        csms.wait_for(lambda: "StatusNotification" in server.actions(), "registration")
        if server.subprotocol == "ocpp1.6":
            csms.call(call16.RemoteStartTransaction(id_tag=ID_TAG))
            server.basic_auth = (IDENTITY, NEW_KEY)  # the CSMS expects the key it sets now
            answer = csms.call(call16.ChangeConfiguration(key="AuthorizationKey", value=NEW_KEY))
            assert answer.status == "Accepted"
        else:
            csms.call(
                call201.RequestStartTransaction(
                    id_token={"id_token": ID_TAG, "type": "Central"}, remote_start_id=1
                )
            )
            server.basic_auth = (IDENTITY, NEW_KEY)
            answer = csms.call(
                call201.SetVariables(
                    set_variable_data=[
                        {
                            "attribute_value": NEW_KEY,
                            "component": {"name": "SecurityCtrlr"},
                            "variable": {"name": "BasicAuthPassword"},
                        }
                    ]
                )
            )
            assert answer.set_variable_result[0]["attribute_status"] == "Accepted"
        # The charger reconnects with the new secret, and registers again.
        csms.wait_for(lambda: server.connection_count >= 2, "a connection with the new key")
        csms.wait_for(lambda: server.actions().count("BootNotification") >= 2, "a new boot")
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = output.read_text()
    assert "DEBUG" in text and "receive" in text, "the charger did not log its frames at DEBUG"
    for secret in (
        KEY,
        NEW_KEY,
        ID_TAG,
        base64.b64encode(f"{IDENTITY}:{KEY}".encode()).decode(),
        base64.b64encode(f"{IDENTITY}:{NEW_KEY}".encode()).decode(),
    ):
        leaked = sorted(part for part in fragments(secret) if part in text)
        assert not leaked, f"part of {secret!r} is in the charger's output: {leaked}"


def test_an_upload_that_hangs_does_not_hold_the_charger_when_it_stops(
    csms: ThreadedCsms, charger_factory: Factory, tmp_path: Path
) -> None:
    # The upload server is on 127.0.0.1: a lab's, allowed by ocpp.allow_private_targets.
    config = charger_config(tmp_path, csms, "allow_private_targets")
    charger = charger_factory("--config", str(config))
    server = csms.server
    csms.wait_for(lambda: "StatusNotification" in server.actions(), "registration")
    hung = HungServer()  # takes the upload and never answers; the upload's timeout is 60 s
    try:
        log = {"remote_location": hung.url("/logs/")}
        request = (
            call16.GetLog(log=log, log_type="SecurityLog", request_id=5)
            if server.subprotocol == "ocpp1.6"
            else call201.GetLog(log=log, log_type="SecurityLog", request_id=5)
        )
        assert csms.call(request).status == "Accepted"
        assert hung.accepted.wait(10)
        # SIGTERM: the charger stops well within the 20 s RunningCharger.stop allows.
        assert charger.stop() == 0
        assert hung.closed.wait(5)
    finally:
        hung.stop()
