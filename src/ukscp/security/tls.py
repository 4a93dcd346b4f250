"""The per-device TLS certificate of the local web page, and its server context.

No two chargers share a key: each makes its own ECDSA P-256 key and a
self-signed certificate on first start (``data_dir/tls/``), and keeps them.
The owner's browser will warn once (no public CA can vouch for a device on a
home network); :func:`certificate_fingerprint` gives the SHA-256 fingerprint
to print on the console so the owner can check what the browser shows.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ukscp.clock import Clock
from ukscp.files import write_atomically
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)

TLS_DIR = "tls"
CERT_FILE = "device-cert.pem"
KEY_FILE = "device-key.pem"
VALIDITY = timedelta(days=3650)
# Starts a day early: a browser whose clock is a little behind still accepts it.
_BACKDATE = timedelta(days=1)
# Always present, so the page works on the device itself and in tests.
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

_San: TypeAlias = x509.DNSName | x509.IPAddress


def ensure_device_certificate(
    data_dir: Path,
    hostnames: list[str],
    clock: Clock,
    *,
    seclog: SecurityLog | None = None,
) -> tuple[Path, Path]:
    """Paths of this device's certificate and key, made on first call and reused after.

    The certificate names every entry of ``hostnames`` (DNS names or IP
    addresses; unspecified addresses such as 0.0.0.0 are skipped) plus
    localhost, 127.0.0.1 and ::1. A new key and certificate are made when
    either file is missing or unreadable, they do not belong together, the
    certificate has expired, or it lacks one of the names; the reason is
    logged (and written to ``seclog`` if given). The key file is 0600.
    """
    tls_dir = data_dir / TLS_DIR
    cert_path, key_path = tls_dir / CERT_FILE, tls_dir / KEY_FILE
    names = _subject_alt_names([*hostnames, *_LOOPBACK_NAMES])
    now = clock.now().astimezone(UTC)
    problem = _problem(cert_path, key_path, names, now)
    if problem is None:
        _tighten_key_mode(key_path)
        return cert_path, key_path
    # The first start makes one as a matter of course; any other reason is worth a warning.
    first = not cert_path.exists() and not key_path.exists()
    level = logging.INFO if first else logging.WARNING
    _log.log(level, "making a new device certificate: %s", problem)
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key, names, now)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        # Unencrypted: the charger must start unattended. The file mode protects it.
        serialization.NoEncryption(),
    )
    # The key first: a crash in between leaves a mismatch, which the next call repairs.
    write_atomically(key_path, key_pem, 0o600)
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o600)
    fingerprint = certificate_fingerprint(cert_path)
    if seclog is not None:
        seclog.record(
            SecurityEventType.DEVICE_CERTIFICATE_GENERATED,
            f"{problem}; SHA-256 {fingerprint}",
        )
    return cert_path, key_path


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context for the local web page: TLS 1.2 at least, our certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Client-initiated renegotiation is a denial-of-service lever and nobody needs it.
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(certfile=cert, keyfile=key)
    return context


def certificate_fingerprint(cert: Path) -> str:
    """SHA-256 fingerprint of the certificate, as browsers show it (``AB:CD:...``)."""
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    return loaded.fingerprint(hashes.SHA256()).hex(":").upper()


def _subject_alt_names(hostnames: list[str]) -> list[_San]:
    names: list[_San] = []
    for raw in hostnames:
        name = raw.strip().strip("[]").rstrip(".")
        if not name:
            continue
        san: _San
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            try:
                # Certificates carry A-labels: a non-ASCII name goes in as punycode.
                san = x509.DNSName(name.lower().encode("idna").decode("ascii"))
            except (UnicodeError, ValueError):
                _log.warning("not a usable host name for the certificate: %r", raw)
                continue
        else:
            if address.is_unspecified:
                continue  # "listen everywhere" is not an address a browser visits
            san = x509.IPAddress(address)
        if san not in names:
            names.append(san)
    return names


def _problem(cert_path: Path, key_path: Path, names: list[_San], now: datetime) -> str | None:
    """Why the stored certificate cannot be reused, or None if it can."""
    if not cert_path.is_file() or not key_path.is_file():
        return "no device certificate yet"
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (ValueError, TypeError, OSError) as exc:
        return f"stored certificate or key unreadable ({exc})"
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        return "stored key is not ECDSA P-256"
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*public) != cert.public_key().public_bytes(*public):
        return "stored certificate does not match the stored key"
    if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
        return f"stored certificate is not valid at {now.isoformat()}"
    try:
        present = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "stored certificate names no hosts"
    missing = [str(n.value) for n in names if n not in present]
    if missing:
        return f"stored certificate lacks {', '.join(missing)}"
    return None


def _self_signed(
    key: ec.EllipticCurvePrivateKey, names: list[_San], now: datetime
) -> x509.Certificate:
    dns = [n.value for n in names if isinstance(n, x509.DNSName)]
    common_name = next((d for d in dns if d != "localhost"), "ukscp charge point")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ukscp"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _tighten_key_mode(key_path: Path) -> None:
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if mode & 0o077:
        _log.warning("device key %s was readable by others (%o); now 0600", key_path, mode)
        key_path.chmod(0o600)
