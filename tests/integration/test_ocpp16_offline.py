"""Regulation 7 over OCPP: the charger charges without its CSMS and tells it everything later.

These run the real charger (``build_app`` on the virtual clock, the simulated
EV) with the OCPP client wired in as the composition root would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call_result

from tests.integration.test_ocpp16_support import (
    CentralSystemCp,
    CsmsServer,
    Received,
    eventually,
    start_real_charger,
    until_real,
)
from ukscp.clock import VirtualClock


def transaction_messages(received: list[Received]) -> list[tuple[str, int | None, str]]:
    """(action, transaction id, timestamp) of the transaction messages, in arrival order."""
    out: list[tuple[str, int | None, str]] = []
    for r in received:
        if r.action == "StartTransaction":
            out.append((r.action, None, r.payload["timestamp"]))
        elif r.action == "StopTransaction":
            out.append((r.action, r.payload["transaction_id"], r.payload["timestamp"]))
        elif r.action == "MeterValues" and "transaction_id" in r.payload:
            out.append(
                (r.action, r.payload["transaction_id"], r.payload["meter_value"][0]["timestamp"])
            )
    return out


async def test_charging_goes_on_without_the_csms_and_the_queue_arrives_once_in_order(
    tmp_path: Path, clock: VirtualClock
) -> None:
    csms = CsmsServer()
    await csms.start()
    charger = start_real_charger(tmp_path / "data", clock, csms.url, sample_interval_s=10)
    try:
        await eventually(lambda: charger.client.online, clock, what="registration")
        assert charger.app.sim is not None
        charger.app.sim.plug()
        await eventually(lambda: charger.client.transaction_id() == 101, clock)
        # The CSMS dies between two exchanges: every message it received was
        # answered (one cut in the middle is the tests below).
        await eventually(
            lambda: len(csms.of("MeterValues")) >= 2 and len(charger.client.queue) == 0,
            clock,
            step_s=1,
        )

        await csms.kill()  # the CSMS dies mid-session: no closing handshake
        # Virtual time stands still until the charger knows it is offline.
        await until_real(lambda: not charger.client.online, clock, what="disconnection")
        energy_before = charger.app.controller.status().session_energy_wh
        for _ in range(120):
            await clock.advance(1)
        status = charger.app.controller.status()
        assert status.power_w > 0  # still charging
        assert status.session_energy_wh > energy_before
        charger.app.sim.unplug()
        await eventually(lambda: charger.client.transaction is None, clock)
        queued = charger.client.queue.pending()
        assert [m.action for m in queued][-1] == "StopTransaction"
        offline_meter_values = sum(1 for m in queued if m.action == "MeterValues")
        assert offline_meter_values >= 10

        await csms.start()  # back, on the same address
        await eventually(lambda: "StopTransaction" in csms.actions(), clock, what="the stop")
        await eventually(lambda: len(charger.client.queue) == 0, clock)
    finally:
        await charger.stop()
        await csms.stop()

    after = [r for r in csms.received if r.connection == 2]
    assert sum(1 for r in after if r.action == "MeterValues") == offline_meter_values
    sequence = transaction_messages(csms.received)
    assert [a for a, _, _ in sequence].count("StartTransaction") == 1
    assert sequence[-1][:2] == ("StopTransaction", 101)
    assert all(tx == 101 for a, tx, _ in sequence if a != "StartTransaction")
    stamps = [stamp for _, _, stamp in sequence]
    assert stamps == sorted(stamps)  # in order
    assert len(set(stamps[1:-1])) == len(stamps) - 2  # each sample exactly once
    stop = csms.of("StopTransaction")[0]
    assert stop["reason"] == "EVDisconnected"
    assert stop["meter_stop"] > csms.of("StartTransaction")[0]["meter_start"]


async def test_a_restart_while_offline_loses_nothing(tmp_path: Path, clock: VirtualClock) -> None:
    data = tmp_path / "data"
    csms = CsmsServer()
    await csms.start()
    await csms.stop()  # the address is known; the CSMS is down from the start

    first = start_real_charger(data, clock, csms.url, sample_interval_s=10)
    try:
        assert first.app.sim is not None
        first.app.sim.plug()
        for _ in range(60):
            await clock.advance(1)
        assert first.client.transaction is not None
    finally:
        await first.stop()  # SIGTERM while offline, the EV still plugged in

    second = start_real_charger(data, clock, csms.url, sample_interval_s=10)
    try:
        await eventually(
            lambda: second.client.transaction is not None, clock, what="restored session"
        )
        pending = [m.action for m in second.client.queue.pending()]
        assert pending.count("StartTransaction") == 2
        assert pending.count("StopTransaction") == 1
        assert pending.count("MeterValues") >= 5

        await csms.start()
        await eventually(lambda: len(csms.of("StartTransaction")) == 2, clock, what="both starts")
        await eventually(lambda: len(second.client.queue) == 0, clock)
    finally:
        await second.stop()
        await csms.stop()

    sequence = transaction_messages(csms.received)
    actions = [a for a, _, _ in sequence]
    first_stop = actions.index("StopTransaction")
    assert actions[0] == "StartTransaction"
    assert set(actions[1:first_stop]) == {"MeterValues"}
    assert sequence[first_stop][1] == 101
    assert all(tx == 101 for _, tx, _ in sequence[1 : first_stop + 1])
    assert actions[first_stop + 1] == "StartTransaction"
    assert csms.of("StopTransaction")[0]["reason"] == "Reboot"
    stamps = [stamp for a, _, stamp in sequence[: first_stop + 1] if a == "MeterValues"]
    assert len(stamps) == len(set(stamps)) >= 5
    startups = [
        e for e in csms.of("SecurityEventNotification") if e["type"] == "StartupOfTheDevice"
    ]
    assert len(startups) == 2  # one per start, each once


ANSWERED_CUTS = 16
"""How often the CSMS below dies: the race it provokes is lost only now and then."""


class AnswersThenDies(CentralSystemCp):
    """A CSMS that answers a MeterValues and dies at once, its answer on the wire.

    It does so on each of its first :data:`ANSWERED_CUTS` connections.
    """

    @after("MeterValues")
    def die_after_answering(self, **_: Any) -> None:
        if self.number <= ANSWERED_CUTS:
            self._connection.transport.abort()


class DiesBeforeAnswering(CentralSystemCp):
    """A CSMS that receives the first MeterValues and dies before answering it."""

    @on("MeterValues")
    def on_meter_values(self, **payload: Any) -> Any:
        self._record("MeterValues", payload)
        if self.number == 1:
            self._connection.transport.abort()
        return call_result.MeterValues()


async def sample_stamps_after_cuts(
    tmp_path: Path, clock: VirtualClock, cp_class: type[CentralSystemCp], cuts: int
) -> list[tuple[int, str]]:
    """(connection, timestamp) of each MeterValues of a session in which the CSMS cut
    ``cuts`` sample exchanges off; the charger reconnects each time to the same CSMS."""
    csms = CsmsServer(cp_class=cp_class)
    await csms.start()
    charger = start_real_charger(tmp_path / "data", clock, csms.url, sample_interval_s=10)
    try:
        await eventually(lambda: charger.client.online, clock, what="registration")
        assert charger.app.sim is not None
        charger.app.sim.plug()
        await eventually(
            lambda: csms.connection_count == cuts + 1, clock, what="the reconnections"
        )
        await eventually(lambda: len(csms.of("MeterValues")) >= cuts + 3, clock, step_s=1)
        charger.app.sim.unplug()
        await eventually(lambda: "StopTransaction" in csms.actions(), clock, what="the stop")
        await eventually(lambda: len(charger.client.queue) == 0, clock, what="the queue")
    finally:
        await charger.stop()
        await csms.stop()
    return [
        (r.connection, r.payload["meter_value"][0]["timestamp"])
        for r in csms.received
        if r.action == "MeterValues"
    ]


async def test_a_message_the_csms_answered_is_not_sent_again_when_the_link_then_drops(
    tmp_path: Path, clock: VirtualClock
) -> None:
    stamps = await sample_stamps_after_cuts(tmp_path, clock, AnswersThenDies, ANSWERED_CUTS)
    assert [connection for connection, _ in stamps[:ANSWERED_CUTS]] == list(
        range(1, ANSWERED_CUTS + 1)
    )
    assert len({stamp for _, stamp in stamps}) == len(stamps)  # answered: delivered once


async def test_a_message_the_csms_never_answered_is_sent_again(
    tmp_path: Path, clock: VirtualClock
) -> None:
    """OCPP-J: no answer, no delivery. The CSMS may see it twice (it must tell by content)."""
    stamps = await sample_stamps_after_cuts(tmp_path, clock, DiesBeforeAnswering, 1)
    first_connection, first_stamp = stamps[0]
    assert first_connection == 1
    assert stamps[1] == (2, first_stamp)  # the same sample, first after the reconnection
    assert len({stamp for _, stamp in stamps}) == len(stamps) - 1
