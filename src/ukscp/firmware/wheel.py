"""Reading a firmware file: it is a ``ukscp`` wheel, and which version it holds."""

from __future__ import annotations

import email.parser
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from ukscp.firmware.verdict import FirmwareError

PACKAGE = "ukscp"
# A wheel's METADATA is a few kilobytes; a huge one is not ours.
_MAX_METADATA_BYTES = 1 << 20


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
