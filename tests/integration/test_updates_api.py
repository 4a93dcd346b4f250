"""Update checks through the charger's API, against a local TUF repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import OwnerLogin
from tests.integration.test_updates_repository import (  # noqa: F401  (fixtures)
    TufRepository,
    repo,
    served_dir,
    server_url,
)
from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import Settings


@pytest.fixture
async def provisioned(
    tmp_path: Path, repo: TufRepository, server_url: str  # noqa: F811
) -> AsyncIterator[tuple[App, httpx.AsyncClient]]:
    root = tmp_path / "root.json"
    root.write_bytes(repo.root_bytes())
    settings = Settings.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "updates": {"tuf_repository_url": server_url, "trusted_root_file": str(root)},
        }
    )
    app = build_app(settings, VirtualClock())
    code = app.accounts.prepare_setup(app.setup_codes)
    transport = httpx.ASGITransport(app=app.api)
    async with httpx.AsyncClient(transport=transport, base_url="https://charger") as client:
        body = {"setup_code": code, "username": "owner",
                "password": "plum-kettle-harbour-71-violet"}
        token = (await client.post("/api/v1/setup", json=body)).json()["token"]
        client.cookies.clear()
        client.auth = OwnerLogin(token)
        yield app, client
    app.close()


async def test_a_new_release_is_shown_to_the_owner(
    provisioned: tuple[App, httpx.AsyncClient], repo: TufRepository  # noqa: F811
):
    _, client = provisioned
    before = (await client.get("/api/v1/updates")).json()
    assert before["configured"] is True
    assert before["last_check"] is None
    repo.release("0.2.0")
    repo.publish()
    checked = (await client.post("/api/v1/updates/check")).json()
    assert checked["last_check"]["outcome"] == "update_available"
    assert checked["last_check"]["available_version"] == "0.2.0"


async def test_without_a_repository_update_checks_say_not_configured(api: httpx.AsyncClient):
    view = (await api.get("/api/v1/updates")).json()
    view.pop("firmware")  # signed firmware through OCPP: tests/unit/test_firmware_api.py
    assert view == {
        "configured": False, "repository_url": None, "last_check": None,
    }
