"""A slot's ``site/``: the wheel unpacked, and the record of every file in it.

:func:`unpack_wheel` unpacks a pure-Python ``ukscp`` wheel with the standard
library's ``zipfile``, every member checked first by the one wheel reader
(:class:`~ukscp.firmware.wheel.Wheel`); :func:`site_digests` lists what a
``site/`` holds and :func:`compare_files` names what differs from a record of
it (``site.json``, or the wheel's RECORD).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from ukscp.firmware.wheel import NotAWheel, Wheel, WheelFile

_CHUNK = 1 << 16


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def unpack_wheel(wheel: Path, site: Path) -> dict[str, str]:
    """Unpack the pure-Python ukscp ``wheel`` into the new directory ``site``.

    Every member is checked before anything is written
    (:meth:`~ukscp.firmware.wheel.Wheel.files`). Nothing is byte-compiled:
    ``site/`` holds exactly the wheel's files, so the launcher can check it
    against the signed RECORD (a ``.pyc`` is code the manufacturer never
    signed; the launcher gives the child a bytecode cache of its own).
    Returns the manifest: each file's path relative to ``site`` (POSIX) and
    its SHA-256. NotAWheel says what is wrong; ``site`` is removed then.
    """
    with Wheel.open(wheel) as reader:
        files = reader.files()
        site.mkdir(parents=True, mode=0o700)
        try:
            for file in files:
                _extract(reader, file, site.joinpath(*file.path.parts))
        except BaseException:
            shutil.rmtree(site, ignore_errors=True)
            raise
    return site_digests(site)


def _extract(reader: Wheel, file: WheelFile, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256()
    with reader.open_file(file) as source, target.open("xb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    target.chmod(0o600)
    if file.sha256 is not None and digest.hexdigest() != file.sha256:
        raise NotAWheel(f"member {file.member.filename!r} does not match its RECORD hash")


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
