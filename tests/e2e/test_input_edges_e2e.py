"""Input edges of the JSON API on the real process: refused in words (4xx), never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningCharger, start_charger

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def charger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCharger]:
    running = start_charger(Path(tmp_path_factory.mktemp("edges")) / "data")
    yield running
    running.client.close()
    if running.process.poll() is None:
        running.stop()


def refused(response, field: str | None = None) -> str:
    """The error in words of a 422 answer (naming ``field`` when given)."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    if field is not None:
        assert field in [problem["field"] for problem in body["detail"]]
    return body["error"]


def test_a_security_log_page_beyond_sqlites_integers_is_a_422(charger: RunningCharger):
    answer = charger.client.get("/api/v1/security-log", params={"before_id": 2**63})
    refused(answer, "query.before_id")
    assert charger.client.get("/api/v1/security-log").status_code == 200


@pytest.mark.parametrize("amps", [True, "7.5"])
def test_an_ems_limit_that_is_not_a_json_number_is_refused(charger: RunningCharger, amps):
    refused(charger.client.post("/api/v1/limits/ems", json={"amps": amps}), "amps")
    assert charger.client.get("/api/v1/status").json()["limit"]["source"] != "ems"


@pytest.mark.parametrize("path", ["/api/v1/boost", "/api/v1/dsr/override"])
@pytest.mark.parametrize("until", ["9999-12-31T00:00:00+00:00", "far", "past"])
def test_an_override_until_far_ahead_or_past_is_refused(
    charger: RunningCharger, path: str, until: str
):
    now = datetime.now(UTC)
    until = {"far": (now + timedelta(days=8)).isoformat(),
             "past": (now - timedelta(minutes=1)).isoformat()}.get(until, until)
    error = refused(charger.client.post(path, json={"until": until}))
    assert "until" in error
    schedule = charger.client.get("/api/v1/schedule").json()
    assert schedule["boost"] is None and schedule["dsr_override"] is None


def test_an_override_until_tomorrow_is_taken(charger: RunningCharger):
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    answer = charger.client.post("/api/v1/boost", json={"until": until})
    assert answer.status_code == 200, answer.text
    assert charger.client.delete("/api/v1/boost").status_code == 200
