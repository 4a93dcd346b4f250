"""A slot's ``site/``: the wheel unpacked, and the record of every file in it.

:func:`unpack_wheel` unpacks a pure-Python ``ukscp`` wheel with the standard
library's ``zipfile``, every member checked first; :func:`site_digests` lists
what a ``site/`` holds and :func:`compare_files` names what differs from a
record of it (``site.json``, or the wheel's RECORD).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

PACKAGE_DIR = "ukscp"
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # a ukscp wheel unpacks to a few MiB: no zip bomb
_CHUNK = 1 << 16


class UnpackError(ValueError):
    """The wheel cannot be unpacked as a pure-Python ukscp wheel; the message says why."""



def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _record_digest(text: str) -> str | None:
    """The hex SHA-256 of a RECORD hash field (``sha256=<urlsafe b64>``), or None."""
    algorithm, _, value = text.partition("=")
    if algorithm != "sha256" or not value:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
    except ValueError:  # binascii.Error included
        return None


def _member_path(name: str, dist_info: str) -> PurePosixPath:
    """The relative path of a wheel member, refused if it could leave the site directory."""
    if not name or "\\" in name or "\x00" in name:
        raise UnpackError(f"member {name!r}: not a plain relative path")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        raise UnpackError(f"member {name!r} would leave the slot")
    if path.parts[0] not in (PACKAGE_DIR, dist_info) or len(path.parts) < 2:
        raise UnpackError(
            f"member {name!r} is outside {PACKAGE_DIR}/ and {dist_info}/ (a pure-Python "
            "ukscp wheel holds nothing else)"
        )
    return path


def unpack_wheel(wheel: Path, site: Path) -> dict[str, str]:
    """Unpack the pure-Python ukscp ``wheel`` into the new directory ``site``.

    Every member is checked before anything is written (PEP 427): a plain
    relative path under ``ukscp/`` or the one ``.dist-info/``, no link, no
    ``.data`` directory, listed in RECORD with the SHA-256 the file has, and
    not more than :data:`MAX_UNPACKED_BYTES` in all. Nothing is byte-compiled:
    ``site/`` holds exactly the wheel's files, so the launcher can check it
    against the signed RECORD (a ``.pyc`` is code the manufacturer never
    signed; the launcher gives the child a bytecode cache of its own).
    Returns the manifest: each file's path relative to ``site`` (POSIX) and
    its SHA-256. UnpackError says what is wrong; ``site`` is removed then.
    """
    try:
        archive = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnpackError(f"{wheel.name}: not a zip archive: {exc}") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        dist_infos = {
            m.filename.split("/", 1)[0]
            for m in members
            if m.filename.split("/", 1)[0].endswith(".dist-info")
        }
        if len(dist_infos) != 1:
            raise UnpackError(f"{wheel.name}: {len(dist_infos)} .dist-info directories, not one")
        dist_info = dist_infos.pop()
        record = _read_record(archive, dist_info)
        # RECORD cannot hold its own hash, nor that of its signature (PEP 427).
        unhashed = {f"{dist_info}/{name}" for name in ("RECORD", "RECORD.jws", "RECORD.p7s")}
        total = 0
        paths: dict[str, tuple[PurePosixPath, zipfile.ZipInfo]] = {}
        for member in members:
            path = _member_path(member.filename, dist_info)
            if stat.S_ISLNK(member.external_attr >> 16):
                raise UnpackError(f"member {member.filename!r} is a link")
            if member.filename in paths:
                raise UnpackError(f"member {member.filename!r} appears twice")
            total += member.file_size
            if total > MAX_UNPACKED_BYTES:
                raise UnpackError(f"{wheel.name} unpacks to over {MAX_UNPACKED_BYTES} bytes")
            if member.filename not in record and member.filename not in unhashed:
                raise UnpackError(f"member {member.filename!r} is not listed in RECORD")
            paths[member.filename] = (path, member)
        site.mkdir(parents=True, mode=0o700)
        try:
            for name, (path, member) in paths.items():
                _extract(
                    archive, member, site.joinpath(*path.parts), record.get(name), name in unhashed
                )
        except BaseException:
            shutil.rmtree(site, ignore_errors=True)
            raise
    return site_digests(site)


def _read_record(archive: zipfile.ZipFile, dist_info: str) -> dict[str, str | None]:
    """RECORD as {path: hex SHA-256 or None (RECORD itself)}."""
    try:
        text = archive.read(f"{dist_info}/RECORD").decode("utf-8")
    except (KeyError, UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
        raise UnpackError(f"{dist_info}/RECORD cannot be read: {exc}") from None
    return parse_record(text)


def parse_record(text: str) -> dict[str, str | None]:
    """A wheel's RECORD (PEP 376/427) as {path: hex SHA-256, or None when it has none}."""
    record: dict[str, str | None] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, rest = line.partition(",")
        hash_field = rest.partition(",")[0]
        record[name] = _record_digest(hash_field) if hash_field else None
    return record


