"""Installing signed firmware for the CSMS: the asyncio shell around the pure checks.

One :class:`FirmwareInstaller` per charger, driven by whichever OCPP client is
running through two calls and one small interface:

* :meth:`FirmwareInstaller.accept` answers the request at once (the signing
  certificate is checked here, so a bad one is answered ``InvalidCertificate``);
* :meth:`FirmwareInstaller.start` runs the accepted request once the answer
  is sent: wait for ``retrieve_at``, download (``retries`` more attempts,
  ``retry_interval_s`` apart), verify the signature over the whole file, read
  the wheel's version (rollback refused), wait for ``install_at`` and for the
  charging session to end, stage into the inactive slot and unpack it there,
  switch the pointer, send ``InstallRebooting``, then ask for a restart;
* the client is the :class:`FirmwareHost`: it queues each status notification
  for its CSMS (OCPP 1.6 SignedFirmwareStatusNotification, 2.0.1
  FirmwareStatusNotification: the same words, with the request id), says
  whether a session is running, and restarts the charger.

After the restart the launcher (``ukscp boot``, :mod:`.launcher`) runs the
new slot. Once it is ready, :meth:`FirmwareInstaller.confirm_boot` (called by
the new firmware) marks the slot confirmed and sends ``Installed`` (OCPP 1.6
Security Whitepaper ed. 2 and 2.0.1 L01: InstallRebooting before the reboot,
Installed once the new firmware runs). What the launcher found instead (a slot
changed since the install, a start that failed) waits in the slots' reports and
is sent as soon as a client attaches: ``InstallVerificationFailed`` or
``InstallationFailed``.

Every wait is on the :class:`~ukscp.clock.Clock`. The download (:mod:`.download`)
runs on a worker thread (urllib), capped in size, with a socket timeout, under the
target policy of :mod:`~ukscp.security.remote_targets`: no proxy from the
environment, never from ``https://`` down to ``http://`` by a redirect, no loopback,
link-local or private address (unless ``ocpp.allow_private_targets``), the CSMS's
``retries`` clamped to 0..5 and ``retryInterval`` to 30 s..1 h. A refused target is
final (``DownloadFailed`` at once, logged once). One request at a time: a new one
cancels the one running (``AcceptedCanceled``, OCPP 2.0.1 L01.FR.24 and the 1.6
security whitepaper's SignedUpdateFirmware alike) unless it is past the point of
installing; a cancelled download stops at once, as it does when the client that
started it stops.

Security events (OCPP 1.6 Security Whitepaper ed. 2 and OCPP 2.0.1 block L both
require them to reach the CSMS): ``InvalidFirmwareSigningCertificate`` and
``InvalidFirmwareSignature`` are recorded as critical, so the client's sender
delivers them as SecurityEventNotification; ``FirmwareUpdated`` on success.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ukscp.clock import Alarm, Clock
from ukscp.events import EventBus, SessionEnded
from ukscp.firmware.download import DownloadError, wheel_name
from ukscp.firmware.download import download as download_file
from ukscp.firmware.request import FirmwareRequest, UpdateAnswer
from ukscp.firmware.rollback import version_verdict
from ukscp.firmware.signing import check_signing_certificate, load_trusted_roots, verify_signature
from ukscp.firmware.slots import FirmwareSlots, SlotOrigin, SlotPointer
from ukscp.firmware.status import FINAL, FirmwareStatus, Step, next_status
from ukscp.firmware.verdict import FirmwareError
from ukscp.firmware.wheel import NotAWheel, read_wheel
from ukscp.security.remote_targets import TargetPolicy
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # a ukscp wheel is well under 1 MiB
DEFAULT_TIMEOUT_S = 30.0  # real seconds a socket may stay silent
SESSION_POLL_S = 30.0  # how often the wait for the session's end looks again


class FirmwareHost(Protocol):
    """What the OCPP client does for the installer (OCPP 1.6 or 2.0.1 alike)."""

    def firmware_status(self, status: FirmwareStatus, request_id: int) -> None:
        """Queue the status notification for the CSMS: in order, never lost offline."""
        ...

    def charging_session_active(self) -> bool:
        """True while an EV is connected or a transaction is open: no install then."""
        ...

    def restart_for_firmware(self) -> Awaitable[None]:
        """Deliver what is queued (briefly) and restart the charger into the new slot."""
        ...


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The answer to a request, and why."""

    answer: UpdateAnswer
    reason: str


