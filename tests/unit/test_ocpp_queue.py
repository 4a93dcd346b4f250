"""The persistent OCPP message queue: order, acknowledgement, ids, restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ukscp.ocpp.queue import MessageQueue


@pytest.fixture
def queue(tmp_path: Path) -> MessageQueue:
    return MessageQueue(tmp_path / "queue.sqlite3")


def test_messages_come_out_oldest_first_and_leave_only_when_acknowledged(
    queue: MessageQueue,
) -> None:
    first = queue.put("StartTransaction", {"id_tag": "a"}, tx_ref="t1")
    second = queue.put("MeterValues", {"connector_id": 1}, tx_ref="t1")
    head = queue.peek()
    assert head is not None and head.id == first and head.payload == {"id_tag": "a"}
    assert queue.peek() == head  # peeking does not remove
    queue.ack(first, transaction_id=7)
    head = queue.peek()
    assert head is not None and head.id == second
    queue.ack(second)
    assert queue.peek() is None
    assert len(queue) == 0


def test_the_start_acknowledgement_maps_the_local_reference_to_the_csms_id(
    queue: MessageQueue,
) -> None:
    start = queue.put("StartTransaction", {}, tx_ref="local-1")
    queue.put("StopTransaction", {"meter_stop": 5}, tx_ref="local-1")
    assert queue.transaction_id("local-1") is None
    assert queue.has_start("local-1")
    queue.ack(start, transaction_id=4242)
    assert queue.transaction_id("local-1") == 4242
    assert not queue.has_start("local-1")
    queue.forget_transaction("local-1")  # the stop still waits: the mapping stays
    assert queue.transaction_id("local-1") == 4242


def test_a_transaction_id_needs_a_transaction_reference(queue: MessageQueue) -> None:
    message = queue.put("MeterValues", {})
    with pytest.raises(ValueError, match="no transaction reference"):
        queue.ack(message, transaction_id=1)
    assert len(queue) == 1  # rolled back: still there


def test_the_queue_and_its_ids_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    queue = MessageQueue(path)
    start = queue.put("StartTransaction", {"meter_start": 1}, tx_ref="t")
    queue.put("MeterValues", {"n": 1}, tx_ref="t")
    queue.ack(start, transaction_id=9)
    queue.close()
    reopened = MessageQueue(path)
    assert [(m.action, m.payload) for m in reopened.pending()] == [("MeterValues", {"n": 1})]
    assert reopened.transaction_id("t") == 9
    reopened.close()


def test_refusals_are_counted_per_message(queue: MessageQueue) -> None:
    message = queue.put("StopTransaction", {}, tx_ref="t")
    assert queue.fail(message) == 1
    assert queue.fail(message) == 2
    head = queue.peek()
    assert head is not None and head.attempts == 2
    queue.drop(message)
    assert queue.fail(message) == 0


def test_discarding_a_left_back_ends_messages_keeps_the_security_log_cursor(
    queue: MessageQueue,
) -> None:
    start = queue.put("StartTransaction", {}, tx_ref="local-1")
    queue.put("MeterValues", {}, tx_ref="local-1")
    queue.ack(start, transaction_id=9)
    queue.put_security_events([(4, "SecurityEventNotification", {"type": "A"})])
    assert queue.discard_all() == 2
    assert queue.peek() is None
    assert queue.transaction_id("local-1") is None
    # Events the old back end was sent or owed are not replayed to the next one.
    assert queue.seclog_cursor() == 4
    assert queue.put_security_events([(4, "SecurityEventNotification", {"type": "A"})]) == []


def test_security_events_are_queued_once_each_even_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    queue = MessageQueue(path)
    events = [
        (3, "SecurityEventNotification", {"type": "A"}),
        (5, "SecurityEventNotification", {"type": "B"}),
    ]
    assert len(queue.put_security_events(events)) == 2
    assert queue.put_security_events(events) == []
    assert queue.seclog_cursor() == 5
    head = queue.peek()
    assert head is not None and head.seclog_id == 3
    queue.ack(head.id)  # delivered and gone: still never queued again
    queue.close()
    reopened = MessageQueue(path)
    assert reopened.put_security_events(events) == []
    assert [m.seclog_id for m in reopened.pending()] == [5]
    reopened.close()


def test_only_the_oldest_meter_values_give_way_when_the_queue_is_full(tmp_path: Path) -> None:
    queue = MessageQueue(tmp_path / "queue.sqlite3", max_meter_values=3)
    queue.put("StartTransaction", {}, tx_ref="t")
    for n in range(5):
        queue.put("MeterValues", {"n": n}, tx_ref="t")
    queue.put("StopTransaction", {}, tx_ref="t")
    pending = queue.pending()
    assert [m.action for m in pending] == [
        "StartTransaction",
        "MeterValues",
        "MeterValues",
        "MeterValues",
        "StopTransaction",
    ]
    assert [m.payload.get("n") for m in pending[1:4]] == [2, 3, 4]
    queue.close()


def test_periodic_transaction_updates_give_way_but_other_updates_never_do(
    tmp_path: Path,
) -> None:
    # OCPP 2.0.1: samples travel as TransactionEvent(Updated) with triggerReason
    # MeterValuePeriodic; a charging-state change in the same message kind must stay.
    queue = MessageQueue(tmp_path / "queue.sqlite3", max_meter_values=2)
    queue.put("TransactionEvent", {"seq": 0, "type": "Started"}, tx_ref="t")
    queue.put("TransactionEvent", {"seq": 1, "type": "Updated"}, tx_ref="t")  # a change
    for seq in range(2, 6):
        queue.put("TransactionEvent", {"seq": seq}, tx_ref="t", sheddable=True)
    queue.put("MeterValues", {"seq": 6})  # aligned values share the cap
    assert [m.payload["seq"] for m in queue.pending()] == [0, 1, 5, 6]
    queue.close()


def test_a_queue_from_before_sheddable_keeps_every_message_and_marks_its_samples(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, payload TEXT NOT NULL,
            tx_ref TEXT, seclog_id INTEGER, attempts INTEGER NOT NULL DEFAULT 0);
        INSERT INTO messages (action, payload) VALUES ('StartTransaction', '{"n": 0}');
        INSERT INTO messages (action, payload) VALUES ('MeterValues', '{"n": 1}');
        INSERT INTO messages (action, payload) VALUES ('MeterValues', '{"n": 2}');
        """
    )
    old.commit()
    old.close()
    queue = MessageQueue(path, max_meter_values=2)
    assert [m.payload["n"] for m in queue.pending()] == [0, 1, 2]
    queue.put("MeterValues", {"n": 3})
    assert [m.payload["n"] for m in queue.pending()] == [0, 2, 3]
    queue.close()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["put", "ack"]), max_size=40))
def test_delivery_order_is_insertion_order(
    tmp_path_factory: pytest.TempPathFactory, ops: list[str]
) -> None:
    queue = MessageQueue(tmp_path_factory.mktemp("q") / "queue.sqlite3")
    put: list[int] = []
    delivered: list[int] = []
    counter = 0
    for op in ops:
        if op == "put":
            queue.put("MeterValues", {"n": counter})
            put.append(counter)
            counter += 1
        else:
            head = queue.peek()
            if head is not None:
                delivered.append(head.payload["n"])
                queue.ack(head.id)
    while (head := queue.peek()) is not None:
        delivered.append(head.payload["n"])
        queue.ack(head.id)
    assert delivered == put
    queue.close()