def _extract(
    archive: zipfile.ZipFile,
    member: zipfile.ZipInfo,
    target: Path,
    expected: str | None,
    unhashed: bool,
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256()
    with archive.open(member) as source, target.open("xb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    target.chmod(0o600)
    if expected is None and not unhashed:
        raise UnpackError(f"member {member.filename!r} has no sha256 in RECORD")
    if expected is not None and digest.hexdigest() != expected:
        raise UnpackError(f"member {member.filename!r} does not match its RECORD hash")


def wheel_record(wheel: Path) -> dict[str, str]:
    """Every file the wheel's RECORD lists and the hex SHA-256 it must have unpacked.

    The entries RECORD cannot hash (itself, its signature) get the digest of
    the member in the wheel, so the unpacked copy must be that member. An
    entry with no hash that is not one of those is refused (UnpackError),
    as :func:`unpack_wheel` refuses it.
    """
    try:
        archive = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnpackError(f"{wheel.name}: not a zip archive: {exc}") from None
    with archive:
        dist_infos = {
            name.split("/", 1)[0]
            for name in archive.namelist()
            if name.split("/", 1)[0].endswith(".dist-info")
        }
        if len(dist_infos) != 1:
            raise UnpackError(f"{wheel.name}: {len(dist_infos)} .dist-info directories, not one")
        dist_info = dist_infos.pop()
        unhashed = {f"{dist_info}/{name}" for name in ("RECORD", "RECORD.jws", "RECORD.p7s")}
        expected: dict[str, str] = {}
        for path, digest in _read_record(archive, dist_info).items():
            if digest is not None:
                expected[path] = digest
            elif path in unhashed and path in archive.namelist():
                try:
                    expected[path] = hashlib.sha256(archive.read(path)).hexdigest()
                except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                    raise UnpackError(f"{path} cannot be read: {exc}") from None
            elif path not in unhashed:
                raise UnpackError(f"{path} has no sha256 in RECORD")
    return expected


def site_digests(site: Path) -> dict[str, str]:
    """Every entry under ``site``: its POSIX relative path and SHA-256.

    Anything that is not a regular file or a directory (a link, a device) is
    listed with the digest ``"not a regular file"``, so it never matches.
    """
    found: dict[str, str] = {}
    for directory, dirnames, filenames in os.walk(site, followlinks=False):
        base = Path(directory)
        for name in [*filenames, *[d for d in dirnames if (base / d).is_symlink()]]:
            path = base / name
            relative = path.relative_to(site).as_posix()
            mode = path.lstat().st_mode
            found[relative] = sha256_file(path) if stat.S_ISREG(mode) else "not a regular file"
    return dict(sorted(found.items()))


def manifest_bytes(files: Mapping[str, str]) -> bytes:
    """The canonical ``site.json`` for ``files``."""
    return (json.dumps({"files": dict(sorted(files.items()))}, indent=1) + "\n").encode()


def compare_files(recorded: Mapping[str, str], found: Mapping[str, str]) -> list[str]:
    """Each path that was changed, added or removed since ``recorded``, in words, sorted."""
    problems = [
        f"changed: {path}" for path in recorded if path in found and found[path] != recorded[path]
    ]
    problems += [f"added: {path}" for path in found if path not in recorded]
    problems += [f"missing: {path}" for path in recorded if path not in found]
    return sorted(problems, key=lambda problem: problem.split(": ", 1)[1])
