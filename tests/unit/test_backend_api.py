"""The owner's choice of back end over the API: shown, changed, refused in words, undone."""

from __future__ import annotations

import stat

import httpx
import pytest
import trustme

from ukscp.app import App
from ukscp.ocpp.backend import BACKEND_KEY, CA_FILE, KEY_FILE

NEW = {
    "url": "wss://csms.new-supplier.example/ocpp",
    "identity": "CP_42",
    "security_profile": 2,
    "authorization_key": "0123456789abcdef-key",
}


async def test_the_config_files_back_end_is_shown_without_any_key(api: httpx.AsyncClient):
    shown = (await api.get("/api/v1/backend")).json()
    assert shown["enabled"] is False
    assert shown["chosen_by"] == "config file"
    assert shown["online"] is False
    assert "authorization_key" not in shown


async def test_choosing_a_back_end_stores_it_and_the_key_apart(api: httpx.AsyncClient, app: App):
    schedule_before = (await api.get("/api/v1/schedule")).json()
    response = await api.put("/api/v1/backend", json=NEW)
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown | {"online": False} == {
        "enabled": True,
        "version": "1.6",
        "url": NEW["url"],
        "identity": "CP_42",
        "security_profile": 2,
        "ca_file": None,
        "authorization_key_set": True,
        "chosen_by": "owner",
        "online": False,
    }
    assert NEW["authorization_key"] not in response.text
    key_file = app.settings.data_dir / KEY_FILE
    assert key_file.read_text().strip() == NEW["authorization_key"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert app.store.get(BACKEND_KEY)["identity"] == "CP_42"
    assert app.ocpp.client is not None  # a client for the new back end was built
    assert (await api.get("/api/v1/schedule")).json() == schedule_before
    [record] = [r for r in app.seclog.records() if r.type == "BackendChanged"]
    assert "CP_42" in record.info and NEW["authorization_key"] not in record.info


async def test_a_ca_certificate_is_kept_for_the_new_back_end(api: httpx.AsyncClient, app: App):
    ca = trustme.CA()
    body = NEW | {"ca_certificate": ca.cert_pem.bytes().decode()}
    shown = (await api.put("/api/v1/backend", json=body)).json()
    assert shown["ca_file"] == str(app.settings.data_dir / CA_FILE)
    assert (app.settings.data_dir / CA_FILE).read_bytes() == ca.cert_pem.bytes()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"url": "https://csms.example/ocpp"}, "not a websocket URL"),
        ({"url": "ws://csms.example/ocpp"}, "requires TLS"),
        ({"url": "ws://csms.example/ocpp", "security_profile": 1}, "allow_insecure_transport"),
        ({"authorization_key": "short"}, "16 to 40 characters"),
        ({"authorization_key": "sixteen chars with spaces"}, "without spaces"),
        ({"ca_certificate": "not a certificate"}, "not a PEM certificate"),
        ({"security_profile": 3}, "ocpp.client_cert_file"),
        ({"identity": "CP:1"}, "must not contain ':'"),
        ({"version": "2.1"}, "version"),
        ({"colour": "red"}, "colour"),
        ({"security_profile": True}, "whole number 1, 2 or 3"),
        ({"security_profile": 3.0}, "whole number 1, 2 or 3"),
        ({"security_profile": "2"}, "whole number 1, 2 or 3"),
        ({"enabled": "yes"}, "enabled"),
        ({"enabled": 1}, "enabled"),
    ],
)
async def test_a_choice_that_cannot_work_is_refused_in_words_and_changes_nothing(
    api: httpx.AsyncClient, app: App, change: dict[str, object], words: str
):
    response = await api.put("/api/v1/backend", json=NEW | change)
    assert response.status_code == 422
    assert words in response.text
    assert app.store.get(BACKEND_KEY) is None
    assert not (app.settings.data_dir / KEY_FILE).exists()
    assert (await api.get("/api/v1/backend")).json()["chosen_by"] == "config file"


async def test_profile_2_without_any_stored_key_is_refused(api: httpx.AsyncClient):
    body = {k: v for k, v in NEW.items() if k != "authorization_key"}
    response = await api.put("/api/v1/backend", json=body)
    assert response.status_code == 422
    assert "needs an authorization key" in response.json()["error"]


async def test_going_back_to_the_config_file(api: httpx.AsyncClient, app: App):
    await api.put("/api/v1/backend", json=NEW)
    shown = (await api.delete("/api/v1/backend")).json()
    assert shown["chosen_by"] == "config file" and shown["enabled"] is False
    assert app.ocpp.client is None


async def test_the_back_end_needs_the_owners_session(anonymous: httpx.AsyncClient):
    assert (await anonymous.get("/api/v1/backend")).status_code in (401, 403)
    assert (await anonymous.put("/api/v1/backend", json=NEW)).status_code in (401, 403)
