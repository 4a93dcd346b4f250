"""The measuring system of the real process survives a hard kill."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import RunningCharger
from tests.e2e.test_run import wait_for

pytestmark = pytest.mark.e2e

Factory = Callable[..., RunningCharger]


def test_a_killed_charger_keeps_every_committed_sample_and_its_session(
    charger_factory: Factory, tmp_path
):
    data_dir = tmp_path / "data"
    first = charger_factory("--sim-plug", data_dir=data_dir)
    started = wait_for(first, lambda s: s["state"] == "C" and s["power_w"] > 0)["time"]
    time.sleep(7)  # past the sampler's 5 s commit interval
    before = first.client.get(
        "/api/v1/meter/history", params={"resolution": "1s", "from": started}
    ).json()["rows"]
    assert len(before) >= 3
    first.stop(signal.SIGKILL)

    with sqlite3.connect(data_dir / "metering.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    second = charger_factory(data_dir=data_dir)
    after = second.client.get(
        "/api/v1/meter/history", params={"resolution": "1s", "from": started}
    ).json()["rows"]
    assert after[: len(before)] == before
    sessions = second.client.get("/api/v1/sessions").json()
    interrupted = [s for s in sessions if s["end_reason"] == "interrupted"]
    assert len(interrupted) == 1
    assert interrupted[0]["import_wh"] > 0
    assert second.stop() == 0
