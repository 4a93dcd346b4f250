"""The OpenADR 2.0b VEN: a grid operator's events as DSR events, on the charger's clock.

The ``openleadr`` package speaks the protocol (XML, schemas, signatures); this
shell decides when: it registers with the VTN (again, with backoff, whenever
the VTN was away: charging goes on without DSR meanwhile), polls at the
frequency the VTN asked for, and applies each event's windows
(:mod:`.signals`) at their boundaries as a DSR event (``openadr:<event id>``,
source ``dsr``: never delayed). It answers optIn, or optOut when the event asks
what the charger cannot do (logged, nothing applied) or the owner opted out;
the owner's opt-out of a running event is sent to the VTN at once
(oadrCreatedEvent with optOut). Events are kept in the settings store, so an
event still running after a restart applies again (as the owner chose).

The package's own ``run()`` is not used: it polls on a real-time scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from ukscp.clock import Alarm, Clock
from ukscp.integrations.openadr.signals import Supply, Unsupported, Window, amps_at, windows
from ukscp.regulation.dsr import DsrChannel, DsrEvent, DsrLimits
from ukscp.settings_store import SettingsStore

_log = logging.getLogger(__name__)

CHANNEL = DsrChannel.OPENADR
STORE_KEY = "openadr.events"
DEFAULT_POLL_S = 60.0
RETRY_S = (5.0, 300.0)  # backoff after the VTN failed to answer: first, at most
OPT_IN = "optIn"
OPT_OUT = "optOut"


class VenClient(Protocol):
    """What the VEN uses of ``openleadr.OpenADRClient``."""

    ven_id: str | None
    registration_id: str | None
    poll_frequency: timedelta | None

    async def query_registration(self) -> Any:
        """oadrQueryRegistration."""
        ...

    async def create_party_registration(self, *, ven_id: str | None = None) -> Any:
        """oadrCreatePartyRegistration; sets ven_id, registration_id, poll_frequency."""
        ...

    async def poll(self) -> Any:
        """oadrPoll: ``(message type, payload)``."""
        ...

    async def created_event(
        self, request_id: str, event_id: str, opt_type: str, modification_number: int = 0
    ) -> Any:
        """oadrCreatedEvent for one event."""
        ...

    async def stop(self) -> None:
        """Close the HTTP session."""
        ...


@dataclass(frozen=True, slots=True)
class KnownEvent:
    """An event of the VTN's that the charger took, with what it needs to answer it later."""

    event_id: str
    modification_number: int
    request_id: str
    windows: tuple[Window, ...]
    opted_out: bool = False

    @property
    def ends(self) -> datetime:
        """When its last window ends."""
        return max(window.end for window in self.windows)

    def to_json(self) -> dict[str, Any]:
        """As stored."""
        return {
            "event_id": self.event_id,
            "modification_number": self.modification_number,
            "request_id": self.request_id,
            "opted_out": self.opted_out,
            "windows": [
                [w.start.isoformat(), w.end.isoformat(), w.amps] for w in self.windows
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KnownEvent:
        """From :meth:`to_json`."""
        return cls(
            event_id=str(data["event_id"]),
            modification_number=int(data["modification_number"]),
            request_id=str(data["request_id"]),
            opted_out=bool(data.get("opted_out", False)),
            windows=tuple(
                Window(
                    datetime.fromisoformat(start),
                    datetime.fromisoformat(end),
                    None if amps is None else float(amps),
                )
                for start, end, amps in data["windows"]
            ),
        )


class OpenAdrVen:
    """The charger's VEN; see the module docstring. ``await run()`` until cancelled."""

    def __init__(
        self,
        *,
        client: VenClient,
        on_event_handler: Callable[[Callable[[dict[str, Any]], str]], None],
        handle_distribution: Callable[[dict[str, Any]], Awaitable[None]],
        dsr: DsrLimits,
        clock: Clock,
        store: SettingsStore,
        supply: Supply,
    ) -> None:
        self._client = client
        self._handle_distribution = handle_distribution
        self._dsr = dsr
        self._clock = clock
        self._store = store
        self._supply = supply
        self._alarm = Alarm(clock)
        self._registered = False
        self._failures = 0
        self._request_id = ""  # of the distribution being answered
        self._events: dict[str, KnownEvent] = self._load()
        self._tasks: set[asyncio.Task[None]] = set()
        on_event_handler(self._on_event)
        dsr.on_opt_out(CHANNEL, self._owner_opted_out)

    @property
    def registered(self) -> bool:
        """Registered with the VTN now."""
        return self._registered

    async def run(self) -> None:
        """Apply the events kept, then register, poll and apply until cancelled."""
        try:
            self._apply()
            while True:
                wait = await self._exchange()
                self._apply()
                await self._alarm.sleep(min(wait, self._until_next_boundary()))
        finally:
            for task in self._tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await self._client.stop()

    # -- the VTN ------------------------------------------------------------------------

    async def _exchange(self) -> float:
        """Register if need be, then poll once; seconds until the next poll."""
        try:
            if not self._registered:
                await self._register()
            answer = await self._client.poll()
            if not answer or answer[0] is None:
                raise ConnectionError("the VTN did not answer the poll")
            kind, payload = answer
            if kind == "oadrRequestReregistration":
                self._registered = False
            elif kind == "oadrDistributeEvent" and payload.get("events"):
                self._request_id = str(payload.get("request_id") or "")
                await self._handle_distribution(payload)
        except Exception as exc:  # the package logs the details; one line of ours a failure
            self._registered = False
            self._failures += 1
            delay: float = min(RETRY_S[0] * 2.0 ** (self._failures - 1), RETRY_S[1])
            if self._failures == 1:
                _log.warning("OpenADR: the VTN is not reachable (%s); DSR waits for it", exc)
            return delay
        if self._failures:
            _log.info("OpenADR: the VTN answers again")
        self._failures = 0
        frequency = self._client.poll_frequency
        return float(frequency.total_seconds()) if frequency else DEFAULT_POLL_S

    async def _register(self) -> None:
        await self._client.query_registration()
        await self._client.create_party_registration(ven_id=self._client.ven_id)
        if not self._client.registration_id:
            raise ConnectionError("the VTN did not register this VEN")
        self._registered = True
        _log.info("OpenADR: registered with the VTN as %s", self._client.ven_id)

    def _on_event(self, event: dict[str, Any]) -> str:
        """The package's on_event and on_update_event: optIn or optOut, the event taken."""
        descriptor = event["event_descriptor"]
        event_id = str(descriptor["event_id"])
        if str(descriptor.get("event_status", "")) == "cancelled":
            self._forget(event_id)
            return OPT_IN
        try:
            taken = windows(event, self._supply)
        except (Unsupported, KeyError, TypeError, ValueError) as exc:
            _log.warning("OpenADR: event %s answered optOut, not honoured: %s", event_id, exc)
            self._forget(event_id)
            return OPT_OUT
        known = self._events.get(event_id)
        opted_out = known is not None and known.opted_out
        self._events[event_id] = KnownEvent(
            event_id,
            int(descriptor.get("modification_number", 0)),
            self._request_id,
            tuple(taken),
            opted_out,
        )
        self._save()
        self._apply()
        self._alarm.wake()
        return OPT_OUT if opted_out else OPT_IN

    def _owner_opted_out(self, event: DsrEvent) -> None:
        event_id = event.event_id.removeprefix(f"{CHANNEL}:")
        known = self._events.get(event_id)
        if known is None:
            return
        self._events[event_id] = replace(known, opted_out=True)
        self._save()
        task = asyncio.get_running_loop().create_task(self._send_opt_out(self._events[event_id]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_opt_out(self, event: KnownEvent) -> None:
        try:
            await self._client.created_event(
                event.request_id, event.event_id, OPT_OUT, event.modification_number
            )
        except Exception as exc:  # told again, as optOut, when the VTN sends the event again
            _log.warning("OpenADR: the opt-out of %s not delivered: %s", event.event_id, exc)

    # -- the events -----------------------------------------------------------------------

    def _apply(self) -> None:
        """Each event's limit now; events over are ended and forgotten."""
        now = self._clock.now()
        for event in list(self._events.values()):
            dsr_id = f"{CHANNEL}:{event.event_id}"
            if now >= event.ends:
                self._forget(event.event_id)
                continue
            if not any(window.start <= now for window in event.windows):
                continue  # not begun
            amps = amps_at(event.windows, now)
            # A window with no limit (SIMPLE level 0) keeps the event, and the owner's
            # choice, in force at the charger's maximum.
            self._dsr.start_event(
                dsr_id,
                self._supply.max_current_a if amps is None else amps,
                "OpenADR event from the VTN",
                channel=CHANNEL,
                until=event.ends,
                opted_out=event.opted_out,
            )

    def _forget(self, event_id: str) -> None:
        if self._events.pop(event_id, None) is not None:
            self._save()
        self._dsr.end_event(f"{CHANNEL}:{event_id}")

    def _until_next_boundary(self) -> float:
        now = self._clock.now()
        edges = [
            edge
            for event in self._events.values()
            for window in event.windows
            for edge in (window.start, window.end)
            if edge > now
        ]
        return max(0.0, (min(edges) - now).total_seconds()) if edges else DEFAULT_POLL_S

    def _load(self) -> dict[str, KnownEvent]:
        raw = self._store.get(STORE_KEY) or []
        events = {}
        for item in raw if isinstance(raw, list) else []:
            try:
                event = KnownEvent.from_json(item)
            except (KeyError, TypeError, ValueError) as exc:
                _log.warning("OpenADR: a kept event could not be read, dropped: %s", exc)
                continue
            events[event.event_id] = event
        return events

    def _save(self) -> None:
        self._store.set(STORE_KEY, [event.to_json() for event in self._events.values()])


def make_client(
    *, ven_name: str, vtn_url: str, cert_file: str | None, key_file: str | None
) -> tuple[Any, Callable[[Callable[[dict[str, Any]], str]], None], Callable[..., Any]]:
    """An ``openleadr`` client, how to set its event handler, and its event handling."""
    from openleadr import OpenADRClient  # type: ignore[import-untyped]  # loaded when enabled

    client = OpenADRClient(
        ven_name=ven_name,
        vtn_url=vtn_url,
        cert=cert_file,
        key=key_file,
        show_fingerprint=False,
    )

    def set_handler(handler: Callable[[dict[str, Any]], str]) -> None:
        client.add_handler("on_event", handler)
        client.add_handler("on_update_event", handler)

    # The package's handling of an oadrDistributeEvent: our handler per event, then its
    # oadrCreatedEvent with the answers (what its own run() does).
    return client, set_handler, client._on_event
