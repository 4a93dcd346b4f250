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


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def app(tmp_path: Path, clock: VirtualClock) -> AsyncIterator[App]:
    """The charger as ``ukscp run`` builds it, running on the virtual clock."""
    built = build_app(Settings(data_dir=tmp_path / "data"), clock)
    built.start()
    task = asyncio.create_task(built.controller.run())
    yield built
    built.shutdown("test finished")
    await task
    built.close()


@pytest.fixture
async def api(app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://charger") as client:
        yield client
