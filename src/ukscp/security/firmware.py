"""Signed firmware: the pure decisions of an install (Schedule 1: secure software updates).

A CSMS asks for new firmware with OCPP 1.6 ``SignedUpdateFirmware`` (OCPP 1.6
Security Whitepaper, edition 2) or OCPP 2.0.1 ``UpdateFirmware``. Both carry
the same things: where to download the file, when, the PEM signing certificate
and a base64 signature over the whole file. This module decides, with no I/O
beyond reading a file it is handed:

* :func:`check_signing_certificate`: the signing certificate chains (RFC 5280
  path validation, through any intermediates sent with it) to a manufacturer
  root provisioned on the charger, and is valid now;
* :func:`verify_signature`: the signature over the file's SHA-256 digest is
  the signing key's (RSA-PSS or ECDSA, SHA-256);
* :func:`check_origin`: both of the above for a file already kept (the
  launcher's boot check of a firmware slot, with what the CSMS sent kept beside it);
* :func:`read_wheel`: the file is a ``ukscp`` wheel, and which version it holds;
* :func:`version_verdict`: rollback refused (older than the running version);
* :func:`next_status`: which status notification a step of the install sends,
  from a table (:data:`TRANSITIONS`), so the order is data a test can read.

The asyncio shell that downloads, waits and switches slots is
:mod:`ukscp.security.firmware_install`.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

PACKAGE = "ukscp"
MAX_CHAIN_DEPTH = 4
# A wheel's METADATA is a few kilobytes; a huge one is not ours.
_MAX_METADATA_BYTES = 1 << 20


class FirmwareStatus(StrEnum):
    """Firmware status words, the same in OCPP 1.6 (security whitepaper) and 2.0.1."""

    IDLE = "Idle"
    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    SIGNATURE_VERIFIED = "SignatureVerified"
    INVALID_SIGNATURE = "InvalidSignature"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALLING = "Installing"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALLED = "Installed"
    INSTALLATION_FAILED = "InstallationFailed"
    INSTALL_VERIFICATION_FAILED = "InstallVerificationFailed"


class UpdateAnswer(StrEnum):
    """The answer to the request (1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    ACCEPTED_CANCELED = "AcceptedCanceled"
    INVALID_CERTIFICATE = "InvalidCertificate"
    REVOKED_CERTIFICATE = "RevokedCertificate"


@dataclass(frozen=True, slots=True)
class FirmwareRequest:
    """One request to install firmware, whatever the OCPP version it came in."""

    request_id: int
    location: str  # http(s) URL of the file
    retrieve_at: datetime  # download no earlier than this
    signing_certificate: str  # PEM: the signing certificate, then any intermediates
    signature: str  # base64 signature over the whole file
    install_at: datetime | None = None  # install no earlier than this
    retries: int | None = None  # further download attempts; None: the charger decides
    retry_interval_s: int | None = None  # between attempts; None: the charger decides


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and, always, its reason in words."""

    ok: bool
    reason: str


@dataclass(frozen=True, slots=True)
class CertificateVerdict:
    """The outcome of checking a signing certificate; ``certificate`` is the leaf when ok."""

    ok: bool
    reason: str
    certificate: x509.Certificate | None = None


class FirmwareError(Exception):
    """A file or setting cannot be used at all; the message says why."""


# -- trust ----------------------------------------------------------------------------


def load_trusted_roots(pem: bytes, origin: str = "firmware root") -> list[x509.Certificate]:
    """The manufacturer root certificate(s) in ``pem``; FirmwareError in words."""
    try:
        roots = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise FirmwareError(f"{origin}: no PEM certificate could be read ({exc})") from None
    return roots


def _leaf_usage_problem(leaf: x509.Certificate) -> str | None:
    """Why ``leaf`` may not sign code (RFC 5280 key usage), or None."""
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.digital_signature:
        return "its key usage does not allow digital signatures"
    try:
        extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.CODE_SIGNING not in extended and (
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in extended
    ):
        return "its extended key usage does not include code signing"
    return None


def check_signing_certificate(
    pem: str, roots: Sequence[x509.Certificate], now: datetime
) -> CertificateVerdict:
    """Does the signing certificate chain to one of ``roots``, valid at ``now``?

    ``pem`` holds the signing certificate first, then any intermediate CAs.
    The path is built and validated by ``cryptography``'s RFC 5280 verifier
    (signatures, validity periods, CA basic constraints and key usage, path
    length), with the Web PKI profile for the CAs; the leaf must be allowed
    to sign code if it says what it may do.
    """
    if not roots:
        return CertificateVerdict(
            False,
            "no manufacturer root certificate is provisioned (updates.firmware_root_ca_file):"
            " no signing certificate can be trusted",
        )
    try:
        chain = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except (ValueError, UnicodeEncodeError):
        return CertificateVerdict(False, "the signing certificate is not a PEM X.509 certificate")
    leaf, intermediates = chain[0], chain[1:]
    subject = leaf.subject.rfc4514_string() or "(empty subject)"
    if now < leaf.not_valid_before_utc:
        return CertificateVerdict(
            False,
            f"the signing certificate {subject} is not valid before "
            f"{leaf.not_valid_before_utc.isoformat()}",
        )
    if now > leaf.not_valid_after_utc:
        return CertificateVerdict(
            False,
            f"the signing certificate {subject} expired on {leaf.not_valid_after_utc.isoformat()}",
        )
    try:
        verifier = (
            verification.PolicyBuilder()
            .store(verification.Store(list(roots)))
            .time(now)
            .max_chain_depth(MAX_CHAIN_DEPTH)
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                # A signing certificate names no host and no client: its usage is checked below.
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        return CertificateVerdict(
            False,
            f"the signing certificate {subject} does not chain to the manufacturer root: {exc}",
        )
    problem = _leaf_usage_problem(leaf)
    if problem is not None:
        return CertificateVerdict(False, f"the signing certificate {subject}: {problem}")
    return CertificateVerdict(
        True, f"signing certificate {subject} chains to the manufacturer root", leaf
    )


def verify_signature(
    certificate: x509.Certificate, sha256_digest: bytes, signature_b64: str
) -> Verdict:
    """Is ``signature_b64`` the certificate's key's signature over the file with this digest?

    RSA keys: RSASSA-PSS with SHA-256 and MGF1-SHA-256, any salt length.
    EC keys: ECDSA with SHA-256 (DER signature). Anything else is refused.
    """
    try:
        signature = base64.b64decode("".join(signature_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        return Verdict(False, "the signature is not base64")
    if not signature:
        return Verdict(False, "the signature is empty")
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return Verdict(False, "the signing certificate's key cannot be read")
    prehashed = Prehashed(hashes.SHA256())
    try:
        if isinstance(key, rsa.RSAPublicKey):
            scheme = "RSA-PSS"
            key.verify(
                signature,
                sha256_digest,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
                prehashed,
            )
        elif isinstance(key, ec.EllipticCurvePublicKey):
            scheme = "ECDSA"
            key.verify(signature, sha256_digest, ec.ECDSA(prehashed))
        else:
            return Verdict(False, "the signing key is neither RSA nor EC (RSA-PSS or ECDSA needed)")
    except InvalidSignature:
        return Verdict(False, f"the {scheme} SHA-256 signature does not match the file")
    return Verdict(True, f"{scheme} SHA-256 signature verified")


def check_origin(
    signing_certificate: str,
    signature_b64: str,
    sha256_digest: bytes,
    roots: Sequence[x509.Certificate],
    at: datetime,
) -> Verdict:
    """Is the file with ``sha256_digest`` what the manufacturer signed, as seen at ``at``?

    The same two checks as an install, in the same order: the signing
    certificate (as the CSMS sent it, intermediates included) chains to one
    of ``roots`` at ``at`` (:func:`check_signing_certificate`), then the
    signature is its key's over the file (:func:`verify_signature`). The
    reason names the check that failed.
    """
    certificate = check_signing_certificate(signing_certificate, roots, at)
    if not certificate.ok or certificate.certificate is None:
        return Verdict(False, certificate.reason)
    signature = verify_signature(certificate.certificate, sha256_digest, signature_b64)
    if not signature.ok:
        return Verdict(False, signature.reason)
    return Verdict(True, f"{certificate.reason}; {signature.reason}")


# -- the file -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WheelInfo:
    """What a wheel says it is."""

    name: str
    version: str
    filename_version: str


class NotAWheel(FirmwareError):
    """The file is not a valid ``ukscp`` wheel; the message says why."""


def read_wheel(path: Path, filename: str | None = None) -> WheelInfo:
    """The package name and version of the wheel at ``path`` (PEP 427, core metadata).

    ``filename`` is the wheel's own name (``ukscp-0.2.0-py3-none-any.whl``)
    when ``path`` is a download under another name. NotAWheel names what is
    wrong: the name, the archive, the ``.dist-info`` directory, METADATA.
    """
    name = filename or path.name
    try:
        file_project, file_version, _, _ = parse_wheel_filename(name)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise NotAWheel(f"{name!r} is not a wheel file name: {exc}") from None
    if file_project != canonicalize_name(PACKAGE):
        raise NotAWheel(f"{name!r} is a wheel of {file_project!r}, not of {PACKAGE!r}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise NotAWheel(f"{name!r} is not a zip archive, so not a wheel: {exc}") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        dist_infos = {
            m.filename.split("/", 1)[0]
            for m in members
            if m.filename.count("/") == 1 and m.filename.split("/", 1)[0].endswith(".dist-info")
        }
        if len(dist_infos) != 1:
            raise NotAWheel(
                f"{name!r} has {len(dist_infos)} top-level .dist-info directories, not one"
            )
        dist_info = dist_infos.pop()
        for required in ("METADATA", "WHEEL", "RECORD"):
            if f"{dist_info}/{required}" not in archive.namelist():
                raise NotAWheel(f"{name!r} has no {dist_info}/{required}")
        info = archive.getinfo(f"{dist_info}/METADATA")
        if info.file_size > _MAX_METADATA_BYTES:
            raise NotAWheel(f"{name!r}: METADATA is {info.file_size} bytes, too large")
        try:
            raw = archive.read(info)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise NotAWheel(f"{name!r}: METADATA cannot be read: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotAWheel(f"{name!r}: METADATA is not UTF-8") from None
    metadata = email.parser.Parser().parsestr(text, headersonly=True)
    meta_name, meta_version = metadata.get("Name"), metadata.get("Version")
    if not meta_name or not meta_version:
        raise NotAWheel(f"{name!r}: METADATA has no Name or no Version")
    if canonicalize_name(meta_name) != canonicalize_name(PACKAGE):
        raise NotAWheel(f"{name!r}: METADATA names {meta_name!r}, not {PACKAGE!r}")
    try:
        version = Version(meta_version)
    except InvalidVersion:
        raise NotAWheel(f"{name!r}: METADATA's Version {meta_version!r} is not valid") from None
    if version != file_version:
        raise NotAWheel(
            f"{name!r}: METADATA says version {meta_version}, the file name {file_version}"
        )
    return WheelInfo(meta_name, str(version), str(file_version))


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


# -- the order of the status notifications --------------------------------------------


class Step(StrEnum):
    """What happened in an install, as the shell reports it to :func:`next_status`."""

    DOWNLOAD_WAIT = "download_wait"  # retrieveDateTime is still ahead
    DOWNLOAD_START = "download_start"
    DOWNLOAD_OK = "download_ok"
    DOWNLOAD_GAVE_UP = "download_gave_up"  # every attempt failed
    SIGNATURE_OK = "signature_ok"
    SIGNATURE_BAD = "signature_bad"
    REFUSED = "refused"  # not a ukscp wheel, or an older version
    INSTALL_WAIT = "install_wait"  # installDateTime is still ahead
    INSTALL_START = "install_start"
    INSTALL_OK = "install_ok"  # unpacked into its slot and made active: restart into it
    INSTALL_FAILED = "install_failed"
    # After the restart (reported by the launcher or by the new firmware itself):
    BOOT_OK = "boot_ok"  # the new firmware started and became ready
    BOOT_REFUSED = "boot_refused"  # its slot changed since the install: not started
    BOOT_FAILED = "boot_failed"  # it died (or hung) before becoming ready


S = FirmwareStatus
_BEFORE_DOWNLOAD = (None, S.DOWNLOAD_SCHEDULED)
_VERIFIED = (S.SIGNATURE_VERIFIED, S.INSTALL_SCHEDULED)

TRANSITIONS: Mapping[tuple[FirmwareStatus | None, Step], FirmwareStatus] = MappingProxyType(
    {
        (None, Step.DOWNLOAD_WAIT): S.DOWNLOAD_SCHEDULED,
        **{(at, Step.DOWNLOAD_START): S.DOWNLOADING for at in _BEFORE_DOWNLOAD},
        (S.DOWNLOADING, Step.DOWNLOAD_OK): S.DOWNLOADED,
        (S.DOWNLOADING, Step.DOWNLOAD_GAVE_UP): S.DOWNLOAD_FAILED,
        (S.DOWNLOADED, Step.SIGNATURE_OK): S.SIGNATURE_VERIFIED,
        (S.DOWNLOADED, Step.SIGNATURE_BAD): S.INVALID_SIGNATURE,
        (S.SIGNATURE_VERIFIED, Step.REFUSED): S.INSTALLATION_FAILED,
        (S.SIGNATURE_VERIFIED, Step.INSTALL_WAIT): S.INSTALL_SCHEDULED,
        **{(at, Step.INSTALL_START): S.INSTALLING for at in _VERIFIED},
        (S.INSTALLING, Step.INSTALL_OK): S.INSTALL_REBOOTING,
        (S.INSTALLING, Step.INSTALL_FAILED): S.INSTALLATION_FAILED,
        # OCPP 1.6 security whitepaper ed. 2 / 2.0.1 L01: InstallRebooting before the
        # restart; Installed only once the new firmware runs, from the new firmware.
        (S.INSTALL_REBOOTING, Step.BOOT_OK): S.INSTALLED,
        (S.INSTALL_REBOOTING, Step.BOOT_REFUSED): S.INSTALL_VERIFICATION_FAILED,
        (S.INSTALL_REBOOTING, Step.BOOT_FAILED): S.INSTALLATION_FAILED,
    }
)
"""(last status sent, step) -> the status to send. A pair not listed is a bug of the shell."""

FINAL: frozenset[FirmwareStatus] = frozenset(
    {
        S.DOWNLOAD_FAILED,
        S.INVALID_SIGNATURE,
        S.INSTALLED,
        S.INSTALLATION_FAILED,
        S.INSTALL_VERIFICATION_FAILED,
    }
)
"""After these, the request is over."""


def next_status(current: FirmwareStatus | None, step: Step) -> FirmwareStatus:
    """The status notification for ``step`` after ``current``; ValueError when out of order."""
    status = TRANSITIONS.get((current, step))
    if status is None:
        raise ValueError(f"step {step} cannot follow status {current}")
    return status
