"""The randomised delay as the CSMS runs it (regulation 11), for either version.

Its maximum (1.6 ``UkRandomDelayMaxDuration``, 2.0.1 ``UkRandomDelayCtrlr.MaxDuration``:
whole seconds, 0 to 1800) and its switch (1.6 ``UkRandomDelayEnabled``, 2.0.1
``UkRandomDelayCtrlr.Enabled``: ``true`` or ``false``, OCPP's boolean words, in any
case). Each change reaches the gate with source ``ocpp``, and the security log
through the gate's event.
"""

from __future__ import annotations

from collections.abc import Callable

from ukscp.ocpp.port import ChargerPort

RANDOM_DELAY_MAX_S = 1800
"""The most a CSMS may set the randomised delay's maximum to (regulation 11)."""


def enabled_text(port: ChargerPort) -> str:
    """The switch as OCPP writes a boolean."""
    return "true" if port.random_delay_enabled() else "false"


def enabled_setter(port: ChargerPort) -> Callable[[str], str]:
    """A setting's writer for the switch: ``true`` or ``false`` -> Accepted, else Rejected."""

    def set_enabled(value: str) -> str:
        word = value.strip().lower()
        if word not in ("true", "false"):
            return "Rejected"
        port.set_random_delay_enabled(word == "true")
        return "Accepted"

    return set_enabled


def remote_setter(port: ChargerPort) -> Callable[[str], str]:
    """A setting's writer: the value as the CSMS sent it -> Accepted or Rejected."""

    def set_maximum(value: str) -> str:
        try:
            seconds = int(value.strip())
        except ValueError:
            return "Rejected"
        if not 0 <= seconds <= RANDOM_DELAY_MAX_S:
            return "Rejected"
        try:
            port.set_random_delay_max_s(seconds)
        except ValueError:
            return "Rejected"
        return "Accepted"

    return set_maximum
