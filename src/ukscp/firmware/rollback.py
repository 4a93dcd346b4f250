"""Rollback refused: firmware older than the running version is never installed nor booted."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from ukscp.firmware.verdict import Verdict


def version_verdict(candidate: str, running: str) -> Verdict:
    """Install ``candidate`` over ``running``? Never an older version (rollback refused)."""
    try:
        new, old = Version(candidate), Version(running)
    except InvalidVersion as exc:
        return Verdict(False, f"cannot compare versions: {exc}")
    if new < old:
        return Verdict(False, f"version {new} is older than the running {old}: rollback refused")
    if new == old:
        return Verdict(True, f"version {new} is the running version: reinstalling it")
    return Verdict(True, f"version {new} is newer than the running {old}")
