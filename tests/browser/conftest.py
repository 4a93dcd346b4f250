"""The owner's page in headless Chromium, against the real ``ukscp run`` process.

Unlike the e2e fixtures, the charger here starts NOT set up: the first test sets
it up through the page, as its owner would. The browser and the charger last for
a whole module; :func:`ensure_owner` brings any test to a logged-in dashboard, so
a single test can also run on its own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.e2e.conftest import OWNER, OWNER_PASSWORD, UKSCP, free_port

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--ignore-certificate-errors",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives the owner's page in headless Chromium (real ukscp process)"
    )


@dataclass
class PageCharger:
    """A ``ukscp run`` process on a fixed port, so that it can be killed and restarted."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    # How to run ukscp (another installed copy, a config file): the command, its extra
    # ``run`` options and environment.
    command: list[str] = field(default_factory=lambda: [str(UKSCP)])
    run_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 30) -> None:
        self.process = subprocess.Popen(
            [
                *self.command,
                "run",
                "--data-dir",
                str(self.data_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.run_args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if "charger ready at" in line:
                # Keep reading its log, or the pipe fills and the charger blocks.
                threading.Thread(target=self._drain, args=(self.process,), daemon=True).start()
                return
        self.process.kill()
        raise AssertionError("ukscp did not become ready:\n" + "".join(self.output))

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)

    def setup_code(self) -> str:
        """The one-time code, as the owner reads it on the console."""
        return subprocess.run(
            [str(UKSCP), "setup-code", "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def charger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageCharger]:
    """A charger on the simulator, started for the first time: not set up."""
    running = PageCharger(tmp_path_factory.mktemp("browser") / "data")
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@dataclass
class Console:
    """What the page complained about: script errors and blocked content (CSP)."""

    problems: list[str] = field(default_factory=list)

    def check(self) -> None:
        problems, self.problems[:] = list(self.problems), []
        assert not problems, "the page reported errors:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def context(browser: Browser, charger: PageCharger) -> Iterator[BrowserContext]:
    # Depends on the charger so that the tab closes first: an open keep-alive
    # connection would make the charger wait out its graceful stop.
    ctx = browser.new_context(
        ignore_https_errors=True,  # the charger's own self-signed device certificate
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        timezone_id="Europe/London",
    )
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def console() -> Console:
    return Console()


@pytest.fixture(scope="module")
def page(context: BrowserContext, console: Console) -> Page:
    tab = context.new_page()

    def on_console(message: object) -> None:
        text = getattr(message, "text", "")
        # A refused request (401, 422...) is logged by Chromium as a failed load: expected.
        if getattr(message, "type", "") == "error" and not text.startswith(
            "Failed to load resource"
        ):
            console.problems.append(text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: console.problems.append(f"uncaught: {error}"))
    return tab


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Keep a picture of the page for people to look at (tests/artifacts/, not in git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def at(charger: PageCharger, path: str) -> re.Pattern[str]:
    """The whole URL of ``path`` (with its query, if any) on ``charger``."""
    return re.compile(re.escape(charger.url + path) + "$")


def set_up(page: Page, charger: PageCharger) -> None:
    """The first-start setup, through the page."""
    expect(page).to_have_url(at(charger, "/setup"))
    page.get_by_label("Setup code", exact=True).fill(charger.setup_code())
    page.get_by_label("Username").fill(OWNER)
    page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    page.get_by_label("Password again").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Set up the charger").click()
    expect(page).to_have_url(at(charger, "/first-use"))


def log_in(page: Page, password: str = OWNER_PASSWORD) -> None:
    """Log in through the login form (the caller checks where it leads)."""
    assert "/login" in page.url, page.url
    page.get_by_label("Username").fill(OWNER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def choose_any_time(page: Page, charger: PageCharger) -> None:
    """The first-use choice that lets the tests charge at any hour of the day."""
    page.get_by_label("Remove them: charge at any time").check()
    page.get_by_role("button", name="Save my choice").click()
    expect(page).to_have_url(at(charger, "/"))


def ensure_owner(page: Page, charger: PageCharger, path: str = "/") -> None:
    """Bring the browser to ``path`` as the logged-in owner, whatever came before."""
    page.goto(charger.url + path)
    if page.url == charger.url + "/setup":
        set_up(page, charger)
    if page.url.startswith(charger.url + "/login"):
        log_in(page)
        page.wait_for_url(lambda url: not url.startswith(charger.url + "/login"))
    if page.url == charger.url + "/first-use":
        choose_any_time(page, charger)
    if page.url != charger.url + path:
        page.goto(charger.url + path)
    expect(page).to_have_url(at(charger, path))


def ensure_charging(page: Page, charger: PageCharger) -> None:
    """A vehicle plugged in and charging, as the dashboard shows it."""
    ensure_owner(page, charger, "/")
    state = page.locator('[data-bind="state"]')
    expect(state).not_to_have_text("…")
    if state.inner_text() != "Charging":
        page.get_by_role("button", name="Plug in").click()
    expect(state).to_have_text("Charging", timeout=20_000)
