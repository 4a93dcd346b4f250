"""Shared fixtures: the whole charger built in-process on the virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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
    ]
    yield built
    built.shutdown("test finished")
    await asyncio.gather(*tasks)
    built.close()


@pytest.fixture
async def api(app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://charger") as client:
        yield client
