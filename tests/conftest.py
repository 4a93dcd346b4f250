"""Shared fixtures: the whole charger built in-process on the virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import httpx
import pytest

from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import Settings
from ukscp.regulation.delay_gate import draw_delay_s
from ukscp.regulation.random_delay import Draw


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def draw() -> Draw:
    """How the charger under test draws random delays; override in a module to fix it."""
    return draw_delay_s


@pytest.fixture
async def app(tmp_path: Path, clock: VirtualClock, draw: Draw) -> AsyncIterator[App]:
    """The charger as ``ukscp run`` builds it, running on the virtual clock."""
    built = build_app(Settings(data_dir=tmp_path / "data"), clock, draw=draw)
    built.start()
    tasks = [
        asyncio.create_task(built.controller.run()),
        asyncio.create_task(built.default_mode.run()),
        asyncio.create_task(built.sampler.run()),
        asyncio.create_task(built.tamper.run()),
    ]
    yield built
    built.shutdown("test finished")
    await asyncio.gather(*tasks)
    built.close()


OWNER = "owner"
OWNER_PASSWORD = "plum-kettle-harbour-71-violet"  # a test account on a temporary charger


@pytest.fixture
async def anonymous(app: App) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the charger's API with no session."""
    transport = httpx.ASGITransport(app=app.api)
    async with httpx.AsyncClient(transport=transport, base_url="https://charger") as client:
        yield client


class OwnerLogin(httpx.Auth):
    """Bearer auth that logs in again when the session has ended, as a script would.

    Tests move the virtual clock by hours, past the session's idle expiry.
    """

    requires_response_body = True

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            login = yield httpx.Request(
                "POST",
                request.url.copy_with(path="/api/v1/login", query=None),
                json={"username": OWNER, "password": OWNER_PASSWORD},
            )
            self.token = login.json()["token"]
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


@pytest.fixture
async def api(app: App, anonymous: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as the owner, after the first-start setup an owner would do."""
    code = app.accounts.prepare_setup(app.setup_codes)
    body = {"setup_code": code, "username": OWNER, "password": OWNER_PASSWORD}
    session = (await anonymous.post("/api/v1/setup", json=body)).json()
    transport = httpx.ASGITransport(app=app.api)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://charger", auth=OwnerLogin(session["token"])
    ) as client:
        yield client
