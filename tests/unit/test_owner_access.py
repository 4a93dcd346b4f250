"""No default password: setup with the device's code, then a session for everything."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from tests.conftest import OWNER, OWNER_PASSWORD
from ukscp.app import App
from ukscp.clock import VirtualClock
from ukscp.security.password_worker import DEFAULT_QUEUE, DEFAULT_THREADS


async def setup(app: App, client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    code = app.accounts.prepare_setup(app.setup_codes)
    body = {"setup_code": code, "username": OWNER, "password": OWNER_PASSWORD, **overrides}
    return await client.post("/api/v1/setup", json=body)


async def test_before_setup_only_the_setup_flow_works(anonymous: httpx.AsyncClient):
    assert (await anonymous.get("/api/v1/health")).json() == {"status": "ok", "setup_done": False}
    response = await anonymous.get("/api/v1/status")
    assert response.status_code == 403
    assert "not set up" in response.json()["error"]
    login = await anonymous.post("/api/v1/login", json={"username": "a", "password": "b"})
    assert login.status_code == 403


async def test_a_wrong_setup_code_is_refused(app: App, anonymous: httpx.AsyncClient):
    response = await setup(app, anonymous, setup_code="AAAA-BBBB-CCCC-DDDD")
    assert response.status_code == 403
    assert response.json()["error"] == "the setup code is not correct"
    assert not app.accounts.setup_done


async def test_a_weak_password_is_refused_with_a_reason(app: App, anonymous: httpx.AsyncClient):
    response = await setup(app, anonymous, password="password123")
    assert response.status_code == 422
    assert len(response.json()["error"]) > 20
    assert not app.accounts.setup_done


async def test_setup_consumes_the_code_and_cannot_be_repeated(
    app: App, anonymous: httpx.AsyncClient
):
    first = await setup(app, anonymous)
    assert first.status_code == 200
    assert first.json()["username"] == OWNER
    assert app.setup_codes.current() is None
    again = await anonymous.post(
        "/api/v1/setup",
        json={"setup_code": "AAAA-BBBB-CCCC-DDDD", "username": "x", "password": OWNER_PASSWORD},
    )
    assert again.status_code == 409


async def test_after_setup_every_route_needs_a_session(app: App, anonymous: httpx.AsyncClient):
    await setup(app, anonymous)
    anonymous.cookies.clear()
    for method, path in [("GET", "/api/v1/status"), ("GET", "/api/v1/random-delay"),
                         ("PUT", "/api/v1/schedule"), ("POST", "/api/v1/boost"),
                         ("DELETE", "/api/v1/personal-data"), ("GET", "/api/v1/security-log"),
                         ("POST", "/api/v1/sim/plug"), ("GET", "/api/v1/meter/export.csv")]:
        response = await anonymous.request(method, path)
        assert response.status_code == 401, path
        assert response.json()["error"].startswith("log in")
    bad = await anonymous.get("/api/v1/status", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401


async def test_login_gives_a_bearer_token(app: App, anonymous: httpx.AsyncClient):
    await setup(app, anonymous)
    login = await anonymous.post(
        "/api/v1/login", json={"username": OWNER, "password": OWNER_PASSWORD}
    )
    token = login.json()["token"]
    anonymous.cookies.clear()
    status = await anonymous.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 200


async def test_repeated_wrong_passwords_lock_the_account_out_for_a_while(
    app: App, anonymous: httpx.AsyncClient, clock: VirtualClock
):
    await setup(app, anonymous)
    wrong = {"username": OWNER, "password": "not-the-password-at-all"}
    codes = [(await anonymous.post("/api/v1/login", json=wrong)).status_code for _ in range(6)]
    assert codes[:4] == [401] * 4
    assert codes[-1] == 429
    locked = await anonymous.post(
        "/api/v1/login", json={"username": OWNER, "password": OWNER_PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["detail"]["retry_after_s"] > 0
    await clock.advance(locked.json()["detail"]["retry_after_s"] + 1)
    ok = await anonymous.post("/api/v1/login", json={"username": OWNER, "password": OWNER_PASSWORD})
    assert ok.status_code == 200
    types = [record.type for record in app.seclog.records(50)]
    assert "AccountLockedOut" in types
    assert "LoginFailed" in types


async def test_a_full_password_queue_answers_503_in_words_and_hashes_nothing(
    app: App, anonymous: httpx.AsyncClient
):
    await setup(app, anonymous)
    assert app.passwords is not None
    hold = threading.Event()
    busy = [
        asyncio.ensure_future(app.passwords.run(hold.wait))
        for _ in range(DEFAULT_THREADS + DEFAULT_QUEUE)
    ]
    await asyncio.sleep(0)
    failures_before = [r.type for r in app.seclog.records(50)].count("LoginFailed")
    try:
        answer = await anonymous.post(
            "/api/v1/login", json={"username": OWNER, "password": "not-the-password-at-all"}
        )
    finally:
        hold.set()
        await asyncio.gather(*busy)
    assert answer.status_code == 503
    assert answer.json() == {
        "error": "the charger is busy checking other logins: try again in 5 s",
        "detail": {"retry_after_s": 5},
    }
    assert [r.type for r in app.seclog.records(50)].count("LoginFailed") == failures_before


async def test_the_page_cookie_needs_the_csrf_token_for_changes(
    app: App, anonymous: httpx.AsyncClient
):
    session = (await setup(app, anonymous)).json()
    assert "ukscp_session" in anonymous.cookies
    assert (await anonymous.get("/api/v1/status")).status_code == 200  # reading: no token
    refused = await anonymous.post("/api/v1/random-delay/cancel")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    accepted = await anonymous.post(
        "/api/v1/random-delay/cancel", headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert accepted.status_code == 200


async def test_logout_ends_the_session(app: App, anonymous: httpx.AsyncClient):
    token = (await setup(app, anonymous)).json()["token"]
    anonymous.cookies.clear()
    headers = {"Authorization": f"Bearer {token}"}
    assert (await anonymous.post("/api/v1/logout", headers=headers)).status_code == 204
    assert (await anonymous.get("/api/v1/status", headers=headers)).status_code == 401


async def test_changing_the_password_needs_the_old_one_and_a_strong_new_one(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient
):
    new = "amber-lantern-quarry-58-thistle"
    wrong = await api.post("/api/v1/password", json={"old_password": "nope", "new_password": new})
    assert wrong.status_code == 401
    weak = await api.post(
        "/api/v1/password", json={"old_password": OWNER_PASSWORD, "new_password": "aaaaaaaaaaaa"}
    )
    assert weak.status_code == 422
    change = {"old_password": OWNER_PASSWORD, "new_password": new}
    ok = await api.post("/api/v1/password", json=change)
    assert ok.status_code == 204
    old_login = {"username": OWNER, "password": OWNER_PASSWORD}
    assert (await anonymous.post("/api/v1/login", json=old_login)).status_code == 401
    new_login = {"username": OWNER, "password": new}
    assert (await anonymous.post("/api/v1/login", json=new_login)).status_code == 200


async def test_security_relevant_actions_land_in_the_security_log(
    api: httpx.AsyncClient, app: App
):
    await api.put("/api/v1/random-delay", json={"max_duration_s": 1200})
    await api.post("/api/v1/schedule/first-use", json={"choice": "remove"})
    await api.delete("/api/v1/personal-data")
    records = (await api.get("/api/v1/security-log")).json()
    types = [record["type"] for record in records]
    for expected in ("StartupOfTheDevice", "OwnerSetupCompleted", "LoginSucceeded",
                     "RandomDelayMaxDurationChanged", "ScheduleChanged", "PersonalDataDeleted"):
        assert expected in types
    delay = next(r for r in records if r["type"] == "RandomDelayMaxDurationChanged")
    assert "600 s -> 1200 s by owner" in delay["info"]
    check = (await api.get("/api/v1/security-log/verify")).json()
    assert check["ok"] is True
    assert check["checked"] == len(types)


@pytest.mark.parametrize("before_id", [2**63, -1, 0, "x"])
async def test_a_security_log_page_out_of_range_is_refused_in_words(
    api: httpx.AsyncClient, before_id: object
):
    response = await api.get("/api/v1/security-log", params={"before_id": before_id})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == "query.before_id"


async def test_the_largest_security_log_page_bound_reads_from_the_newest(api: httpx.AsyncClient):
    everything = (await api.get("/api/v1/security-log")).json()
    response = await api.get("/api/v1/security-log", params={"before_id": 2**63 - 1})
    assert response.status_code == 200
    assert response.json() == everything


@pytest.mark.parametrize("path", ["/api/v1/health", "/openapi.json"])
async def test_open_routes_say_nothing_about_the_charger(anonymous: httpx.AsyncClient, path: str):
    response = await anonymous.get(path)
    assert response.status_code == 200
    assert "session" not in response.text.lower() or path == "/openapi.json"
