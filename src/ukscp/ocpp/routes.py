"""Route tables: which handler answers each request from the CSMS.

Each functional block (smart charging, availability, logs, ...) gives one table
per OCPP version: :class:`Route` entries naming an action, the handler that
answers it and, if need be, the work to start once the answer has been sent.
A version's charge point is the sum of its blocks' tables (:func:`join`); the
router (:mod:`ukscp.ocpp.router`) checks each request against the version's
schema and hands its handler a :class:`Call`.

A handler never awaits a call to the CSMS: the receive loop that would deliver
that call's answer is the one running the handler. Work that must talk back
(a report, an upload, a reset) starts in the route's ``after``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Call:
    """One request from the CSMS, its payload already checked against the version's schema."""

    action: str
    wire: Mapping[str, Any]
    """The payload as on the wire: OCPP's own (camelCase) names, plain JSON values."""
    args: Mapping[str, Any]
    """The same payload with snake_case names, as the ``ocpp`` library's messages spell them."""


Result = Callable[..., Any]
"""A version's ``call_result`` builder: ``result(action, **snake_case_fields)``."""
Answer = Callable[[Call], Any]
"""Answers a call with the version's ``call_result`` message."""
Followup = Callable[[Call], None]
"""Starts the work an answered call asked for (must not block)."""


@dataclass(frozen=True, slots=True)
class Route:
    """How one action is answered."""

    action: str
    answer: Answer
    after: Followup | None = None


def join(*tables: Iterable[Route]) -> dict[str, Route]:
    """One version's routes from its blocks' tables; ValueError if two answer one action."""
    routes: dict[str, Route] = {}
    for table in tables:
        for route in table:
            if route.action in routes:
                raise ValueError(f"two routes answer {route.action}")
            routes[route.action] = route
    return routes


def evse_of(args: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``(evse id, connector id)`` of a 2.0.1 request's optional ``evse`` field."""
    evse = args.get("evse") or {}
    return evse.get("id"), evse.get("connector_id")


__all__ = ["Answer", "Call", "Followup", "Result", "Route", "evse_of", "join"]
