"""The owner's page, driven in headless Chromium against the real ``ukscp run``.

The tests share one charger and one browser tab and run in file order, as an
owner would live with the charger: set it up, plug in, change settings, lose
power, look at the history. Each test still gets there on its own through
``ensure_owner`` / ``ensure_charging`` if run alone.
"""

from __future__ import annotations

import re
import signal
import time

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    Console,
    PageCharger,
    at,
    choose_any_time,
    ensure_charging,
    ensure_owner,
    log_in,
    screenshot,
)
from tests.e2e.conftest import OWNER_PASSWORD

pytestmark = pytest.mark.browser

DASH = "\N{EN DASH}"  # the page writes day and time ranges with an en dash


def bound(page: Page, name: str) -> Locator:
    return page.locator(f'[data-bind="{name}"]')


def msg(page: Page, name: str) -> Locator:
    return page.locator(f'[data-msg="{name}"]')


def test_first_start_setup_then_the_first_use_choice_cannot_be_skipped(
    page: Page, charger: PageCharger, console: Console
):
    page.goto(charger.url + "/")
    expect(page).to_have_url(at(charger, "/setup"))
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "01-setup")

    page.get_by_label("Setup code", exact=True).fill(charger.setup_code())
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    page.get_by_label("Password again").fill(OWNER_PASSWORD + "x")
    page.get_by_role("button", name="Set up the charger").click()
    expect(msg(page, "setup")).to_have_text(re.compile("not the same"))

    # The API's refusal of a weak password is shown in its own words.
    page.get_by_label("Password", exact=True).fill("password123")
    page.get_by_label("Password again").fill("password123")
    page.get_by_role("button", name="Set up the charger").click()
    expect(msg(page, "setup")).to_have_class(re.compile("msg-error"))
    expect(msg(page, "setup")).not_to_have_text("")
    assert "Traceback" not in msg(page, "setup").inner_text()
    screenshot(page, "01-setup-error")

    page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
    page.get_by_label("Password again").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Set up the charger").click()
    expect(page).to_have_url(at(charger, "/first-use"))

    # The wizard cannot be skipped: every other page leads back to it.
    for path in ("/", "/schedule", "/settings", "/history"):
        page.goto(charger.url + path)
        expect(page).to_have_url(at(charger, "/first-use"))
    page.goto(charger.url + "/setup")
    expect(page).to_have_url(at(charger, "/first-use"))

    expect(page.get_by_text(f"Mon{DASH}Fri 11:00{DASH}16:00")).to_be_visible()
    custom = page.locator('[data-bind="custom-editor"]')
    expect(custom).to_be_hidden()
    page.get_by_label("Set my own hours").check()
    expect(custom).to_be_visible()
    page.get_by_role("button", name="Save my choice").click()
    expect(msg(page, "first-use")).to_have_text(re.compile("at least one charging window"))
    screenshot(page, "02-first-use")

    choose_any_time(page, charger)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    console.check()


def test_dashboard_shows_charging_after_plug_in(page: Page, charger: PageCharger, console: Console):
    ensure_owner(page, charger, "/")
    state = bound(page, "state")
    expect(state).not_to_have_text("…")
    expect(state).to_have_text("No vehicle")
    page.get_by_role("button", name="Plug in").click()
    expect(msg(page, "sim")).to_have_text(re.compile("^Vehicle plugged in; battery at"))
    expect(state).to_have_text("Charging", timeout=20_000)
    expect(bound(page, "power")).not_to_have_text(re.compile(r"^0\.00 kW$"), timeout=10_000)
    expect(bound(page, "limit-source")).to_have_text(re.compile("Set by"))
    screenshot(page, "03-dashboard-charging")

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "03-dashboard-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Boost and stop boost: owner actions, shown at once.
    page.get_by_role("button", name="Boost: charge now").click()
    expect(msg(page, "boost")).to_have_text(re.compile("Boost on"))
    expect(bound(page, "boost-state")).to_have_text(re.compile("until the vehicle is unplugged"))
    page.get_by_role("button", name="Stop boost").click()
    expect(msg(page, "boost")).to_have_text(re.compile("Boost stopped"))
    expect(page.get_by_role("button", name="Boost: charge now")).to_be_visible()
    console.check()


