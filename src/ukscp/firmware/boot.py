"""The boot decisions of ``ukscp boot``, pure: which slot to start, and what follows its end.

* :func:`judge_origin`: is a slot what the manufacturer signed (its wheel's
  signature, version, and ``site/`` exactly the wheel's RECORD)?
* :func:`plan_boot`: which slot to start, falling back from a changed one;
* :func:`start_failure` and :func:`judge_exit`: what a child's end means for a
  slot on trial.

The shell around processes, files and signals is :mod:`ukscp.firmware.launcher`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509

from ukscp.firmware.rollback import version_verdict
from ukscp.firmware.signing import check_origin
from ukscp.firmware.site import compare_files
from ukscp.firmware.slots import SlotEvidence, SlotPointer
from ukscp.firmware.status import FirmwareStatus, Step, next_status

Trust = Sequence[x509.Certificate] | str
"""The manufacturer root certificate(s), or why there is none to trust, in words."""

NO_ROOT = (
    "no manufacturer root certificate is provisioned (updates.firmware_root_ca_file is"
    " unset), so no firmware slot can be proven to be the manufacturer's"
)


def check_time(installed_at: str, now: datetime) -> datetime:
    """When a slot's signing certificate must have been valid: at its install.

    Its validity period was checked against the clock when it was installed;
    a boot re-checks the chain as at that moment (never later than ``now``),
    so firmware does not stop booting when its signing certificate expires
    afterwards: boot code has no trusted time (UEFI Secure Boot ignores
    expiry for the same reason).
    """
    try:
        installed = datetime.fromisoformat(installed_at)
    except ValueError:
        return now
    if installed.tzinfo is None:
        return now
    return min(installed, now)


def judge_origin(
    evidence: SlotEvidence, trust: Trust, *, now: datetime, installed_version: str
) -> list[str]:
    """Why the slot is not what the manufacturer signed, in words; empty when it is.

    The slot's wheel must carry the manufacturer's signature (the certificate
    and signature kept with it, checked by :func:`.signing.check_origin`
    against ``trust``), be the version its pointer names and not older than the
    installed package, and ``site/`` must hold exactly the wheel's RECORD:
    no file changed, added or missing. Rewriting ``site.json`` and the pointer
    to match changes none of this.
    """
    if isinstance(trust, str):
        return [f"not booted: {trust}"]
    pointer = evidence.pointer
    problems: list[str] = []
    if isinstance(evidence.wheel_sha256, str):
        problems.append(f"not signed: {evidence.wheel_sha256}")
    elif isinstance(evidence.origin, str):
        problems.append(f"not signed: {evidence.origin}")
    else:
        verdict = check_origin(
            evidence.origin.signing_certificate,
            evidence.origin.signature,
            evidence.wheel_sha256,
            trust,
            check_time(pointer.installed_at, now),
        )
        if not verdict.ok:
            problems.append(f"not signed by the manufacturer: {verdict.reason}")
    if isinstance(evidence.wheel, str):
        problems.append(f"not a ukscp wheel: {evidence.wheel}")
    else:
        if evidence.wheel.version != pointer.version:
            problems.append(
                f"version: the wheel holds ukscp {evidence.wheel.version},"
                f" the pointer names {pointer.version}"
            )
        older = version_verdict(evidence.wheel.version, installed_version)
        if not older.ok:
            problems.append(f"version: {older.reason}")
    if isinstance(evidence.record, str):
        problems.append(f"not the signed wheel's files: {evidence.record}")
    else:
        problems += [
            f"not the signed wheel's files: {problem}"
            for problem in compare_files(evidence.record, evidence.found)
        ]
    return problems


@dataclass(frozen=True, slots=True)
class Fallback:
    """One slot given up, why, and what the pointer goes back to."""

    failed: SlotPointer
    step: Step  # Step.BOOT_REFUSED (changed since install) or Step.BOOT_FAILED (start)
    reason: str
    to: SlotPointer | None  # None: the installed package

    @property
    def report(self) -> tuple[int, FirmwareStatus] | None:
        """The status the CSMS is owed for the request that installed the slot, if any.

        Only while that request is still open: the slot never became ready.
        """
        if self.failed.confirmed or self.failed.request_id is None:
            return None
        return self.failed.request_id, next_status(FirmwareStatus.INSTALL_REBOOTING, self.step)


@dataclass(frozen=True, slots=True)
class BootPlan:
    """What to start, and the fallbacks to record first (in order)."""

    run: SlotPointer | None  # None: the installed package
    trial: bool  # a failed start of ``run`` falls back
    fallbacks: tuple[Fallback, ...] = ()


def describe(pointer: SlotPointer | None) -> str:
    """A slot in words, as the logs and the security log name it."""
    if pointer is None:
        return "the installed package"
    return f"slot {pointer.slot} (ukscp {pointer.version})"


def plan_boot(active: SlotPointer | None, problems: Mapping[str, Sequence[str]]) -> BootPlan:
    """Which slot to start, given the pointer and each slot's differences from its install.

    ``problems`` maps a slot name to what :meth:`FirmwareSlots.verify` found
    (empty: intact; a slot missing from it counts as intact). A changed active
    slot falls back to its previous one, checked the same way, then to the
    installed package, which has no slot to check (the signed release
    manifest watches it while it runs).
    """
    fallbacks: list[Fallback] = []
    candidate = active
    while candidate is not None:
        found = tuple(problems.get(candidate.slot, ()))
        if not found:
            return BootPlan(candidate, not candidate.confirmed, tuple(fallbacks))
        previous = candidate.previous_pointer if candidate is active else None
        if previous is not None and previous.slot == candidate.slot:
            previous = None  # a pointer cannot fall back into the slot it leaves
        reason = f"{describe(candidate)} failed its boot check: " + "; ".join(found)
        fallbacks.append(Fallback(candidate, Step.BOOT_REFUSED, reason, previous))
        candidate = previous
    return BootPlan(None, False, tuple(fallbacks))


def start_failure(run: SlotPointer, code: int | None, timeout_s: float) -> Fallback:
    """The fallback after ``run`` failed its trial start (``code`` None: it hung)."""
    previous = run.previous_pointer
    if previous is not None and previous.slot == run.slot:
        previous = None
    what = (
        f"was not ready after {timeout_s:g} s"
        if code is None
        else f"exited with code {code} before it was ready"
    )
    reason = f"{describe(run)} {what}; starting {describe(previous)} instead"
    return Fallback(run, Step.BOOT_FAILED, reason, previous)


class Next(StrEnum):
    """What the launcher does when its child has ended."""

    RESTART = "restart"  # start again, reading the pointer afresh
    FALL_BACK = "fall_back"  # the trial failed: go back, then start again
    EXIT = "exit"  # end with the child's code


def judge_exit(
    code: int | None,
    *,
    ready: bool,
    trial: bool,
    stopping: bool,
    restart_code: int,
) -> Next:
    """What follows the end of a child (``code`` None: killed for not becoming ready).

    A stop asked of the launcher always ends it. A trial child that ends
    before it was ready, other than by a clean exit 0, failed its start. The
    restart code starts the charger again; any other code is returned.
    """
    if stopping:
        return Next.EXIT
    if trial and not ready and code != 0:
        return Next.FALL_BACK
    if code == restart_code:
        return Next.RESTART
    return Next.EXIT


def exit_status(code: int | None) -> int:
    """The launcher's own exit code for a child's ``returncode`` (128 + n for signal n)."""
    if code is None:
        return 1
    return 128 - code if code < 0 else code
