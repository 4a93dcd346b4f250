"""The owner re-points the charger at another back end while it charges (regulation 6).

Two real central systems (the ``ocpp`` library, 127.0.0.1): the installer's and the
one the owner moves to. The whole charger runs as ``build_app`` makes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import stat
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from ocpp.v16 import call
from pydantic import SecretStr

from tests.integration.test_ocpp16_support import (
    IDENTITY,
    KEY,
    CsmsServer,
    HungServer,
    eventually,
    running_csms,
    settle_real,
    write_key,
)
from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import OcppSettings, Settings
from ukscp.ocpp.backend import BACKEND_KEY, KEY_FILE, BackendChoice, BackendError
from ukscp.ocpp.queue import QUEUE_FILE

NEW_IDENTITY = "CP_AT_NEW_SUPPLIER"
NEW_KEY = "the-new-suppliers-key-42"


@dataclass
class Running:
    app: App
    tasks: list[asyncio.Task[None]]

    async def stop(self) -> None:
        self.app.shutdown("test finished")
        await asyncio.gather(*self.tasks)
        self.app.close()


def settings(data: Path, url: str, *, allow_private_targets: bool = False) -> Settings:
    ocpp = OcppSettings(
        enabled=True,
        url=url,
        identity=IDENTITY,
        security_profile=1,
        authorization_key_file=data / "installer_key",
        allow_insecure_transport=True,  # a lab: plain ws:// on loopback
        allow_private_targets=allow_private_targets,
    )
    return Settings(data_dir=data, ocpp=ocpp)


def start(data: Path, clock: VirtualClock, url: str, **lab: bool) -> Running:
    write_key(data / "installer_key")
    app = build_app(settings(data, url, **lab), clock)
    app.start()
    tasks = [
        asyncio.create_task(app.controller.run()),
        asyncio.create_task(app.default_mode.run()),
        asyncio.create_task(app.sampler.run()),
        asyncio.create_task(app.ocpp.run()),
    ]
    return Running(app, tasks)


@contextlib.asynccontextmanager
async def registered(data: Path, clock: VirtualClock, url: str) -> AsyncIterator[App]:
    """The whole charger (its config file naming ``url``), registered with its back end."""
    charger = start(data, clock, url)
    try:
        await eventually(lambda: charger.app.ocpp.status().online, clock, what="registration")
        yield charger.app
    finally:
        await charger.stop()


def new_backend(url: str) -> BackendChoice:
    return BackendChoice(
        url=url,
        identity=NEW_IDENTITY,
        security_profile=1,
        authorization_key=SecretStr(NEW_KEY),
    )


@pytest.fixture
async def servers() -> AsyncIterator[tuple[CsmsServer, CsmsServer]]:
    async with AsyncExitStack() as stack:
        old = await stack.enter_async_context(running_csms(basic_auth=(IDENTITY, KEY)))
        new = await stack.enter_async_context(running_csms(basic_auth=(NEW_IDENTITY, NEW_KEY)))
        yield old, new


async def test_the_charger_moves_to_the_new_back_end_and_keeps_charging_and_its_settings(
    tmp_path: Path, clock: VirtualClock, servers: tuple[CsmsServer, CsmsServer]
) -> None:
    old, new = servers
    charger = start(tmp_path / "data", clock, old.url)
    app = charger.app
    try:
        await eventually(lambda: app.ocpp.status().online, clock, what="registration")
        app.gate.set_max_duration(900)
        assert app.sim is not None
        app.sim.plug()
        await eventually(lambda: "StartTransaction" in old.actions(), clock)
        await eventually(lambda: app.controller.status().power_w > 0, clock)
        profile = {
            "chargingProfileId": 7,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": "2026-01-01T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            },
        }
        request = call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
        answer = await old.call(request)
        assert answer.status == "Accepted"
        assert "ocpp" in app.arbiter.active()

        status = await app.ocpp.choose(new_backend(new.url))

        assert status.identity == NEW_IDENTITY and status.chosen_by == "owner"
        await eventually(lambda: app.ocpp.status().online, clock, what="the new back end")
        [boot] = new.of("BootNotification")
        assert boot["charge_point_model"]
        assert new.auth_failures == 0  # the owner's key reached the new back end
        # The old back end's profile does not bind the charger any more.
        assert "ocpp" not in app.arbiter.active()
        # The charger never stopped charging, and what the owner set stays.
        assert app.controller.status().state == "C"
        assert app.gate.settings.max_duration_s == 900
        changed = [r for r in app.seclog.records() if r.type == "BackendChanged"]
        assert len(changed) == 1 and NEW_IDENTITY in changed[0].info
        # The key the owner gave is kept apart from the installer's, readable by us only.
        key_file = tmp_path / "data" / KEY_FILE
        assert key_file.read_text().strip() == NEW_KEY
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert (tmp_path / "data" / "installer_key").read_text().strip() == KEY
    finally:
        await charger.stop()

    # After a restart the owner's choice still holds.
    async with registered(tmp_path / "data", clock, old.url):
        assert len(new.of("BootNotification")) == 2
        assert len(old.of("BootNotification")) == 1


async def test_what_the_old_back_end_never_received_does_not_go_to_the_new_one(
    tmp_path: Path, clock: VirtualClock, servers: tuple[CsmsServer, CsmsServer]
) -> None:
    old, new = servers
    async with registered(tmp_path / "data", clock, old.url) as app:
        await old.stop()  # the old supplier's system is gone
        await settle_real(clock)
        assert app.sim is not None
        app.sim.plug()
        await eventually(lambda: app.controller.status().power_w > 0, clock, what="charging")
        await clock.advance(120)  # meter values pile up for nobody

        await app.ocpp.choose(new_backend(new.url))
        await eventually(lambda: app.ocpp.status().online, clock, what="the new back end")
        await settle_real(clock)
        assert "StartTransaction" not in new.actions()
        assert "MeterValues" not in new.actions()
        changed = next(r for r in app.seclog.records() if r.type == "BackendChanged")
        dropped = re.search(r"(\d+) undelivered", changed.info)
        assert dropped is not None and int(dropped[1]) >= 2  # the start and meter values

        # The next session is the new back end's.
        app.sim.unplug()
        await eventually(lambda: app.controller.status().state == "A", clock, what="unplug")
        app.sim.plug()
        await eventually(lambda: "StartTransaction" in new.actions(), clock, what="new start")


async def test_an_upload_the_old_back_end_asked_for_stops_when_the_owner_moves(
    tmp_path: Path, clock: VirtualClock, servers: tuple[CsmsServer, CsmsServer]
) -> None:
    old, new = servers
    hung = HungServer()  # the upload hangs; its socket timeout is a minute
    charger = start(tmp_path / "data", clock, old.url, allow_private_targets=True)
    app = charger.app
    try:
        await eventually(lambda: app.ocpp.status().online, clock, what="registration")
        log = {"remoteLocation": hung.url("/logs/")}
        request = call.GetLog(log=log, log_type="SecurityLog", request_id=3, retries=5)
        assert (await old.call(request)).status == "Accepted"
        assert await asyncio.to_thread(hung.accepted.wait, 10)

        await app.ocpp.choose(new_backend(new.url))

        assert await asyncio.to_thread(hung.closed.wait, 10), "the old back end's upload runs on"
        await eventually(lambda: app.ocpp.status().online, clock, what="the new back end")
        await clock.advance(3600)  # no retry either
        await settle_real(clock)
        assert hung.connections == 1
    finally:
        hung.stop()
        await charger.stop()


async def test_a_choice_that_cannot_work_is_refused_and_changes_nothing(
    tmp_path: Path, clock: VirtualClock, servers: tuple[CsmsServer, CsmsServer]
) -> None:
    old, _ = servers
    async with registered(tmp_path / "data", clock, old.url) as app:
        tls_without_tls = BackendChoice(url=old.url, identity="X", security_profile=2)
        with pytest.raises(BackendError, match="requires TLS"):
            await app.ocpp.choose(tls_without_tls)
        assert app.ocpp.status().online
        assert app.ocpp.status().chosen_by == "config file"
        assert app.store.get(BACKEND_KEY) is None
        assert not [r for r in app.seclog.records() if r.type == "BackendChanged"]


async def test_going_back_to_the_config_files_back_end(
    tmp_path: Path, clock: VirtualClock, servers: tuple[CsmsServer, CsmsServer]
) -> None:
    old, new = servers
    async with registered(tmp_path / "data", clock, old.url) as app:
        await app.ocpp.choose(new_backend(new.url))
        await eventually(lambda: len(new.of("BootNotification")) == 1, clock)
        status = await app.ocpp.revert()
        assert status.identity == IDENTITY and status.chosen_by == "config file"
        await eventually(lambda: len(old.of("BootNotification")) == 2, clock)
        assert old.auth_failures == 0  # the installer's key was left as it was


async def test_a_garbled_message_queue_is_kept_aside_and_the_charger_registers_anew(
    tmp_path: Path, clock: VirtualClock
) -> None:
    """A queue file SQLite cannot read (a power cut mid-write, a failing card) is moved
    aside, said in the security log, and a fresh queue begun: no traceback, no lost start."""
    data = tmp_path / "data"
    data.mkdir()
    (data / QUEUE_FILE).write_bytes(b"garbage" * 1000)
    async with running_csms() as csms:
        charger = start(data, clock, csms.url)
        try:
            await eventually(lambda: "BootNotification" in csms.actions(), clock, what="boot")
            (kept,) = sorted(data.glob(QUEUE_FILE + ".corrupt-*"))
            assert kept.read_bytes() == b"garbage" * 1000
            moved = [r for r in charger.app.seclog.records() if r.type == "DatabaseMovedAside"]
            assert len(moved) == 1 and kept.name in moved[0].info
        finally:
            await charger.stop()
