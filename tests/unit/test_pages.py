"""The owner's pages, in process: who may see which page, and what each page carries."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

import ukscp
from tests.conftest import OWNER, OWNER_PASSWORD
from ukscp.app import App
from ukscp.web.pages import CONTENT_SECURITY_POLICY, OWNER_PAGES, TEMPLATES_DIR, templates
from ukscp.web.schemas import IntegrityCheckView, IntegrityView

ALL_PAGES = [*OWNER_PAGES, "/setup", "/login", "/first-use"]


async def set_up(app: App, client: httpx.AsyncClient) -> dict[str, str]:
    code = app.accounts.prepare_setup(app.setup_codes)
    body = {"setup_code": code, "username": OWNER, "password": OWNER_PASSWORD}
    response = await client.post("/api/v1/setup", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def choose_hours(client: httpx.AsyncClient, csrf: str) -> None:
    response = await client.post(
        "/api/v1/schedule/first-use", json={"choice": "remove"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200, response.text


def csrf_meta(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]*)">', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.mark.parametrize("path", [p for p in ALL_PAGES if p != "/setup"])
async def test_before_setup_every_page_leads_to_setup(anonymous: httpx.AsyncClient, path: str):
    response = await anonymous.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/setup"


async def test_the_setup_page_is_html_with_a_strict_policy(anonymous: httpx.AsyncClient):
    response = await anonymous.get("/setup")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-store"
    assert 'id="setup-form"' in response.text
    assert csrf_meta(response.text) == ""  # no session yet


async def test_while_the_first_use_choice_is_pending_it_cannot_be_skipped(
    app: App, anonymous: httpx.AsyncClient
):
    session = await set_up(app, anonymous)  # the page's cookie comes with the answer
    for path in OWNER_PAGES:
        response = await anonymous.get(path)
        assert (response.status_code, response.headers.get("location")) == (303, "/first-use")
    for path, target in [("/setup", "/"), ("/login", "/")]:
        response = await anonymous.get(path)
        assert (response.status_code, response.headers.get("location")) == (303, target)
    wizard = await anonymous.get("/first-use")
    assert wizard.status_code == 200
    assert csrf_meta(wizard.text) == session["csrf_token"]
    assert "08:00\N{EN DASH}11:00 and 16:00\N{EN DASH}22:00" in wizard.text

    await choose_hours(anonymous, session["csrf_token"])
    assert (await anonymous.get("/first-use")).headers["location"] == "/"
    for path in OWNER_PAGES:
        page = await anonymous.get(path)
        assert page.status_code == 200, path
        assert csrf_meta(page.text) == session["csrf_token"]
        assert f'<a href="{path}" aria-current="page">' in page.text


async def test_without_a_session_every_page_leads_to_login(app: App, anonymous: httpx.AsyncClient):
    await set_up(app, anonymous)
    anonymous.cookies.clear()
    assert (await anonymous.get("/")).headers["location"] == "/login"
    for path in [p for p in OWNER_PAGES if p != "/"]:
        response = await anonymous.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"
    assert (await anonymous.get("/first-use")).headers["location"] == "/login?next=/first-use"
    assert (await anonymous.get("/setup")).headers["location"] == "/login"
    login = await anonymous.get("/login")
    assert login.status_code == 200
    assert 'id="login-form"' in login.text


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/history", "/history"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/api/v1/personal-data", "/"),
    ],
)
async def test_login_sends_the_owner_back_only_to_one_of_the_pages(
    app: App, anonymous: httpx.AsyncClient, asked: str, kept: str
):
    await set_up(app, anonymous)
    anonymous.cookies.clear()
    login = await anonymous.get("/login", params={"next": asked})
    assert f'data-next="{kept}"' in login.text


async def test_logout_needs_the_csrf_token_and_ends_the_session(
    app: App, anonymous: httpx.AsyncClient
):
    session = await set_up(app, anonymous)
    await choose_hours(anonymous, session["csrf_token"])
    refused = await anonymous.post("/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    assert (await anonymous.get("/api/v1/status")).status_code == 200  # still logged in

    done = await anonymous.post("/logout", data={"csrf_token": session["csrf_token"]})
    assert (done.status_code, done.headers["location"]) == (303, "/login?logged_out=1")
    assert "ukscp_session" not in anonymous.cookies
    assert (await anonymous.get("/")).headers["location"] == "/login"
    again = await anonymous.post("/logout")
    assert (again.status_code, again.headers["location"]) == (303, "/login")


async def test_the_simulator_buttons_show_only_with_the_simulator(
    app: App, anonymous: httpx.AsyncClient
):
    session = await set_up(app, anonymous)
    await choose_hours(anonymous, session["csrf_token"])
    assert 'data-action="sim-plug"' in (await anonymous.get("/")).text
    app.charger._sim = None  # as on real hardware
    assert 'data-action="sim-plug"' not in (await anonymous.get("/")).text


@pytest.mark.parametrize(
    "path",
    [
        "/static/app.js",
        "/static/app.css",
        "/static/vendor/uplot/uPlot.iife.min.js",
        "/static/vendor/uplot/uPlot.min.css",
    ],
)
async def test_the_page_assets_are_served(anonymous: httpx.AsyncClient, path: str):
    response = await anonymous.get(path)
    assert response.status_code == 200
    assert len(response.content) > 1000


async def test_pages_are_not_part_of_the_api_document(anonymous: httpx.AsyncClient):
    paths = (await anonymous.get("/openapi.json")).json()["paths"]
    assert "/api/v1/setup" in paths
    assert not [path for path in paths if not path.startswith("/api/v1/")]


def test_every_template_escapes_what_it_is_given():
    env = templates()
    assert env.from_string("{{ x }}").render(x="<script>") == "&lt;script&gt;"
    page = env.get_template("error.html").render(message="<img src=x onerror=alert(1)>")
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


async def test_the_dashboard_carries_the_security_alerts_and_settings_the_software_card(
    app: App, anonymous: httpx.AsyncClient
):
    session = await set_up(app, anonymous)
    await choose_hours(anonymous, session["csrf_token"])
    dashboard = (await anonymous.get("/")).text
    # Hidden until the status says so; announced when shown.
    assert re.search(r'data-bind="tamper-alarm" role="alert"[^>]*hidden>', dashboard)
    assert re.search(r'data-bind="integrity-alert" role="alert"[^>]*hidden>', dashboard)
    assert re.search(r'data-bind="update-notice" role="status"[^>]*hidden>', dashboard)
    # Acknowledging takes a confirmation, and the answer can take the focus.
    assert 'data-action="tamper-ask" aria-expanded="false" aria-controls="tamper-confirm"' in (
        dashboard
    )
    assert re.search(r'id="tamper-confirm" class="confirm" hidden>', dashboard)
    assert 'data-action="tamper-yes"' in dashboard
    assert 'data-msg="tamper" role="status" aria-live="polite" tabindex="-1"' in dashboard

    settings = (await anonymous.get("/settings")).text
    assert 'id="software"' in settings
    assert f'<span data-bind="sw-version">{ukscp.__version__}</span>' in settings
    assert 'data-action="check-updates"' in settings


def test_no_template_needs_inline_script_or_style():
    """The policy allows scripts and styles from our files only: nothing inline may rely on it."""
    for template in TEMPLATES_DIR.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", text), template.name


async def test_every_other_page_names_a_tamper_alarm_or_changed_software_and_leads_to_the_dashboard(
    app: App, anonymous: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
):
    session = await set_up(app, anonymous)
    await choose_hours(anonymous, session["csrf_token"])
    banner = "Tamper alarm: charging is stopped."
    changed = "software has been changed: charging is held in safe mode."
    assert banner not in (await anonymous.get("/settings")).text

    assert app.sim is not None
    app.sim.tamper()
    app.tamper.check()
    for path in [p for p in OWNER_PAGES if p != "/"]:
        text = (await anonymous.get(path)).text
        assert banner in text, path
        assert '<a href="/">Go to the dashboard</a>' in text
        assert changed not in text
    assert banner not in (await anonymous.get("/")).text  # the dashboard has its own, live

    acknowledged = await anonymous.post(
        "/api/v1/tamper/acknowledge", headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert banner not in (await anonymous.get("/settings")).text

    failed = IntegrityView(
        configured=True,
        last_check=IntegrityCheckView(
            checked_at=datetime.now(UTC), ok=False, signature_valid=True,
            summary="software changed since release 0.1.0: changed: web/errors.py",
            changed=["web/errors.py"], added=[], missing=[],
        ),
        secure_boot="unknown (no UEFI firmware interface: the board must report it)",
    )
    monkeypatch.setattr(app.charger, "integrity", lambda: failed)
    text = (await anonymous.get("/history")).text
    assert changed in text
    assert banner not in text
