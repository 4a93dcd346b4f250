"""OpenADR 2.0b: the whole charger as a VEN of a real VTN (``openleadr``'s) on 127.0.0.1.

The VTN decides whether an event is under way by the real clock, so the charger's
virtual clock starts at real now; the default hours are removed first, so the
hour the tests run at does not matter. Polls happen on the virtual clock (the VTN
asks for one every 10 s); the HTTP exchanges themselves are real.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openleadr import OpenADRServer

from tests.integration.test_ocpp16_support import eventually, settle_real, until_real
from ukscp.app import App, build_app
from ukscp.clock import VirtualClock
from ukscp.config import Settings
from ukscp.limits import LimitSource

VEN_ID = "ven-ukscp-1"
PATIENCE_S = 60.0  # a cap on real waiting only: a loaded machine is slow, not wrong
POLL = timedelta(seconds=10)

logging.getLogger("openleadr").setLevel(logging.CRITICAL)  # the VTN down: loud by design


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Vtn:
    """A VTN on 127.0.0.1 that registers any VEN and records its answers to events."""

    port: int = field(default_factory=free_port)
    answers: list[tuple[str, str]] = field(default_factory=list)  # (event id, opt type)
    server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/OpenADR2/Simple/2.0b"

    async def start(self) -> None:
        self.server = OpenADRServer(
            vtn_id="TEST_VTN",
            http_host="127.0.0.1",
            http_port=self.port,
            requested_poll_freq=POLL,
            show_server_cert_domain=False,
        )

        async def register(_: dict[str, Any]) -> tuple[str, str]:
            return VEN_ID, "reg-1"

        self.server.add_handler("on_create_party_registration", register)
        # Every oadrCreatedEvent the VEN sends, first answers and later opt changes alike
        # (the package's per-event callbacks hear only the first).
        service = self.server.services["event_service"]
        answer = service.handlers["oadrCreatedEvent"]

        async def recorded(payload: dict[str, Any]) -> Any:
            for response in payload.get("event_responses") or []:
                self.answers.append((response["event_id"], response["opt_type"]))
            return await answer(payload)

        service.handlers["oadrCreatedEvent"] = recorded
        await self.server.run_async()

    async def stop(self) -> None:
        await self.server.stop()

    def event(self, intervals: list[tuple[timedelta, timedelta, float]], **signal: Any) -> str:
        """An event for our VEN: (start from now, duration, payload) intervals."""
        now = datetime.now(UTC)
        return str(
            self.server.add_event(
                ven_id=VEN_ID,
                signal_name=signal.get("name", "SIMPLE"),
                signal_type=signal.get("kind", "level"),
                intervals=[
                    {"dtstart": now + start, "duration": length, "signal_payload": payload}
                    for start, length, payload in intervals
                ],
                callback=lambda ven_id, event_id, opt_type: None,
            )
        )


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def vtn() -> AsyncIterator[Vtn]:
    server = Vtn()
    await server.start()
    yield server
    await server.stop()


def settings(data: Path, vtn: Vtn) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": str(data),
            "dsr": {
                "openadr": {
                    "enabled": True,
                    "vtn_url": vtn.url,
                    "ven_name": "ukscp-test",
                    "allow_plain_http": True,
                }
            },
        }
    )


@dataclass
class Running:
    app: App
    tasks: list[asyncio.Task[None]]

    async def stop(self) -> None:
        self.app.shutdown("test finished")
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.app.close()


async def start(data: Path, clock: VirtualClock, vtn: Vtn, *, plug: bool = True) -> Running:
    app = build_app(settings(data, vtn), clock, draw=lambda maximum: maximum)
    if app.default_mode.first_use_pending:
        app.charger.first_use("remove", None)  # any hour: the test's hour must not matter
    app.start()
    assert app.openadr is not None
    tasks = [
        asyncio.create_task(app.controller.run()),
        asyncio.create_task(app.default_mode.run()),
        asyncio.create_task(app.openadr.run()),
    ]
    if plug and app.sim is not None:
        app.sim.plug()
    return Running(app, tasks)


@pytest.fixture
async def charger(tmp_path: Path, clock: VirtualClock, vtn: Vtn) -> AsyncIterator[Running]:
    running = await start(tmp_path / "data", clock, vtn)
    await until_real(
        lambda: running.app.openadr.registered, clock, timeout_s=PATIENCE_S, what="registration"
    )
    await eventually(
        lambda: running.app.controller.status().offered_a == 32, clock, timeout_s=PATIENCE_S
    )
    yield running
    await running.stop()


async def polled(predicate: Callable[[], bool], clock: VirtualClock, what: str) -> None:
    """Move virtual time a second at a time (the VEN polls every 10 s) until ``predicate``."""
    await eventually(predicate, clock, step_s=1.0, timeout_s=PATIENCE_S, what=what)


def offered(running: Running) -> float:
    return float(running.app.controller.status().offered_a)


async def next_poll(clock: VirtualClock) -> None:
    """Let the VEN poll the VTN (and the exchange finish in real time)."""
    await clock.advance(POLL.total_seconds())
    await settle_real(clock, 0.3)


async def test_an_event_applies_at_once_with_no_delay_and_ends_with_its_last_interval(
    charger: Running, clock: VirtualClock, vtn: Vtn
) -> None:
    event_id = vtn.event([(timedelta(0), timedelta(minutes=10), 2)])  # SIMPLE high: 6 A
    await polled(lambda: bool(vtn.answers), clock, "the event's answer")
    assert vtn.answers == [(event_id, "optIn")]
    await settle_real(clock, 0.1)
    assert offered(charger) == 6.0  # DSR: never delayed
    assert charger.app.arbiter.current.source is LimitSource.DSR
    assert not charger.app.gate.status().running
    [known] = charger.app.dsr.active_events()
    assert (known.event_id, known.channel) == (f"openadr:{event_id}", "openadr")

    await clock.advance(601)
    await settle_real(clock, 0.1)
    assert offered(charger) == 32.0
    assert charger.app.dsr.active_events() == []


async def test_the_owners_opt_out_lifts_the_limit_and_reaches_the_vtn(
    charger: Running, clock: VirtualClock, vtn: Vtn
) -> None:
    event_id = vtn.event([(timedelta(0), timedelta(minutes=30), 3)])  # SIMPLE special: 0 A
    await polled(lambda: offered(charger) == 0.0, clock, "the event")
    charger.app.dsr.opt_out(f"openadr:{event_id}")
    assert offered(charger) == 32.0  # at once: the owner's action
    await until_real(
        lambda: (event_id, "optOut") in vtn.answers, clock, timeout_s=PATIENCE_S, what="optOut"
    )
    await next_poll(clock)
    assert offered(charger) == 32.0  # the choice holds


async def test_an_event_the_charger_cannot_honour_is_answered_opt_out_and_not_applied(
    charger: Running, clock: VirtualClock, vtn: Vtn
) -> None:
    event_id = vtn.event(
        [(timedelta(0), timedelta(minutes=10), 0.21)], name="ELECTRICITY_PRICE", kind="price"
    )
    await polled(lambda: bool(vtn.answers), clock, "the event's answer")
    assert vtn.answers == [(event_id, "optOut")]
    assert offered(charger) == 32.0
    assert charger.app.dsr.known_events() == []


async def test_charging_goes_on_while_the_vtn_is_away_and_events_come_when_it_is_back(
    charger: Running, clock: VirtualClock, vtn: Vtn
) -> None:
    await vtn.stop()
    await next_poll(clock)
    assert not charger.app.openadr.registered
    assert offered(charger) == 32.0
    back = Vtn(port=vtn.port)
    await back.start()
    try:
        event_id = back.event([(timedelta(0), timedelta(minutes=10), 2)])
        await polled(lambda: bool(back.answers), clock, "registered again")
        assert back.answers == [(event_id, "optIn")]
        await settle_real(clock, 0.1)
        assert offered(charger) == 6.0
    finally:
        await back.stop()
        vtn.server = back.server  # the fixture stops it again: harmless


async def test_an_event_still_running_after_a_restart_applies_again(
    tmp_path: Path, clock: VirtualClock, vtn: Vtn
) -> None:
    first = await start(tmp_path / "data", clock, vtn)
    await until_real(
        lambda: first.app.openadr.registered, clock, timeout_s=PATIENCE_S, what="registration"
    )
    vtn.event([(timedelta(0), timedelta(minutes=30), 2)])
    await polled(lambda: offered(first) == 6.0, clock, "the event")
    await first.stop()
    await vtn.stop()  # the VTN is away when the charger comes back

    again = await start(tmp_path / "data", clock, vtn)
    try:
        await eventually(
            lambda: offered(again) == 6.0, clock, timeout_s=PATIENCE_S, what="the kept event"
        )
        assert not again.app.openadr.registered
    finally:
        await again.stop()
        await vtn.start()  # for the fixture's stop


async def test_the_owners_opt_out_holds_across_a_restart(
    tmp_path: Path, clock: VirtualClock, vtn: Vtn
) -> None:
    first = await start(tmp_path / "data", clock, vtn)
    await until_real(
        lambda: first.app.openadr.registered, clock, timeout_s=PATIENCE_S, what="registration"
    )
    event_id = vtn.event([(timedelta(0), timedelta(minutes=30), 2)])
    await polled(lambda: offered(first) == 6.0, clock, "the event")
    first.app.dsr.opt_out(f"openadr:{event_id}")
    await until_real(
        lambda: (event_id, "optOut") in vtn.answers, clock, timeout_s=PATIENCE_S, what="optOut"
    )
    await first.stop()
    await vtn.stop()  # the VTN is away when the charger comes back

    again = await start(tmp_path / "data", clock, vtn)
    try:
        await eventually(lambda: again.app.dsr.active_events() != [], clock, what="kept event")
        [known] = again.app.dsr.active_events()
        assert known.opted_out is True  # known, shown to the owner, not applied
        await eventually(
            lambda: offered(again) == 32.0, clock, timeout_s=PATIENCE_S, what="charging"
        )
    finally:
        await again.stop()
        await vtn.start()  # for the fixture's stop
