"""How the firmware checks answer: a verdict with its reason, or an error in words."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and, always, its reason in words."""

    ok: bool
    reason: str


class FirmwareError(Exception):
    """A file or setting cannot be used at all; the message says why."""

