"""Deleting the owner's personal data in one action: what goes, what stays, and for good."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import trustme

from tests.conftest import OWNER, OWNER_PASSWORD
from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import Settings
from ukscp.ocpp.backend import CA_FILE, KEY_FILE
from ukscp.personal_data import KEPT_HISTORY_EVENTS
from ukscp.security.seclog import SECLOG_FILE

OWN_BACKEND = {
    "url": "wss://csms.owners-own-supplier.example/ocpp",
    "identity": "CP_OWNERS_OWN",
    "security_profile": 2,
    "authorization_key": "owners-own-key-0123456789",
    "ca_certificate": trustme.CA().cert_pem.bytes().decode(),
}


async def charge_and_unplug(api: httpx.AsyncClient, clock: VirtualClock) -> str:
    """A session with a rate change; returns its id."""
    await api.post("/api/v1/sim/plug")
    await clock.advance(60)
    session_id = (await api.get("/api/v1/status")).json()["session"]["id"]
    await api.post("/api/v1/limits/ems", json={"amps": 10, "cause": "local"})  # at once
    await clock.advance(30)
    await api.post("/api/v1/sim/unplug")
    await clock.advance(2)
    return str(session_id)


async def test_one_action_deletes_sessions_charging_history_own_back_end_and_web_sessions(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient, app: App, clock: VirtualClock
):
    assert (await api.put("/api/v1/backend", json=OWN_BACKEND)).status_code == 200
    await charge_and_unplug(api, clock)
    assert isinstance(api.auth, httpx.Auth)
    token = api.auth.token  # type: ignore[attr-defined]

    response = await api.delete("/api/v1/personal-data")

    assert response.status_code == 200, response.text
    deleted = response.json()
    assert deleted["sessions"] == 1
    assert deleted["rate_changes"] >= 2
    assert deleted["history_events"] >= 5
    assert deleted["owner_backend_forgotten"] is True
    assert deleted["web_sessions"] == 1
    # Every web session ended, this one too; the page's cookie is taken away.
    assert "ukscp_session=" in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    ended = await anonymous.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
    assert ended.status_code == 401
    # The history keeps only what says nothing about anyone's charging.
    kinds = {record.kind for record in app.history.all()}
    assert kinds <= KEPT_HISTORY_EVENTS
    assert {"ChargerStarted", "PersonalDataDeleted"} <= kinds
    # The owner's own back end is forgotten: the installer's is in force again.
    backend = (await api.get("/api/v1/backend")).json()  # logs in again
    assert backend["chosen_by"] == "config file"
    assert not (app.settings.data_dir / KEY_FILE).exists()
    assert not (app.settings.data_dir / CA_FILE).exists()
    assert (await api.get("/api/v1/sessions")).json() == []
    # The energy record of regulation 9 stays, without who.
    rows = (await api.get("/api/v1/meter/history", params={"resolution": "1m"})).json()["rows"]
    assert sum(row["import_wh"] for row in rows) > 0


async def test_the_security_log_records_the_deletion_in_counts_only(
    api: httpx.AsyncClient, app: App, clock: VirtualClock
):
    await api.put("/api/v1/backend", json=OWN_BACKEND)
    session_id = await charge_and_unplug(api, clock)
    await api.delete("/api/v1/personal-data")
    [record] = [r for r in app.seclog.records() if r.type == "PersonalDataDeleted"]
    assert re.fullmatch(
        r"owner deleted 1 sessions, \d+ rate changes, \d+ history events, their own back end"
        r" and ended 1 web sessions",
        record.info,
    ), record.info
    for personal in (session_id, OWN_BACKEND["url"], OWN_BACKEND["identity"]):
        assert personal not in record.info
    assert app.seclog.verify().ok


async def test_nothing_to_forget_of_a_back_end_the_owner_never_chose(
    api: httpx.AsyncClient, clock: VirtualClock
):
    await charge_and_unplug(api, clock)
    deleted = (await api.delete("/api/v1/personal-data")).json()
    assert deleted["owner_backend_forgotten"] is False
    assert deleted["sessions"] == 1


async def test_after_deleting_personal_data_the_login_page_says_what_happened(
    anonymous: httpx.AsyncClient, api: httpx.AsyncClient
):
    anonymous.cookies.clear()  # as after the deletion: no session left
    page = (await anonymous.get("/login?erased=1")).text
    assert "Your personal data has been deleted, and every device has" in page
    assert "Your personal data" not in (await anonymous.get("/login")).text


@asynccontextmanager
async def running(
    data_dir: Path, clock: VirtualClock, settings: Settings | None = None
) -> AsyncIterator[App]:
    """The charger on ``data_dir``, as ``ukscp run`` builds it, until the block ends."""
    app = build_app(settings or Settings(data_dir=data_dir), clock)
    app.start()
    tasks = [
        asyncio.create_task(app.controller.run()),
        asyncio.create_task(app.default_mode.run()),
        asyncio.create_task(app.sampler.run()),
    ]
    try:
        yield app
    finally:
        app.shutdown("test finished")
        await asyncio.gather(*tasks)
        app.close()


@asynccontextmanager
async def owner(app: App) -> AsyncIterator[httpx.AsyncClient]:
    """The owner's API client: sets the charger up on first use, else logs in."""
    transport = httpx.ASGITransport(app=app.api)
    async with httpx.AsyncClient(transport=transport, base_url="https://charger") as client:
        body = {"username": OWNER, "password": OWNER_PASSWORD}
        code = app.accounts.prepare_setup(app.setup_codes)
        if code is not None:
            session = await client.post("/api/v1/setup", json=body | {"setup_code": code})
        else:
            session = await client.post("/api/v1/login", json=body)
        client.headers["Authorization"] = f"Bearer {session.json()['token']}"
        yield client


