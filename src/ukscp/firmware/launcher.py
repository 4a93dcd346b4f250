"""Booting the active firmware slot: the launcher behind ``ukscp boot``.

A charger's service manager starts ``ukscp boot`` (a systemd unit, see
``docs/ukscp.service``). The launcher stays the installed (factory) package:
like a boot loader it is never replaced by an update. On every start it

1. reads the slot pointer (:mod:`.slots`) and checks the active slot
   against what was recorded at its install: the wheel's digest, ``site.json``'s
   digest, and every file of ``site/`` (Schedule 1: detect an unauthorised
   software change). Those records live in the data directory beside the slot,
   so, as a secure boot chain does, the launcher then proves the slot's origin
   from the manufacturer root it is given (``updates.firmware_root_ca_file``,
   passed by the CLI; kept outside the data directory): the signing certificate
   kept with the slot chains to the root, the signature kept with it is the
   signing key's over the staged wheel, the wheel is the version the pointer
   names and not older than the installed package, and ``site/`` holds
   exactly the files of the wheel's RECORD with their digests
   (:func:`judge_origin`). A slot that fails any of this is not started; with
   no usable root, no slot is;
2. runs ``python -P -X pycache_prefix=<dir> -m ukscp.cli run ...`` as a child
   process with the slot's ``site/`` first on ``PYTHONPATH`` (``-P``: not the
   working directory before it; the bytecode cache is a directory the launcher
   made for itself outside the data directory, so the child runs only bytecode
   it compiled from the checked sources, never a ``.pyc`` from the slot), or
   with no slot, the installed package as it is; SIGTERM and SIGINT are
   passed on to the child;
3. starts it again when it exits with the restart code (a CSMS Reset, or a
   firmware install asking to restart into the new slot), reading the pointer
   afresh; any other exit code is the launcher's own.

A slot that has never become ready before (``confirmed`` false: the first
start after its install) is on trial: if the child exits, or is still not
ready after ``ready_timeout_s``, before it has printed the ready line (``ukscp
run`` prints ``ukscp: charger ready at <url>`` once its page serves), the
launcher falls back. Falling back means: the pointer is switched back to the
previous slot (or removed, for the installed package) atomically, a critical
security-log record is written (``IntegrityCheckFailed`` for a changed slot,
``UpdateRejected`` for a start that failed), and, when the slot came from a
CSMS request still waiting for its outcome, a firmware status is left in the
slots' reports for the next charger's OCPP client: ``InstallVerificationFailed``
or ``InstallationFailed`` (OCPP 1.6 Security Whitepaper ed. 2). A slot
that started once is confirmed by the charger itself
(:meth:`~.install.FirmwareInstaller.confirm_boot`, which sends
``Installed``); a later failed start of a confirmed slot is the service
manager's to retry, not a reason to go back to older software.

:func:`~.boot.judge_origin`, :func:`~.boot.plan_boot` and :func:`~.boot.judge_exit` are
the pure decisions (:mod:`.boot`); :class:`Launcher` is the thin shell around
processes, files and signals.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from ukscp.clock import Clock
from ukscp.firmware.boot import (
    NO_ROOT,
    BootPlan,
    Fallback,
    Next,
    Trust,
    describe,
    exit_status,
    judge_exit,
    judge_origin,
    plan_boot,
    start_failure,
)
from ukscp.firmware.signing import load_trusted_roots
from ukscp.firmware.slots import FirmwareSlots, SlotPointer
from ukscp.firmware.status import Step
from ukscp.firmware.verdict import FirmwareError
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)

READY_MARKER = "ukscp: charger ready at "
"""The start of the line ``ukscp run`` prints once its page serves (DESIGN section 7)."""
DEFAULT_READY_TIMEOUT_S = 120.0  # a first start makes a TLS key: slow boards need time
DEFAULT_STOP_TIMEOUT_S = 30.0  # after SIGTERM, before SIGKILL
_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class ChildCommand:
    """How to start the charger: the interpreter, ``run``'s options and the environment."""

    python: str
    run_args: Sequence[str]
    env: Mapping[str, str]
    restart_code: int
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S

    def argv(self, bytecode: Path | None) -> list[str]:
        """``python -P [-X pycache_prefix=<bytecode>] -m ukscp.cli run ...``.

        ``bytecode`` (for a slot): the only place the child reads and writes
        ``.pyc`` files; any ``__pycache__`` beside the sources is ignored.
        """
        flags = ["-P"] if bytecode is None else ["-P", "-X", f"pycache_prefix={bytecode}"]
        return [self.python, *flags, "-m", "ukscp.cli", "run", *self.run_args]

    def environment(self, site: Path | None) -> dict[str, str]:
        """The environment, with ``site`` first on ``PYTHONPATH``."""
        env = dict(self.env)
        if site is not None:
            rest = env.get("PYTHONPATH")
            env["PYTHONPATH"] = str(site) if not rest else f"{site}{os.pathsep}{rest}"
        return env


