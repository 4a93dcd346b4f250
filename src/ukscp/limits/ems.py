"""A local energy manager's limit, and the cause it declares for it.

Only the energy manager knows why it moves the current: following this home's
PV surplus, house load or battery is random by nature; following a national
tariff (an Agile-style price step at 17:00) is exactly the synchronised change
regulation 11 spreads. So it says which (DESIGN section 7: ``POST /limits/ems``
``{"amps", "cause"}``), and a limit that does not say is delayed: the charger
cannot know, and stays compliant.
"""

from __future__ import annotations

from enum import StrEnum

from ukscp.limits.limit import DeclaredCause, Limit, LimitSource


class EmsCause(StrEnum):
    """The causes an energy manager may declare."""

    LOCAL = "local"  # PV surplus, house load, battery: no delay
    PRICE = "price"  # a tariff or price signal: delayed
    DSR = "dsr"  # a demand side response event it relays: never delayed
    RANDOMISED = "randomised"  # it randomised the change already: no second delay


ENERGY_MANAGER = "local energy manager"
EMS_SLOT = "ems"
"""The arbiter's slot of the energy manager's limit."""


def ems_limit(amps: float, cause: EmsCause | None) -> Limit:
    """The limit an energy manager's request becomes (the delay's policy reads its source,
    declared cause and randomised flag)."""
    if cause is None:
        return Limit(amps, LimitSource.EMS, ENERGY_MANAGER)
    if cause is EmsCause.DSR:
        return Limit(amps, LimitSource.DSR, f"{ENERGY_MANAGER}: demand side response")
    if cause is EmsCause.RANDOMISED:
        return Limit(amps, LimitSource.EMS, f"{ENERGY_MANAGER}: randomised", randomised=True)
    declared = DeclaredCause(cause.value)
    return Limit(amps, LimitSource.EMS, f"{ENERGY_MANAGER}: {cause.value}", declared=declared)