async def test_the_deletion_survives_a_restart_and_leaves_no_copy_in_the_files(tmp_path: Path):
    data_dir = tmp_path / "data"
    clock = VirtualClock()
    async with running(data_dir, clock) as app, owner(app) as api:
        await api.post("/api/v1/schedule/first-use", json={"choice": "remove"})
        await api.put("/api/v1/backend", json=OWN_BACKEND)
        session_id = await charge_and_unplug(api, clock)
        assert (await api.delete("/api/v1/personal-data")).status_code == 200

    async with running(data_dir, clock) as app, owner(app) as api:
        assert (await api.get("/api/v1/sessions")).json() == []
        records = list(app.history.all())
        deletion = max(i for i, r in enumerate(records) if r.kind == "PersonalDataDeleted")
        # What the charger recorded before the deletion is what it kept; since, as usual.
        assert {record.kind for record in records[:deletion]} <= KEPT_HISTORY_EVENTS
        assert (await api.get("/api/v1/backend")).json()["chosen_by"] == "config file"

    traces = [
        session_id.encode(),
        OWN_BACKEND["url"].encode(),
        OWN_BACKEND["identity"].encode(),
        OWN_BACKEND["authorization_key"].encode(),
        b"ukscp-owner",  # the idTag of the transaction queued for the owner's back end
    ]
    files = [path for path in data_dir.rglob("*") if path.is_file()]
    assert any(path.name == "ocpp-queue.sqlite3" for path in files)
    for path in files:
        content = path.read_bytes()
        # The security log stays (regulation): it named the back end when it was chosen.
        for trace in traces[:1] if path.name == SECLOG_FILE else traces:
            assert trace not in content, (path.name, trace)


async def test_an_installers_back_end_that_cannot_start_does_not_stop_the_deletion(
    tmp_path: Path,
):
    data_dir = tmp_path / "data"
    clock = VirtualClock()
    async with running(data_dir, clock) as app, owner(app) as api:
        await api.put("/api/v1/backend", json=OWN_BACKEND)
    # The installer's back end in the file is one that cannot work (plain ws:// with
    # TLS required); the charger ran on the owner's own choice all along.
    broken = Settings.model_validate(
        {
            "data_dir": str(data_dir),
            "ocpp": {"enabled": True, "url": "ws://csms.example/ocpp", "identity": "CP_1"},
        }
    )
    async with running(data_dir, clock, broken) as app, owner(app) as api:
        response = await api.delete("/api/v1/personal-data")
        assert response.status_code == 200, response.text
        assert response.json()["owner_backend_forgotten"] is True
        assert response.json()["web_sessions"] == 2  # the first run's and this one
        assert not (data_dir / KEY_FILE).exists()
        assert (await api.get("/api/v1/backend")).status_code == 401  # logged out: done
