"""The owner sees, on GET /api/v1/updates, which firmware slot is installed and the last request."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from ukscp.app import App
from ukscp.config import parse_config
from ukscp.firmware.slots import FirmwareSlots, SlotPointer


async def test_the_factory_software_runs_until_a_slot_is_installed(
    app: App, api: httpx.AsyncClient
) -> None:
    firmware = (await api.get("/api/v1/updates")).json()["firmware"]
    assert firmware["running_version"]
    assert firmware["active_slot"] is None
    assert firmware["root_ca_provisioned"] is False  # the default config has no root
    assert firmware["last_request"] is None

    FirmwareSlots(app.settings.data_dir).switch(
        SlotPointer(
            slot="b",
            version="0.2.0",
            wheel="ukscp-0.2.0-py3-none-any.whl",
            sha256="00" * 32,
            request_id=7,
            installed_at="2026-01-05T00:00:00+00:00",
        )
    )
    active = (await api.get("/api/v1/updates")).json()["firmware"]["active_slot"]
    assert (active["slot"], active["version"], active["request_id"]) == ("b", "0.2.0", 7)


def test_the_example_config_documents_the_firmware_root() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    raw = yaml.safe_load(example.read_text())
    assert "firmware_root_ca_file" in raw["updates"]
    assert parse_config(raw).updates.firmware_root_ca_file is None
