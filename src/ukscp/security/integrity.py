"""Detecting unauthorised change of the charger's software (Schedule 1).

A release is described by a manifest of every file of the installed ``ukscp``
package (path, SHA-256, size) signed with the manufacturer's Ed25519 key. The
charger trusts only the public key set at provisioning. :func:`check` verifies
the signature, then every file, and names each changed, added or missing one.

Manifest format 1 (JSON)::

    {"format": 1, "package": "ukscp", "version": "...",
     "files": [{"path": "app.py", "sha256": "...", "size": 123}, ...],
     "signature": "<base64 Ed25519 over the canonical JSON of all other keys>"}

Canonical JSON: ``json.dumps(body, sort_keys=True, separators=(",", ":"))``,
UTF-8. Compiled bytecode (``__pycache__``, ``*.pyc``) is not part of a release:
Python writes it at run time.

A release may carry its own manifest, as ``release-manifest.json`` at the top of
the package (not listed in itself): firmware installed from the CSMS then brings
the manifest its files are checked against, signed by the same trusted key. The
package's own manifest comes before the one the config file names, which
describes the software installed at the factory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = 1
RELEASE_MANIFEST = "release-manifest.json"
"""The manifest a release carries at the top of its package."""
_CHUNK = 1 << 16


class IntegrityError(Exception):
    """A manifest or key cannot be used at all; the message says why."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a release."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    """The outcome of one check: intact, or what differs."""

    checked_at: datetime
    ok: bool
    signature_valid: bool
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    error: str = ""
    files_checked: int = 0
    version: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """The result in words, naming each file that differs."""
        if self.ok:
            return f"software intact: {self.files_checked} files match release {self.version}"
        if self.error:
            return f"software integrity cannot be confirmed: {self.error}"
        parts = [
            f"{label}: {', '.join(paths)}"
            for label, paths in (
                ("changed", self.changed),
                ("added", self.added),
                ("missing", self.missing),
            )
            if paths
        ]
        return "software changed since release " + self.version + ": " + "; ".join(parts)


def package_root() -> Path:
    """The directory of the installed ``ukscp`` package."""
    return Path(__file__).resolve().parents[1]


def release_manifest(root: Path, configured: Path | None) -> Path | None:
    """The manifest to check ``root`` against: the package's own, else ``configured``."""
    carried = root / RELEASE_MANIFEST
    return carried if carried.is_file() else configured


def _release_files(root: Path) -> Iterator[Path]:
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            path = Path(directory) / name
            if not name.endswith(".pyc") and path != root / RELEASE_MANIFEST:
                yield path


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def scan(root: Path) -> dict[str, FileEntry]:
    """Every release file under ``root`` with its hash and size, by relative path."""
    entries = {}
    for path in _release_files(root):
        relative = path.relative_to(root).as_posix()
        entries[relative] = FileEntry(relative, _digest(path), path.stat().st_size)
    return entries


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def generate_keypair(out_dir: Path) -> tuple[Path, Path]:
    """Write ``release.key`` (private, PEM, 0600) and ``release.pub`` (public, PEM)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = out_dir / "release.key", out_dir / "release.pub"
    if key_path.exists():
        raise IntegrityError(f"{key_path} exists: refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(private)
    pub_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_path, pub_path


def _load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise IntegrityError(f"{path}: not a usable private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IntegrityError(f"{path}: the release key must be Ed25519")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The trusted release key, or IntegrityError in words."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path}: not a usable public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise IntegrityError(f"{path}: the release key must be Ed25519")
    return key


def sign_release(root: Path, key_path: Path, out: Path, version: str) -> int:
    """Write the signed manifest of the files under ``root``; returns the file count."""
    key = _load_private(key_path)
    files = scan(root)
    body: dict[str, Any] = {
        "format": FORMAT,
        "package": "ukscp",
        "version": version,
        "files": [
            {"path": e.path, "sha256": e.sha256, "size": e.size} for e in files.values()
        ],
    }
    signature = base64.b64encode(key.sign(_canonical(body))).decode("ascii")
    out.write_text(json.dumps({**body, "signature": signature}, indent=1) + "\n")
    return len(files)


def _read_manifest(path: Path, key: Ed25519PublicKey) -> tuple[dict[str, FileEntry], str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path}: cannot read the manifest: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise IntegrityError(f"{path}: not a ukscp release manifest (format {FORMAT})")
    signature = document.pop("signature", None)
    try:
        key.verify(base64.b64decode(str(signature), validate=True), _canonical(document))
    except (InvalidSignature, ValueError):
        raise IntegrityError(
            f"{path}: the manifest's signature does not match the trusted release key"
        ) from None
    try:
        entries = {
            str(item["path"]): FileEntry(str(item["path"]), str(item["sha256"]), int(item["size"]))
            for item in document["files"]
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"{path}: malformed file list: {exc}") from None
    return entries, str(document.get("version", ""))


def check(root: Path, manifest: Path, public_key: Path, now: datetime) -> IntegrityReport:
    """Verify the signed manifest, then every file under ``root`` against it."""
    try:
        expected, version = _read_manifest(manifest, load_public_key(public_key))
    except IntegrityError as exc:
        return IntegrityReport(checked_at=now, ok=False, signature_valid=False, error=str(exc))
    actual = scan(root)
    changed = tuple(
        sorted(
            path
            for path, entry in expected.items()
            if path in actual and actual[path] != entry
        )
    )
    added = tuple(sorted(set(actual) - set(expected)))
    missing = tuple(sorted(set(expected) - set(actual)))
    return IntegrityReport(
        checked_at=now,
        ok=not (changed or added or missing),
        signature_valid=True,
        changed=changed,
        added=added,
        missing=missing,
        files_checked=len(actual),
        version=version,
    )
