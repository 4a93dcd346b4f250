"""The randomised delay's maximum as the CSMS sets it (regulation 11), for either version.

1.6 names it ``UkRandomDelayMaxDuration``, 2.0.1 a variable of its own; both
take whole seconds, 0 to 1800.
"""

from __future__ import annotations

from collections.abc import Callable

from ukscp.ocpp.port import ChargerPort

RANDOM_DELAY_MAX_S = 1800
"""The most a CSMS may set the randomised delay's maximum to (regulation 11)."""


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
