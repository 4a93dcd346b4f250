"""Test material for signed firmware: a manufacturer PKI, signatures, ukscp wheels, a server.

Everything is made in the test with ``cryptography`` and ``zipfile``: a
manufacturer root, a firmware-signing certificate it issues (RSA or EC), an
untrusted root with its own signer, an expired signer, wheels with a METADATA
file, a wheel of the whole installed package at another version, and an HTTP
server on 127.0.0.1 that serves them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime(2026, 1, 5, tzinfo=UTC)  # the VirtualClock's default start

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Chargers Ltd"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _ski(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


@dataclass
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def make_root(
    common_name: str = "Manufacturer Firmware Root",
    kind: str = "ec",
    *,
    issuer: Issued | None = None,
    path_length: int = 1,
) -> Issued:
    """A self-signed root CA, or with ``issuer`` an intermediate CA under it."""
    key = _key(kind)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name) if issuer is None else issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(_ski(key), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    signing_key = key if issuer is None else issuer.key
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


def make_signer(
    issuer: Issued,
    kind: str = "ec",
    *,
    common_name: str = "Firmware Signing 2026",
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=365),
) -> Issued:
    key = _key(kind)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )
    return Issued(certificate, key)


def sign(signer: Issued, data: bytes) -> str:
    """Base64 signature over ``data``: RSA-PSS or ECDSA, SHA-256, as OCPP asks."""
    key = signer.key
    if isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(
            data,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    else:
        raw = key.sign(data, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(raw).decode("ascii")


def wheel_bytes(version: str, *, name: str = "ukscp", metadata: bool = True) -> bytes:
    """A small but real wheel: a module, METADATA, WHEEL and RECORD."""
    files = {f"{name}/__init__.py": f'__version__ = "{version}"\n'.encode()}
    return build_wheel(files, version, name=name, metadata=metadata)


def build_wheel(
    files: dict[str, bytes],
    version: str,
    *,
    name: str = "ukscp",
    metadata: bool = True,
    dist_info: str | None = None,
    metadata_version: str | None = None,
) -> bytes:
    """A wheel of ``files`` (paths inside the wheel) with its dist-info and a true RECORD.

    ``dist_info`` names the ``.dist-info`` directory (by default
    ``{name}-{version}.dist-info``); ``metadata_version`` is the Version METADATA
    states (by default ``version``).
    """
    dist_info = dist_info or f"{name}-{version}.dist-info"
    files = {
        **files,
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: ukscp-tests\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    if metadata:
        files[f"{dist_info}/METADATA"] = (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {metadata_version or version}\n"
            "Summary: test firmware\n".encode()
        )
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    )
    files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


def package_wheel(version: str, *, changes: dict[str, bytes] | None = None) -> bytes:
    """A wheel of the whole installed ukscp package, its ``__version__`` set to ``version``.

    ``changes`` replaces files (paths inside the package, e.g. ``"cli.py"``).
    """
    from ukscp.security.integrity import package_root

    root = package_root()
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"ukscp/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    init = files["ukscp/__init__.py"].decode()
    prefix, _, rest = init.partition("__version__ = ")
    files["ukscp/__init__.py"] = (
        prefix + f'__version__ = "{version}"' + rest[rest.index("\n") :]
    ).encode()
    for relative, data in (changes or {}).items():
        files[f"ukscp/{relative}"] = data
    return build_wheel(files, version)


def wheel_filename(version: str, name: str = "ukscp") -> str:
    return f"{name}-{version}-py3-none-any.whl"


def write_root(path: Path, *roots: Issued) -> Path:
    path.write_text("".join(root.pem for root in roots))
    return path


# ----------------------------------------------------------------------------- file server


class Monotonic(Protocol):
    """A clock the hits are timed on (a VirtualClock, or the ``time`` module)."""

    def monotonic(self) -> float: ...


@dataclass
class FirmwareServer:
    """Serves ``files`` over plain HTTP on 127.0.0.1; the first ``failures`` GETs get a 503."""

    clock: Monotonic
    files: dict[str, bytes] = field(default_factory=dict)
    failures: int = 0
    hits: list[tuple[str, float, int]] = field(default_factory=list)  # path, virtual s, status
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = owner.files.get(self.path)
                status = 200 if body is not None else 404
                if owner.failures > 0:
                    owner.failures -= 1
                    status = 503
                owner.hits.append((self.path, owner.clock.monotonic(), status))
                self.send_response(status)
                payload = body if status == 200 and body is not None else b""
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/fw/{name}"

    def publish(self, name: str, data: bytes) -> str:
        self.files[f"/fw/{name}"] = data
        return self.url(name)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# ----------------------------------------------------------------------------- slots


def install_slot(
    slots: Any,
    wheel: bytes,
    version: str,
    *,
    signer: Issued,
    request_id: int | None = 7,
    installed_at: datetime = NOW,
) -> Any:
    """A slot as the installer leaves it before its restart (the installer's own calls)."""
    from ukscp.firmware.slots import SlotOrigin, SlotPointer

    download = slots.incoming / f"request-{request_id}.part"
    download.write_bytes(wheel)
    origin = SlotOrigin(signer.pem, sign(signer, wheel))
    slot, staged = slots.stage(download, wheel_filename(version), origin)
    site_digest = slots.make_runnable(slot, staged)
    pointer = SlotPointer(
        slot=slot,
        version=version,
        wheel=staged.name,
        sha256=hashlib.sha256(wheel).hexdigest(),
        request_id=request_id,
        installed_at=installed_at.isoformat(),
        site_sha256=site_digest,
    )
    slots.switch(pointer)
    return slots.active()


def rerecord(slots: Any) -> Any:
    """An attacker's finishing touch: ``site.json`` and the pointer rewritten to match
    whatever the active slot now holds (wheel and files), so the recorded digests agree."""
    from dataclasses import replace

    from ukscp.firmware.site import manifest_bytes, site_digests

    active = slots.active()
    data = manifest_bytes(site_digests(slots.site_dir(active.slot)))
    slots.manifest_path(active.slot).write_bytes(data)
    wheel = slots.slot_dir(active.slot) / active.wheel
    forged = replace(
        active,
        sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        site_sha256=hashlib.sha256(data).hexdigest(),
    )
    (slots.root / "active.json").write_text(json.dumps(forged.as_dict()))
    assert slots.verify(slots.active()) == []  # the recorded digests now agree
    return slots.active()


def forge_slot(
    slots: Any,
    wheel: bytes,
    *,
    certificate: str,
    signature: str,
) -> Any:
    """An attacker replaces the active slot whole: their wheel, unpacked, with the
    certificate and signature they choose, and every recorded digest made to match."""
    import shutil

    from ukscp.firmware.site import unpack_wheel
    from ukscp.firmware.slots import SlotOrigin

    active = slots.active()
    directory = slots.slot_dir(active.slot)
    (directory / active.wheel).write_bytes(wheel)
    slots.origin_path(active.slot).write_bytes(SlotOrigin(certificate, signature).as_bytes())
    shutil.rmtree(slots.site_dir(active.slot))
    unpack_wheel(directory / active.wheel, slots.site_dir(active.slot))
    return rerecord(slots)
