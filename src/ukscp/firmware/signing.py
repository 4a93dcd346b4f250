"""Who signed the firmware: the manufacturer's trust chain and the signature over the file.

Pure decisions, with no I/O:

* :func:`check_signing_certificate`: the signing certificate chains (RFC 5280
  path validation, through any intermediates sent with it) to a manufacturer
  root provisioned on the charger, and is valid now;
* :func:`verify_signature`: the signature over the file's SHA-256 digest is
  the signing key's (RSA-PSS or ECDSA, SHA-256);
* :func:`check_origin`: both of the above for a file already kept (the
  launcher's boot check of a firmware slot, with what the CSMS sent kept beside it).

The asyncio shell that downloads, waits and switches slots is
:mod:`ukscp.firmware.install`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from ukscp.firmware.verdict import FirmwareError, Verdict

MAX_CHAIN_DEPTH = 4


@dataclass(frozen=True, slots=True)
class CertificateVerdict:
    """The outcome of checking a signing certificate; ``certificate`` is the leaf when ok."""

    ok: bool
    reason: str
    certificate: x509.Certificate | None = None


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
