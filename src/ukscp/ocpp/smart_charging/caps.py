"""How much smart charging a CSMS may install: the numbers the charger advertises and enforces.

Each cap is what the charger tells its CSMS, in both versions' words, and
what SetChargingProfile (and a RemoteStart's profile) is held to: a profile
beyond one is rejected, naming the cap (1.6 ``Rejected``; 2.0.1 ``Rejected``
with a statusInfo saying why). They bound the work a profile set costs: the
limit in force and its next change are worked out from every period of every
profile, on the charger's one event loop. At the caps the costliest set (ten
daily-recurring profiles of 48 periods, every period a different limit) takes
about 130 ms per change on the benchmark machine, against 3.4 s for 73 profiles
of 2,500 periods, which held up the meter's samples
(``benchmarks/ocpp_bounds.py``).
"""

from __future__ import annotations

MAX_STACK_LEVEL = 9
"""Stack levels 0..9: 1.6 ``ChargeProfileMaxStackLevel``, 2.0.1
SmartChargingCtrlr.ProfileStackLevel."""

MAX_PERIODS = 48
"""Periods per schedule, a day of half-hour settlement periods: 1.6
``ChargingScheduleMaxPeriods``, 2.0.1 SmartChargingCtrlr.PeriodsPerSchedule."""

MAX_PROFILES = 10
"""Profiles installed at once: 1.6 ``MaxChargingProfilesInstalled``, 2.0.1
SmartChargingCtrlr.Entries (instance ChargingProfiles), its maxLimit."""

MAX_COMPOSITE_S = 7 * 24 * 3600
"""The longest composite schedule reported (GetCompositeSchedule): a week, the longest
recurrence OCPP has, so a week shows every pattern a profile set can make. A longer
request is answered for a week, and the answer's ``duration`` says so."""
