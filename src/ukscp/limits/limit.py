"""A limit on charging current and where it came from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class LimitSource(StrEnum):
    """Who imposed a limit. The randomised delay's policy is keyed on this."""

    HARDWARE = "hardware"  # board, cable or contactor rating
    SUPPLY = "supply"  # the premises' supply / fuse
    OCPP = "ocpp"  # a charging profile from the CSMS
    DEFAULT_MODE = "default_mode"  # the off-peak default charging hours
    OWNER = "owner"  # boost, pause or charging hours chosen by the owner
    EMS = "ems"  # a local energy manager, e.g. PV surplus
    DSR = "dsr"  # a demand side response event
    SAFETY = "safety"  # fault, tamper, over-temperature, integrity failure


class DeclaredCause(StrEnum):
    """Why a source says it changed a limit, when only it can know (an energy manager).

    The randomised delay's policy matches it beside the source: it can remove a
    delay (``local``), never add one.
    """

    LOCAL = "local"  # this home's own load, generation or battery: random by nature
    PRICE = "price"  # a tariff or price signal: the synchronised change regulation 11 spreads


@dataclass(frozen=True, slots=True)
class Limit:
    """An upper bound on the current offered to the EV.

    ``amps`` is per phase; 0 means "do not charge". ``phases`` optionally caps
    the number of phases. ``reason`` says why, in words (e.g. the profile id).
    ``randomised`` marks a limit whose source has already applied an equivalent
    random delay (a CSMS that randomises). ``random_delay_max_s`` is a source's
    request that the charger itself delay the change by a random time up to that
    many seconds (OCPP 2.1 ``randomizedDelay``): the randomised delay then draws
    up to it instead of its own maximum. ``declared`` is the cause a source
    declares for its change (an energy manager's ``local`` or ``price``).
    """

    amps: float
    source: LimitSource
    reason: str = ""
    phases: int | None = None
    randomised: bool = False
    random_delay_max_s: int | None = None
    declared: DeclaredCause | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.amps) or self.amps < 0:
            raise ValueError(f"limit amps must be a finite number >= 0, got {self.amps!r}")
        if self.phases is not None and self.phases not in (1, 3):
            raise ValueError(f"limit phases must be 1 or 3, got {self.phases!r}")
        if self.random_delay_max_s is not None and self.random_delay_max_s < 0:
            raise ValueError(f"random_delay_max_s must be >= 0, got {self.random_delay_max_s!r}")