@dataclass(frozen=True, slots=True)
class FirmwareJob:
    """The latest request, as the owner's page shows it."""

    request_id: int
    status: FirmwareStatus | None
    detail: str
    updated_at: datetime
    version: str | None = None
    slot: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return {
            "request_id": self.request_id,
            "status": None if self.status is None else self.status.value,
            "detail": self.detail,
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
            "slot": self.slot,
        }


# -- the installer --------------------------------------------------------------------


class FirmwareInstaller:
    """Accepts, downloads, verifies and installs signed firmware; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock,
        seclog: SecurityLog,
        slots: FirmwareSlots,
        root_ca_file: Path | None,
        running_version: str,
        bus: EventBus | None = None,
        allow_plain_http: bool = False,
        allow_private_targets: bool = False,
        ca_file: Path | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        session_poll_s: float = SESSION_POLL_S,
        running_package: Path | None = None,
    ) -> None:
        self._clock = clock
        self._seclog = seclog
        self._slots = slots
        self._root_ca_file = root_ca_file
        self._running = running_version
        self._targets = TargetPolicy(
            allow_plain_http=allow_plain_http, allow_private=allow_private_targets, ca_file=ca_file
        )
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._session_poll_s = session_poll_s
        self._running_package = running_package  # the ``ukscp`` package directory imported
        self._host: FirmwareHost | None = None
        self._pending: tuple[FirmwareRequest, Any] | None = None  # (request, leaf certificate)
        self._task: asyncio.Task[None] | None = None
        self._job: FirmwareJob | None = None
        self._session_alarm = Alarm(clock)
        slots.clear_incoming()
        if bus is not None:
            bus.subscribe(SessionEnded, lambda _: self._session_alarm.wake())

    # -- what the client calls --

    def attach(self, host: FirmwareHost) -> None:
        """The OCPP client that receives the status notifications and restarts the charger.

        What the launcher reported about the last boot is handed to it at once.
        """
        self._host = host
        self._deliver_boot_reports()

    def confirm_boot(self) -> None:
        """The charger is ready: a slot's first start is confirmed, and ``Installed`` sent.

        Only when this process runs the active slot's own package (its
        directory is inside the slot) and the slot is not yet confirmed, so a
        plain ``ukscp run`` of the factory package, or a later start, sends nothing.
        """
        active = self._slots.active()
        if active is None or active.confirmed or not self._runs_slot(active.slot, active.version):
            return
        _log.info("ukscp %s started from slot %s: confirmed", active.version, active.slot)
        if active.request_id is not None:
            status = next_status(FirmwareStatus.INSTALL_REBOOTING, Step.BOOT_OK)
            detail = f"ukscp {active.version} runs from slot {active.slot}"
            # Through the reports file, so that a start with no OCPP client still reports it.
            self._slots.add_report(active.request_id, status.value, detail)
            self._set_job(active.request_id, status, detail, active.version, active.slot)
        self._slots.confirm()
        self._deliver_boot_reports()

    def _runs_slot(self, slot: str, version: str) -> bool:
        if self._running_package is None or version != self._running:
            return False
        site = self._slots.site_dir(slot).resolve()
        return self._running_package.resolve().is_relative_to(site)

    def _deliver_boot_reports(self) -> None:
        """Queue the launcher's reports with the client, then forget them."""
        host = self._host
        reports = self._slots.reports()
        if host is None or not reports:
            return
        for report in reports:
            try:
                status = FirmwareStatus(str(report["status"]))
                request_id = int(report["request_id"])
            except (KeyError, ValueError, TypeError):
                _log.warning("unreadable firmware boot report dropped: %r", report)
                continue
            detail = str(report.get("detail", ""))
            _log.info("firmware request %d after the restart: %s (%s)", request_id, status, detail)
            if self._job is None or self._job.request_id == request_id:
                self._set_job(request_id, status, detail)
            host.firmware_status(status, request_id)
        self._slots.clear_reports()

    @property
    def slots(self) -> FirmwareSlots:
        """The A/B slots."""
        return self._slots

    @property
    def job(self) -> FirmwareJob | None:
        """The latest request and where it stands, or None."""
        return self._job

    @property
    def busy(self) -> bool:
        """True while a request runs."""
        return self._task is not None and not self._task.done()

    def accept(self, request: FirmwareRequest) -> Acceptance:
        """The answer to ``request``; if accepted, :meth:`start` runs it after the answer.

        The signing certificate is checked now: one that does not chain to the
        manufacturer root is answered ``InvalidCertificate`` and recorded as an
        ``InvalidFirmwareSigningCertificate`` security event.
        """
        problem = self._targets.location_problem(request.location)
        if problem is None and not wheel_name(request.location).endswith(".whl"):
            problem = f"{request.location!r} does not name a wheel (.whl) file"
        if problem is not None:
            return self._refuse(request, UpdateAnswer.REJECTED, problem)
        # Past the switch of the slot pointer there is nothing left to cancel.
        installing = (
            FirmwareStatus.INSTALLING,
            FirmwareStatus.INSTALL_REBOOTING,
            FirmwareStatus.INSTALLED,
        )
        if self.busy and self._job is not None and self._job.status in installing:
            return self._refuse(
                request, UpdateAnswer.REJECTED, "another firmware is being installed"
            )
        verdict = check_signing_certificate(
            request.signing_certificate, self._trusted_roots(), self._clock.now()
        )
        if not verdict.ok:
            self._seclog.record(
                SecurityEventType.INVALID_FIRMWARE_SIGNING_CERTIFICATE,
                f"firmware request {request.request_id} from {request.location}: {verdict.reason}",
                critical=True,
            )
            return self._refuse(request, UpdateAnswer.INVALID_CERTIFICATE, verdict.reason)
        answer = UpdateAnswer.ACCEPTED
        if self.busy:
            assert self._task is not None
            self._task.cancel()
            answer = UpdateAnswer.ACCEPTED_CANCELED
        self._pending = (request, verdict.certificate)
        self._set_job(request.request_id, None, f"accepted: {verdict.reason}")
        _log.info("firmware request %d accepted (%s)", request.request_id, request.location)
        return Acceptance(answer, verdict.reason)

    def start(self, request_id: int) -> asyncio.Task[None] | None:
        """Run the request accepted for ``request_id`` (its answer has been sent)."""
        pending = self._pending
        if pending is None or pending[0].request_id != request_id:
            return None
        self._pending = None
        self._task = asyncio.get_running_loop().create_task(
            self._guarded(*pending), name=f"firmware-{request_id}"
        )
        return self._task

    def view(self) -> dict[str, Any]:
        """The installed slot and the latest request, for the owner's page."""
        active = self._slots.active()
        return {
            "running_version": self._running,
            "active_slot": None if active is None else active.as_dict(),
            "root_ca_provisioned": self._root_ca_file is not None,
            "last_request": None if self._job is None else self._job.as_dict(),
        }

    # -- the run --

    async def _guarded(self, request: FirmwareRequest, certificate: Any) -> None:
        try:
            await self._run(_Run(self, request), certificate)
        except asyncio.CancelledError:
            self._set_job(request.request_id, self._job_status(), "cancelled")
            raise
        except Exception:
            _log.exception("firmware request %d failed", request.request_id)
            self._set_job(request.request_id, self._job_status(), "failed: internal error")
        finally:
            self._slots.clear_incoming()

    async def _run(self, run: _Run, certificate: Any) -> None:
        request = run.request
        await self._wait_until(run, request.retrieve_at, Step.DOWNLOAD_WAIT)
        run.send(Step.DOWNLOAD_START, f"downloading {request.location}")
        name = wheel_name(request.location)
        download = self._slots.incoming / f"request-{request.request_id}.part"
        fetched = await download_file(
            request,
            download,
            targets=self._targets,
            clock=self._clock,
            max_bytes=self._max_bytes,
            timeout_s=self._timeout_s,
        )
        if isinstance(fetched, DownloadError):
            run.send(Step.DOWNLOAD_GAVE_UP, f"download failed: {fetched}")
            return
        digest, size = fetched
        run.send(Step.DOWNLOAD_OK, f"downloaded {size} bytes")
        signature = verify_signature(certificate, digest, request.signature)
        if not signature.ok:
            self._seclog.record(
                SecurityEventType.INVALID_FIRMWARE_SIGNATURE,
                f"firmware request {request.request_id} from {request.location}: "
                f"{signature.reason}",
                critical=True,
            )
            run.send(Step.SIGNATURE_BAD, signature.reason)
            return
        run.send(Step.SIGNATURE_OK, signature.reason)
        try:
            wheel = read_wheel(download, name)
        except NotAWheel as exc:
            self._refused(run, f"not a valid ukscp wheel: {exc}")
            return
        run.version = wheel.version
        decision = version_verdict(wheel.version, self._running)
        if not decision.ok:
            self._refused(run, decision.reason)
            return
        await self._wait_until(run, request.install_at, Step.INSTALL_WAIT)
        await self._wait_for_session_end(run)
        run.send(Step.INSTALL_START, f"installing {wheel.version}")
        try:
            # Staged and unpacked (on a worker thread: a few MiB of files, synced)
            # before the pointer moves: a crash until then leaves the old slot active.
            origin = SlotOrigin(request.signing_certificate, request.signature)
            slot, staged = await asyncio.to_thread(self._slots.stage, download, name, origin)
            site_digest = await asyncio.to_thread(self._slots.make_runnable, slot, staged)
            self._slots.switch(
                SlotPointer(
                    slot=slot,
                    version=wheel.version,
                    wheel=staged.name,
                    sha256=digest.hex(),
                    request_id=request.request_id,
                    installed_at=self._clock.now().isoformat(),
                    site_sha256=site_digest,
                )
            )
        except (OSError, ValueError, FirmwareError) as exc:
            run.send(Step.INSTALL_FAILED, f"installation failed: {exc}")
            return
        run.slot = slot
        self._seclog.record(
            SecurityEventType.FIRMWARE_UPDATED,
            f"ukscp {wheel.version} installed in slot {slot} (was {self._running});"
            " active at the restart",
        )
        run.send(Step.INSTALL_OK, f"version {wheel.version} in slot {slot}; restarting")
        host = self._host
        if host is not None:
            await host.restart_for_firmware()

    def _refused(self, run: _Run, reason: str) -> None:
        _log.warning("firmware request %d refused: %s", run.request.request_id, reason)
        self._seclog.record(
            SecurityEventType.UPDATE_REJECTED,
            f"firmware request {run.request.request_id} from {run.request.location}: {reason}",
        )
        run.send(Step.REFUSED, reason)

    async def _wait_until(self, run: _Run, when: datetime | None, step: Step) -> None:
        if when is None:
            return
        remaining = (when - self._clock.now()).total_seconds()
        if remaining > 0:
            run.send(step, f"scheduled for {when.isoformat()}")
            await self._clock.sleep(remaining)

    async def _wait_for_session_end(self, run: _Run) -> None:
        host = self._host
        if host is None or not host.charging_session_active():
            return
        _log.info("firmware %s waits for the charging session to end", run.version)
        self._set_job(
            run.request.request_id,
            run.status,
            "verified; waiting for the charging session to end",
            run.version,
        )
        while host.charging_session_active():
            await self._session_alarm.sleep(self._session_poll_s)

    # -- helpers --

    def _trusted_roots(self) -> list[Any]:
        if self._root_ca_file is None:
            return []
        try:
            return load_trusted_roots(self._root_ca_file.read_bytes(), str(self._root_ca_file))
        except (OSError, FirmwareError) as exc:
            _log.error("the firmware root certificate cannot be used: %s", exc)
            return []

    def _refuse(self, request: FirmwareRequest, answer: UpdateAnswer, reason: str) -> Acceptance:
        _log.warning("firmware request %d answered %s: %s", request.request_id, answer, reason)
        if not self.busy:
            self._set_job(request.request_id, None, f"{answer.value}: {reason}")
        return Acceptance(answer, reason)

    def _job_status(self) -> FirmwareStatus | None:
        return None if self._job is None else self._job.status

    def _set_job(
        self,
        request_id: int,
        status: FirmwareStatus | None,
        detail: str,
        version: str | None = None,
        slot: str | None = None,
    ) -> None:
        self._job = FirmwareJob(request_id, status, detail, self._clock.now(), version, slot)

    def _notify(self, run: _Run, status: FirmwareStatus, detail: str) -> None:
        self._set_job(run.request.request_id, status, detail, run.version, run.slot)
        log = _log.warning if status in FINAL and status != FirmwareStatus.INSTALLED else _log.info
        log("firmware request %d: %s (%s)", run.request.request_id, status.value, detail)
        if self._host is not None:
            self._host.firmware_status(status, run.request.request_id)


class _Run:
    """One request in progress: the last status sent, and what is known so far."""

    def __init__(self, installer: FirmwareInstaller, request: FirmwareRequest) -> None:
        self._installer = installer
        self.request = request
        self.status: FirmwareStatus | None = None
        self.version: str | None = None
        self.slot: str | None = None

    def send(self, step: Step, detail: str) -> None:
        self.status = next_status(self.status, step)
        self._installer._notify(self, self.status, detail)
