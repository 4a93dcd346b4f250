"""The owner's dashboard tells of an edited security log and a damaged database, in words.

The charger here ran once and was stopped; then someone edited a record of its
security log with sqlite3 and its meter history was garbled, as a failing card
would. It starts again on that data directory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Console, PageCharger, ensure_owner, screenshot

pytestmark = pytest.mark.browser

APOS = "\N{RIGHT SINGLE QUOTATION MARK}"


def bound(page: Page, name: str) -> Locator:
    return page.locator(f'[data-bind="{name}"]')


@pytest.fixture(scope="module")
def charger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageCharger]:
    data_dir = tmp_path_factory.mktemp("damaged") / "data"
    first = PageCharger(data_dir)
    first.start()
    first.stop()
    with sqlite3.connect(data_dir / "security.sqlite3") as db:
        db.execute("DROP TRIGGER records_append_only")
        db.execute("UPDATE records SET info = 'nothing to see' WHERE id = 1")
    (data_dir / "metering.sqlite3").write_bytes(b"garbled" * 500)
    running = PageCharger(data_dir)
    running.start()
    yield running
    running.stop()


def test_the_dashboard_says_what_happened_what_it_means_and_what_to_do(
    page: Page, charger: PageCharger, console: Console
):
    ensure_owner(page, charger, "/")
    alert = bound(page, "storage-alert")
    expect(alert).to_be_visible()
    expect(bound(page, "storage-title")).to_have_text(
        f"The charger{APOS}s security log has been altered"
    )
    items = bound(page, "storage-problems").locator("li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("check of its security log failed: Record 1 was altered")
    expect(items.nth(1)).to_contain_text("could not read its meter history")
    expect(items.nth(1)).to_contain_text("kept the damaged file as metering.sqlite3.corrupt-")
    meaning = bound(page, "storage-meaning")
    expect(meaning).to_contain_text("may have changed or removed security records")
    expect(meaning).to_contain_text("Charging goes on as usual.")
    expect(alert).to_contain_text("What to do: tell your installer.")
    screenshot(page, "30-dashboard-storage-alert")
    console.check()
