"""The measuring system of the real process: what the owner sees, and a hard kill."""

from __future__ import annotations

import csv
import io
import signal
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningCharger
from tests.e2e.test_run import wait_for

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]


def epoch_ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def committed_since(data_dir: Path, iso: str) -> int:
    """Samples in the metering file from ``iso`` on, as another process sees them."""
    with closing(sqlite3.connect(data_dir / "metering.sqlite3")) as db:
        query = "SELECT count(*) FROM samples WHERE ts_ms >= ?"
        return int(db.execute(query, (epoch_ms(iso),)).fetchone()[0])


def test_a_killed_charger_keeps_every_committed_sample_and_its_session(
    charger_factory: Factory, tmp_path
):
    data_dir = tmp_path / "data"
    first = charger_factory("--sim-plug", data_dir=data_dir)
    started = wait_for(first, lambda s: s["state"] == "C" and s["power_w"] > 0)["time"]
    # Until a commit (every 5 s) holds a few samples of the charging.
    deadline = time.monotonic() + 20
    while committed_since(data_dir, started) < 4:
        assert time.monotonic() < deadline, "no samples committed"
        time.sleep(0.25)
    before = first.client.get(
        "/api/v1/meter/history", params={"resolution": "1s", "from": started}
    ).json()["rows"]
    first.stop(signal.SIGKILL)

    with closing(sqlite3.connect(data_dir / "metering.sqlite3")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (last_committed_ms,) = db.execute("SELECT max(ts_ms) FROM samples").fetchone()
    # The owner saw samples not yet committed too; those before the last committed
    # one (whose energy runs to the next sample) are in the file for good.
    committed = [row for row in before if epoch_ms(row["start"]) < last_committed_ms]
    assert len(committed) >= 3

    second = charger_factory(data_dir=data_dir)
    after = second.client.get(
        "/api/v1/meter/history", params={"resolution": "1s", "from": started}
    ).json()["rows"]
    assert after[: len(committed)] == committed
    sessions = second.client.get("/api/v1/sessions").json()
    interrupted = [s for s in sessions if s["end_reason"] == "interrupted"]
    assert len(interrupted) == 1
    assert interrupted[0]["import_wh"] > 0
    assert second.stop() == 0


def test_seconds_into_charging_the_minute_csv_has_the_partial_minute_with_its_energy(
    charger_factory: Factory,
):
    charger = charger_factory("--sim-plug")
    wait_for(charger, lambda s: s["state"] == "C" and s["power_w"] > 0)
    time.sleep(3)  # well inside the sampler's 5 s commit interval
    export = charger.client.get("/api/v1/meter/export.csv", params={"resolution": "1m"})
    header, *minutes = list(csv.reader(io.StringIO(export.text)))
    assert header[-1] == "partial"
    assert minutes, export.text
    assert minutes[-1][-1] == "true"
    assert float(minutes[-1][1]) > 0  # energy_import_wh of the minute in progress
    for _ in range(3):  # a request in the very millisecond of a sample has nothing to add
        history = charger.client.get("/api/v1/meter/history", params={"resolution": "1s"})
        newest = history.json()["rows"][-1]
        if newest["import_wh"] > 0:
            break
        time.sleep(0.3)
    assert newest["partial"] is True
    assert newest["import_wh"] > 0
    # The simulated meter has an export register: the session reports a number.
    [session] = charger.client.get("/api/v1/sessions").json()
    assert session["export_wh"] == 0.0
    assert charger.stop() == 0
