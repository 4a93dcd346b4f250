"""The application's side of the OCPP port: :class:`~ukscp.ocpp.port.ChargerPort` over
the real charger's object graph.

The OCPP package sees the charger only through that narrow port and imports
nothing of the application; this adapter, on the application side, is what
the composition root builds from the parts it already has. How the CSMS's
requests land on the charger:

* RemoteStartTransaction (2.0.1: RequestStartTransaction) charges for the
  session whatever the hours (a boost) and lifts an earlier remote stop, as a
  start caused by the CSMS: the randomised delay applies unless the CSMS
  randomises itself or is a DSR provider, or cancels the delay (its user asked
  to charge now: DataTransfer CancelRandomDelay).
* RemoteStopTransaction (2.0.1: RequestStopTransaction) holds the current at
  0 A with the owner's authority, until the EV is unplugged or the CSMS starts
  charging again.
* Charging profiles become the arbiter's ``ocpp`` slot, where the randomised
  delay's policy judges them by their source.
* The random delay's maximum, its switch and the cancel of a running delay are
  the CSMS's with source ``ocpp`` (regulation 11's remote setting; each lands in
  the security log through the gate's event).
* ChangeAvailability Inoperative holds the current at 0 A in its own slot
  until the CSMS makes the charger Operative again (see :meth:`set_operative`).
"""

from __future__ import annotations

from collections.abc import Callable

from ukscp.events import EventBus, SessionEnded
from ukscp.evse.controller import EvseController
from ukscp.hardware.protocols import EnergyMeter, Meter
from ukscp.limits import Arbiter, Limit, LimitSource
from ukscp.limits.ems import EMS_SLOT
from ukscp.ocpp.port import ChargerSnapshot
from ukscp.regulation.default_mode import DefaultMode
from ukscp.regulation.delay_gate import RandomDelayGate
from ukscp.regulation.dsr import DsrChannel, DsrLimits

OCPP_SLOT = "ocpp"
REMOTE_STOP_SLOT = "ocpp_remote_stop"
AVAILABILITY_SLOT = "ocpp_availability"
OCPP_SOURCE = "ocpp"
# A DSR event's channel -> OCPP 2.0.1 chargingLimitSource; the CSMS's own (ocpp) is not
# an external limit.
EXTERNAL_SOURCE_BY_CHANNEL = {
    DsrChannel.EMS: "EMS",
    DsrChannel.OPENADR: "SO",
    DsrChannel.OTHER: "Other",
}