class Launcher:
    """Runs the charger from the active slot until it stops; see the module docstring."""

    def __init__(
        self,
        *,
        slots: FirmwareSlots,
        seclog_path: Path,
        clock: Clock,
        command: ChildCommand,
        installed_version: str,
        out: TextIO,
        root_ca_file: Path | None,
    ) -> None:
        self._slots = slots
        self._root_ca_file = root_ca_file
        self._bytecode: Path | None = None
        self._seclog_path = seclog_path
        self._clock = clock
        self._command = command
        self._installed_version = installed_version
        self._out = out
        self._child: subprocess.Popen[str] | None = None
        self._stopping = False

    def run(self) -> int:
        """Start, watch and restart the charger; the exit code (main thread only: signals)."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            return self._loop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._bytecode is not None:
                shutil.rmtree(self._bytecode, ignore_errors=True)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        child = self._child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    def _loop(self) -> int:
        while True:
            if self._stopping:
                return 0
            plan = self.prepare()
            code, ready = self._start(plan.run, plan.trial)
            verdict = judge_exit(
                code,
                ready=ready,
                trial=plan.trial,
                stopping=self._stopping,
                restart_code=self._command.restart_code,
            )
            if verdict is Next.EXIT:
                return exit_status(code)
            if verdict is Next.FALL_BACK:
                assert plan.run is not None  # only a slot is ever on trial
                self._apply(start_failure(plan.run, code, self._command.ready_timeout_s))
            else:
                _log.info("the charger asked for a restart: starting it again")

    def prepare(self) -> BootPlan:
        """Check the active slot (and its previous, if need be), fall back as needed: the plan."""
        active = self._slots.active()
        problems: dict[str, list[str]] = {}
        if active is not None:
            trust = self._trust()
            problems[active.slot] = self._check(active, trust)
            previous = active.previous_pointer
            if problems[active.slot] and previous is not None and previous.slot != active.slot:
                problems[previous.slot] = self._check(previous, trust)
        plan = plan_boot(active, problems)
        for fallback in plan.fallbacks:
            self._apply(fallback)
        return plan

    def _trust(self) -> Trust:
        """The manufacturer root, read afresh; or why there is none to trust."""
        path = self._root_ca_file
        if path is None:
            return NO_ROOT
        data_dir = self._slots.root.parent
        if path.resolve().is_relative_to(data_dir.resolve()):
            return (
                f"the manufacturer root {path} lies in the data directory {data_dir},"
                " which this check does not trust"
            )
        try:
            roots = load_trusted_roots(path.read_bytes(), str(path))
        except (OSError, FirmwareError) as exc:
            return f"the manufacturer root cannot be used: {exc}"
        return roots if roots else f"the manufacturer root {path} holds no certificate"

    def _check(self, pointer: SlotPointer, trust: Trust) -> list[str]:
        """Everything wrong with ``pointer``'s slot: its install records, then its origin."""
        recorded = self._slots.verify(pointer)
        evidence = self._slots.evidence(pointer)
        found = judge_origin(
            evidence, trust, now=self._clock.now(), installed_version=self._installed_version
        )
        return [*recorded, *found]

    def _apply(self, fallback: Fallback) -> None:
        """Switch the pointer back first, then tell the CSMS-to-be and the security log."""
        _log.error("firmware fallback: %s", fallback.reason)
        self._slots.fall_back(fallback.to)
        report = fallback.report
        if report is not None:
            request_id, status = report
            self._slots.add_report(request_id, status.value, fallback.reason)
        kind = (
            SecurityEventType.INTEGRITY_CHECK_FAILED
            if fallback.step is Step.BOOT_REFUSED
            else SecurityEventType.UPDATE_REJECTED
        )
        target = describe(fallback.to)
        if fallback.to is None:
            target += f" (ukscp {self._installed_version})"
        seclog = SecurityLog(self._seclog_path, self._clock)
        try:
            seclog.record(kind, f"{fallback.reason}; booting {target}", critical=True)
        finally:
            seclog.close()

    def _start(self, run: SlotPointer | None, trial: bool) -> tuple[int | None, bool]:
        """Run one child to its end: (its return code or None if killed for a hang, ready)."""
        site = None if run is None else self._slots.site_dir(run.slot)
        bytecode = None if site is None else self._bytecode_dir()
        _log.info("starting %s%s", describe(run), " (first start: on trial)" if trial else "")
        ready = threading.Event()
        child = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            self._command.argv(bytecode),
            stdout=subprocess.PIPE,
            text=True,
            env=self._command.environment(site),
        )
        self._child = child
        if self._stopping:  # a signal between the loop's check and the child's start
            child.send_signal(signal.SIGTERM)
        reader = threading.Thread(target=self._relay, args=(child, ready), daemon=True)
        reader.start()
        started = time.monotonic()
        timed_out = False
        try:
            while True:
                try:
                    code: int | None = child.wait(timeout=_POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    pass
                late = time.monotonic() - started > self._command.ready_timeout_s
                if trial and late and not ready.is_set() and not self._stopping:
                    _log.error("%s is not ready: stopping it", describe(run))
                    timed_out = True
                    self._terminate(child)
        finally:
            self._child = None
        reader.join(timeout=5)
        return (None if timed_out else code), ready.is_set()

    def _bytecode_dir(self) -> Path:
        """The children's bytecode cache: made once (0700) outside the data directory."""
        if self._bytecode is None:
            self._bytecode = Path(tempfile.mkdtemp(prefix="ukscp-bytecode-"))
        return self._bytecode

    def _terminate(self, child: subprocess.Popen[str]) -> None:
        child.terminate()
        try:
            child.wait(timeout=self._command.stop_timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()

    def _relay(self, child: subprocess.Popen[str], ready: threading.Event) -> None:
        """Copy the child's output to ours, line by line, and spot the ready line."""
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(READY_MARKER):
                ready.set()
            with contextlib.suppress(OSError, ValueError):
                self._out.write(line)
                self._out.flush()