def test_settings_save_the_delay_and_show_refusals_in_words(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/settings")
    field = page.get_by_label("Longest delay, in seconds (0 to 1800)")
    expect(field).to_have_value("600")
    field.fill("5000")
    page.get_by_role("button", name="Save delay settings").click()
    expect(msg(page, "delay")).to_have_text(re.compile("from 0 to 1800"))
    field.fill("1800")
    page.get_by_role("button", name="Save delay settings").click()
    expect(msg(page, "delay")).to_have_text(re.compile(r"on, up to 1800 s \(30 min\)"))

    # A wrong current password is refused with the API's words, and the owner stays logged in.
    page.get_by_label("Current password").fill("not-my-password-at-all")
    page.get_by_label("New password", exact=True).fill("amber-lantern-quarry-58-thistle")
    page.get_by_label("New password again").fill("amber-lantern-quarry-58-thistle")
    page.get_by_role("button", name="Change password").click()
    expect(msg(page, "password")).to_have_text("Your current password is not correct.")
    expect(page).to_have_url(at(charger, "/settings"))

    # Re-pointing the back end (regulation 6): refused in words, then saved, then undone.
    expect(bound(page, "csms-status")).to_have_text(re.compile("No back end"))
    page.get_by_label("Connect to a back end").check()
    page.get_by_label("Address (wss://…)").fill("wss://127.0.0.1:9/ocpp")
    page.get_by_label("This charger's identity there").fill("CP_HOME_7")
    key = page.get_by_label("Password (authorization key) the back end gave you")
    key.fill("too-short")
    page.get_by_role("button", name="Use this back end").click()
    expect(msg(page, "backend")).to_have_text(re.compile("16 to 40 characters"))
    key.fill("a-key-from-the-new-supplier")
    page.get_by_role("button", name="Use this back end").click()
    expect(msg(page, "backend")).to_have_text(
        "Saved: the charger now reports to wss://127.0.0.1:9/ocpp."
    )
    expect(bound(page, "csms-status")).to_have_text(re.compile("Not connected, trying"))
    expect(key).to_have_value("")
    page.get_by_role("button", name="Back to the installer's").click()
    expect(bound(page, "csms-status")).to_have_text(re.compile("No back end"))
    page.get_by_role("button", name="Delete personal data…").click()
    expect(page.get_by_role("button", name="Yes, delete it")).to_be_visible()
    screenshot(page, "04-settings")
    page.get_by_role("button", name="No, keep it").click()
    expect(page.get_by_role("button", name="Yes, delete it")).to_be_hidden()

    page.reload()
    expect(page.get_by_label("Longest delay, in seconds (0 to 1800)")).to_have_value("1800")
    console.check()


def test_schedule_change_is_saved_and_shown_and_refusals_are_in_words(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/schedule")
    expect(bound(page, "mode")).to_have_text("No charging hours: charges at any time")
    editor = page.locator("#schedule-form")
    editor.get_by_role("button", name="Weekend").click()
    editor.get_by_label("From", exact=True).fill("09:00")
    editor.get_by_label("To", exact=True).fill("17:00")
    editor.get_by_role("button", name="Add this window").click()
    editor.get_by_role("button", name="Every day").click()
    editor.get_by_label("From", exact=True).fill("16:00")
    editor.get_by_label("To", exact=True).fill("18:00")
    editor.get_by_role("button", name="Add this window").click()
    expect(editor.locator("tbody tr")).to_have_count(2)
    expect(bound(page, "dirty")).to_be_visible()

    # Overlapping windows: the API's 422 says which, next to the form.
    page.get_by_role("button", name="Save these hours").click()
    expect(msg(page, "schedule")).to_have_class(re.compile("msg-error"))
    expect(msg(page, "schedule")).to_have_text(re.compile("overlaps window 1"))
    screenshot(page, "05-schedule-error")

    editor.get_by_role("button", name="Remove Every day, 16:00 to 18:00").click()
    page.get_by_role("button", name="Save these hours").click()
    expect(msg(page, "schedule")).to_have_text(re.compile("Saved"))
    page.reload()
    expect(bound(page, "mode")).to_have_text("Your own hours")
    expect(bound(page, "saved-windows")).to_have_text(f"Sat{DASH}Sun, 09:00 to 17:00")
    screenshot(page, "05-schedule")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "05-schedule-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Back to charging at any time, so the other tests charge whatever the hour.
    page.get_by_role("button", name="Remove hours: charge any time").click()
    expect(msg(page, "mode")).to_have_text(re.compile("any time"))
    expect(bound(page, "mode")).to_have_text("No charging hours: charges at any time")
    console.check()


def test_log_out_and_log_in_again(page: Page, charger: PageCharger, console: Console):
    ensure_owner(page, charger, "/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(at(charger, "/login?logged_out=1"))
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    page.goto(charger.url + "/history")
    expect(page).to_have_url(at(charger, "/login?next=/history"))

    log_in(page, "a-wrong-password-entirely")
    expect(msg(page, "login")).to_have_text("Wrong username or password.")
    screenshot(page, "06-login")
    log_in(page)
    expect(page).to_have_url(at(charger, "/history"))
    console.check()


def _restart_after_power_cut(page: Page, charger: PageCharger) -> bool:
    """Cut the power mid-charge and bring the charger back; True if a delay is running."""
    charger.stop(signal.SIGKILL)
    charger.start()
    ensure_owner(page, charger, "/")
    expect(bound(page, "state")).not_to_have_text("…")
    return bound(page, "delay-running").is_visible()


def test_power_restoration_shows_the_countdown_and_cancel_resumes_charging(
    page: Page, charger: PageCharger, console: Console
):
    ensure_charging(page, charger)
    # The maximum is 1800 s (settings test); make sure when run alone.
    page.goto(charger.url + "/settings")
    field = page.get_by_label("Longest delay, in seconds (0 to 1800)")
    expect(field).to_have_value(re.compile(r"^\d+$"))  # the page has read the settings
    field.fill("1800")
    page.get_by_role("button", name="Save delay settings").click()
    expect(msg(page, "delay")).to_have_text(re.compile("1800 s"))
    ensure_charging(page, charger)
    time.sleep(1)  # the session is recorded as active before the cut

    # The drawn delay may be 0 (1 in 1801) or end before we look: then cut again.
    running = any(_restart_after_power_cut(page, charger) for _ in range(3))
    assert running, "no randomised delay after three power restorations"
    expect(bound(page, "delay-cause")).to_have_text("Why: power came back after a power cut.")
    expect(bound(page, "state")).to_have_text("Connected, not charging")
    expect(bound(page, "delay-change")).to_have_text(re.compile("held off"))
    first = bound(page, "delay-remaining").inner_text()
    page.wait_for_timeout(2_500)
    later = bound(page, "delay-remaining").inner_text()

    def seconds(text: str) -> int:
        match = re.fullmatch(r"(?:(\d+) min )?(\d+) s", text)
        assert match, text
        return int(match.group(1) or 0) * 60 + int(match.group(2))

    assert seconds(later) < seconds(first), (first, later)
    screenshot(page, "07-dashboard-delay")

    page.get_by_role("button", name="Cancel the delay").click()
    expect(msg(page, "delay")).to_have_text(re.compile("Delay cancelled"))
    expect(bound(page, "delay-running")).to_be_hidden()
    expect(bound(page, "state")).to_have_text("Charging", timeout=20_000)
    console.check()


def test_history_draws_the_power_and_energy_charts(
    page: Page, charger: PageCharger, console: Console
):
    ensure_charging(page, charger)
    page.goto(charger.url + "/history")
    # The last hour comes from the 1 s samples: a chart within seconds.
    page.get_by_role("button", name="Last hour").click()
    expect(page.locator('[data-chart="power"] canvas')).to_be_visible(timeout=20_000)
    expect(bound(page, "power-summary")).to_have_text(re.compile("delivered, peak"))

    # The last day and the daily energy come from minute rollups: the first one
    # completes at the next minute boundary.
    deadline = time.monotonic() + 100
    while time.monotonic() < deadline:
        page.goto(charger.url + "/history")
        summary = bound(page, "energy-summary")
        expect(summary).not_to_have_text("Loading…")
        if "delivered on" in summary.inner_text():
            break
        page.wait_for_timeout(5_000)
    expect(page.locator('[data-chart="power"] canvas')).to_be_visible()
    expect(page.locator('[data-chart="energy"] canvas')).to_be_visible()
    expect(bound(page, "energy-summary")).to_have_text(re.compile(r"delivered on \d+ days?"))
    csv = page.get_by_role("link", name="Download this period as CSV")
    expect(csv).to_have_attribute("href", "/api/v1/meter/export.csv?resolution=1m")
    screenshot(page, "08-history")
    console.check()


def test_sessions_list_the_session_with_its_rate_changes(
    page: Page, charger: PageCharger, console: Console
):
    ensure_charging(page, charger)
    page.goto(charger.url + "/sessions")
    rows = page.locator('[data-bind="rows"] > tr')
    expect(rows.first).to_be_visible()
    first = rows.first
    expect(first).to_contain_text(re.compile(r"\d+(\.\d+)? k?Wh"))
    first.locator("summary").click()
    expect(first.locator(".rate-changes li").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download as CSV").click()
    assert download.value.suggested_filename == "ukscp-sessions.csv"
    screenshot(page, "09-sessions")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "09-sessions-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    console.check()


def test_security_log_shows_records_and_an_intact_chain(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/security-log")
    expect(bound(page, "chain")).to_have_text(re.compile(r"^Intact: all \d+ records check out\.$"))
    table = page.locator('[data-bind="rows"]')
    expect(table).to_contain_text("Owner setup completed")
    expect(table).to_contain_text("Login succeeded")
    screenshot(page, "10-security-log")
    console.check()


def test_deleting_personal_data_needs_a_confirmation_and_empties_the_sessions(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/settings")
    page.get_by_role("button", name="Delete personal data…").click()
    page.get_by_role("button", name="Yes, delete it").click()
    # Every session ends with the deletion, this one too: the login page says what happened.
    expect(page).to_have_url(at(charger, "/login?erased=1"))
    expect(page.get_by_role("status")).to_contain_text("Your personal data has been deleted")
    log_in(page)
    expect(page).to_have_url(at(charger, "/"))
    page.goto(charger.url + "/sessions")
    expect(page.get_by_text("No charging sessions recorded yet.")).to_be_visible()
    console.check()