class AppChargerPort:
    """Implements ``ChargerPort`` over the EVSE controller, meter, gate, arbiter, default mode."""

    def __init__(
        self,
        *,
        controller: EvseController,
        meter: Meter,
        gate: RandomDelayGate,
        arbiter: Arbiter,
        default_mode: DefaultMode,
        dsr: DsrLimits,
        bus: EventBus,
        reset: Callable[[bool], None],
    ) -> None:
        self._controller = controller
        self._meter = meter
        self._registers = meter if isinstance(meter, EnergyMeter) else None
        self._gate = gate
        self._arbiter = arbiter
        self._default_mode = default_mode
        self._dsr = dsr
        self._csms_dsr_event: str | None = None  # the DSR event of this CSMS's profiles
        self._reset = reset
        # A remote stop holds for the session: the next plug-in charges again.
        bus.subscribe(SessionEnded, self._session_ended)

    def _session_ended(self, _: SessionEnded) -> None:
        self._arbiter.clear(REMOTE_STOP_SLOT)

    def snapshot(self) -> ChargerSnapshot:
        """The EVSE's status and the meter's registers."""
        status = self._controller.status()
        registers = self._registers
        return ChargerSnapshot(
            pilot_state=status.state.value,
            ev_connected=status.ev_connected,
            contactor_closed=status.contactor_closed,
            offered_a=status.offered_a,
            phases=status.phases,
            current_a=status.current_a,
            power_w=status.power_w,
            energy_import_wh=registers.energy_import_wh() if registers else 0.0,
            energy_export_wh=registers.energy_export_wh() if registers else 0.0,
            session_id=status.session_id,
        )

    def remote_start(self, id_tag: str, cause: Limit) -> bool:
        """Charge for the session whatever the hours, a start caused by ``cause``."""
        self._arbiter.clear(REMOTE_STOP_SLOT, cause=cause)
        self._default_mode.boost(None, cause=cause)
        return True

    def remote_stop(self) -> bool:
        """Stop charging now, with the owner's authority, until unplug or a remote start."""
        self._default_mode.cancel_boost()
        self._arbiter.set(
            REMOTE_STOP_SLOT,
            Limit(0, LimitSource.OWNER, "stopped remotely by the CSMS on the owner's behalf"),
        )
        return True

    def reset(self, hard: bool) -> None:
        """Hand the reset to the composition root (it stops the process; the service restarts)."""
        self._reset(hard)

    def random_delay_max_s(self) -> int:
        """The gate's maximum delay."""
        return self._gate.settings.max_duration_s

    def set_random_delay_max_s(self, seconds: int) -> None:
        """Set the gate's maximum with source ``ocpp``."""
        self._gate.set_max_duration(seconds, source=OCPP_SOURCE)

    def random_delay_enabled(self) -> bool:
        """Whether the randomised delay is on."""
        return self._gate.settings.enabled

    def set_random_delay_enabled(self, enabled: bool) -> None:
        """Switch the delay on or off with source ``ocpp`` (security-logged by the audit)."""
        if enabled:
            self._gate.enable(source=OCPP_SOURCE)
        else:
            self._gate.disable(source=OCPP_SOURCE)

    def cancel_random_delay(self) -> bool:
        """End the running delay with source ``ocpp``; False when none is running."""
        if not self._gate.status().running:
            return False
        self._gate.cancel(source=OCPP_SOURCE)
        return True

    def set_operative(self, operative: bool) -> None:
        """Out of service: 0 A in the availability slot; back in service: the slot cleared.

        Taking the charger out of service is an operator's stop for this one
        charger, like RemoteStopTransaction above, and is applied the same way:
        at once, with the owner's authority (``LimitSource.OWNER``), which the
        randomised delay's ``by_source`` policy does not delay (policy ``always``
        delays it, as it does the remote stop: EVerest's behaviour). Source
        ``ocpp`` would be wrong here: its row delays every change, because it is
        about one schedule many chargers follow at the same moment; a charger
        that answered Accepted and reports Unavailable must not go on charging
        for up to 30 minutes. (Usually nothing flows then anyway: with a
        transaction running the change is Scheduled for the transaction's end.)

        Putting it back in service is judged as the CSMS's decision (source
        ``ocpp``), not the owner's: a CSMS can put a whole fleet back in service
        in one go, so the start of charging that follows is a relevant time the
        delay applies to, as for any OCPP-driven start (regulation 11).
        """
        if operative:
            self._arbiter.clear(
                AVAILABILITY_SLOT,
                cause=Limit(
                    0, LimitSource.OCPP, "put back in service by the CSMS (ChangeAvailability)"
                ),
            )
        else:
            self._arbiter.set(
                AVAILABILITY_SLOT,
                Limit(
                    0,
                    LimitSource.OWNER,
                    "taken out of service by the CSMS (ChangeAvailability Inoperative)",
                ),
            )

    def external_limits(self) -> dict[str, float]:
        """The energy manager's limit and the DSR events of channels other than the CSMS,
        as applied now (an event the owner opted out of, or overrides, is not)."""
        found: dict[str, float] = {}

        def add(source: str, amps: float) -> None:
            found[source] = min(amps, found.get(source, amps))

        ems = self._arbiter.active().get(EMS_SLOT)
        if ems is not None:
            add("EMS", ems.amps)
        if not self._default_mode.dsr_overridden():
            for event in self._dsr.active_events():
                source = EXTERNAL_SOURCE_BY_CHANNEL.get(event.channel)
                if source is not None and not event.opted_out:
                    add(source, event.amps)
        return found

    def watch_limits(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after any limit is set or cleared; returns what stops it."""
        return self._arbiter.watch_slots(listener)

    def set_ocpp_limit(self, limit: Limit | None) -> None:
        """The limit of the CSMS's charging profiles, or None to lift it.

        A DSR provider's limit (source ``dsr``) is a DSR event, one per profile (its
        reason names it), so the owner sees it and may opt out of it as of any
        other; the event ends when the CSMS's limit goes or stops being DSR.
        """
        if limit is not None and limit.source is LimitSource.DSR:
            event_id = f"ocpp: {limit.reason}"
            if self._csms_dsr_event not in (None, event_id):
                self._dsr.end_event(self._csms_dsr_event)
            self._csms_dsr_event = event_id
            self._arbiter.clear(OCPP_SLOT)
            self._dsr.start_event(event_id, limit.amps, limit.reason, channel=DsrChannel.OCPP)
            return
        if self._csms_dsr_event is not None:
            self._dsr.end_event(self._csms_dsr_event)
            self._csms_dsr_event = None
        if limit is None:
            self._arbiter.clear(OCPP_SLOT)
        else:
            self._arbiter.set(OCPP_SLOT, limit)
