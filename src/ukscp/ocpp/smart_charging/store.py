"""The installed charging profiles, as an immutable value.

Every operation returns a new :class:`ProfileSet`; the shell that owns the
set persists it and swaps it in, so a rejected request changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ukscp.ocpp.smart_charging.caps import MAX_PROFILES
from ukscp.ocpp.smart_charging.model import ChargingProfile, ProfileError, Purpose
from ukscp.ocpp.smart_charging.placement import BEGINNING, END


class SameLevel(StrEnum):
    """What installing a profile does to another with the same stack level and purpose.

    ``REPLACE``: OCPP 1.6 §5.16 (SetChargingProfile): the new profile replaces
    one with the same stackLevel and purpose (on the same connector).
    ``REJECT``: OCPP 2.0.1 K01.FR.06 / K01.FR.39: the new profile is refused
    when such a profile (for a TxProfile: of the same transaction) has an
    overlapping validity period.
    """

    REPLACE = "replace"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class ProfileSet:
    """The charging profiles installed on the charger, ordered by id."""

    items: tuple[ChargingProfile, ...] = ()

    def __iter__(self) -> Iterator[ChargingProfile]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def install(
        self,
        profile: ChargingProfile,
        *,
        now: datetime,
        active_transaction_id: str | None,
        same_level: SameLevel = SameLevel.REPLACE,
    ) -> ProfileSet:
        """The set with ``profile`` installed (SetChargingProfile).

        ``active_transaction_id`` is the transaction running on the profile's
        connector. A TxProfile needs one (1.6 §5.16, 2.0.1 K01.FR.09) and, when
        it names a transaction, must name that one (2.0.1 K01.FR.33); a 1.6
        TxProfile without transactionId (or a RemoteStart profile) is bound to
        it here. A profile with the same id is replaced (1.6 §5.16, 2.0.1
        K01.FR.05); see :class:`SameLevel` for one with the same stack level.
        Profiles that expired by ``now`` are dropped on the way. A profile that
        would make more than :data:`~.caps.MAX_PROFILES` installed is refused.

        Raises :class:`ProfileError` when OCPP requires a rejection.
        """
        if profile.purpose is Purpose.TX:
            profile = _bind(profile, active_transaction_id)
        kept: list[ChargingProfile] = []
        for held in self.prune(now).items:
            if held.id == profile.id:
                continue
            if _same_level(held, profile):
                if same_level is SameLevel.REPLACE:
                    continue
                if _overlap(held, profile):
                    raise ProfileError(
                        f"stackLevel {profile.stack_level} is taken by "
                        f"{held.describe()} for the same purpose and validity period"
                    )
            kept.append(held)
        if len(kept) >= MAX_PROFILES:
            raise ProfileError(
                f"this charger holds at most {MAX_PROFILES} charging profiles and has "
                f"{len(kept)}: clear one first"
            )
        kept.append(profile)
        return ProfileSet(tuple(sorted(kept, key=lambda p: p.id)))

    def clear(
        self,
        id: int | None = None,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> tuple[ProfileSet, int]:
        """The set without the matching profiles, and how many were cleared (ClearChargingProfile).

        With ``id``, only the profile with that id, whatever the other criteria
        (1.6 §5.5 clears "a specific charging profile (denoted by id) or a
        selection ... that match" the other fields; 2.0.1 K10 takes either
        chargingProfileId or chargingProfileCriteria). Otherwise every profile
        matching all the criteria given; ``connector`` 0 means the station-wide
        profiles; no criteria at all clears everything. A count of 0 is the
        ``Unknown`` status.
        """
        if id is not None:
            cleared = [p for p in self.items if p.id == id]
        else:
            cleared = [
                p
                for p in self.items
                if (connector is None or p.connector_id == connector)
                and (purpose is None or p.purpose is purpose)
                and (stack_level is None or p.stack_level == stack_level)
            ]
        kept = tuple(p for p in self.items if p not in cleared)
        return ProfileSet(kept), len(cleared)

    def for_transaction_end(self, transaction_id: str | None = None) -> ProfileSet:
        """The set once a transaction ends: its TxProfiles end with it (1.6 §3.13.1).

        With no ``transaction_id``, every TxProfile goes.
        """
        return ProfileSet(
            tuple(
                p
                for p in self.items
                if p.purpose is not Purpose.TX
                or (transaction_id is not None and p.transaction_id != transaction_id)
            )
        )

    def prune(self, now: datetime) -> ProfileSet:
        """The set without profiles whose validTo has passed: they can never apply again."""
        return ProfileSet(tuple(p for p in self.items if p.valid_to is None or p.valid_to > now))

    def profiles(
        self,
        *,
        ids: Collection[int] | None = None,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> tuple[ChargingProfile, ...]:
        """The profiles matching every criterion given (GetChargingProfiles, 2.0.1 K09).

        ``connector`` 0 selects the station-wide profiles only.
        """
        return tuple(
            p
            for p in self.items
            if (ids is None or p.id in ids)
            and (connector is None or p.connector_id == connector)
            and (purpose is None or p.purpose is purpose)
            and (stack_level is None or p.stack_level == stack_level)
        )


def _bind(profile: ChargingProfile, active_transaction_id: str | None) -> ChargingProfile:
    if active_transaction_id is None:
        raise ProfileError(
            f"a TxProfile needs a transaction running on connector {profile.connector_id}; "
            "there is none"
        )
    if profile.transaction_id is None:
        return dataclasses.replace(profile, transaction_id=active_transaction_id)
    if profile.transaction_id != active_transaction_id:
        raise ProfileError(
            f"transactionId {profile.transaction_id} is not the transaction running on "
            f"connector {profile.connector_id} ({active_transaction_id})"
        )
    return profile


def _same_level(held: ChargingProfile, new: ChargingProfile) -> bool:
    return (
        held.stack_level == new.stack_level
        and held.purpose is new.purpose
        and held.connector_id == new.connector_id
        and (new.purpose is not Purpose.TX or held.transaction_id == new.transaction_id)
    )


def _overlap(first: ChargingProfile, second: ChargingProfile) -> bool:
    return (first.valid_from or BEGINNING) < (second.valid_to or END) and (
        second.valid_from or BEGINNING
    ) < (first.valid_to or END)
