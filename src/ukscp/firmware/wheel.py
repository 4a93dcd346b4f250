"""Reading a firmware file: the one wheel reader of the install and of the boot check.

A wheel (PEP 427, the binary distribution format) is a zip archive whose
metadata lives in one directory at its root, named
``{distribution}-{version}.dist-info``. The installer reads what a download
says it is (:func:`read_wheel`) and unpacks it (:meth:`Wheel.files`); the
launcher reads the staged wheel again at every boot (:meth:`Wheel.info`,
:meth:`Wheel.expected_digests`). All of them go through :class:`Wheel`, so a
wheel is never one thing to the installer and another to the launcher:

* the file name must be a wheel's name (``ukscp-<version>-<tags>.whl``) of the
  ``ukscp`` project;
* the ``.dist-info`` directory is the first part of any entry's path that ends
  in ``.dist-info`` (a file in it, a file deeper in it, or the directory entry
  alone), and there must be exactly one; a ``.dist-info`` further down
  (``ukscp/vendored-1.0.dist-info/``) is a file of the package like any other;
* its name must be the wheel's ``{distribution}-{version}``, compared
  normalised: the distribution as PEP 503 names compare
  (``packaging.utils.canonicalize_name``: ``UKSCP`` and ``ukscp`` are one
  project), the version as PEP 440 versions compare (``0.2`` is ``0.2.0``);
* METADATA must name the same project and version, and be at most
  :data:`MAX_METADATA_BYTES`;
* every file is a plain relative path under ``ukscp/`` or the ``.dist-info``
  directory (no absolute path, no ``..``, no backslash, no link, no
  ``.data`` directory), listed in RECORD with its SHA-256, and all of them
  together at most :data:`MAX_UNPACKED_BYTES`.

:exc:`NotAWheel` names what is wrong, in words.
"""

from __future__ import annotations

import base64
import email.parser
import hashlib
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from ukscp.firmware.verdict import FirmwareError

PACKAGE = "ukscp"
PACKAGE_DIR = "ukscp"  # the import package: all a ukscp wheel holds besides its metadata
DIST_INFO_SUFFIX = ".dist-info"
# A wheel's METADATA is a few kilobytes; a huge one is not ours.
MAX_METADATA_BYTES = 1 << 20
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # a ukscp wheel unpacks to a few MiB: no zip bomb
# RECORD cannot hold its own hash, nor that of its signature (PEP 427).
UNHASHED = ("RECORD", "RECORD.jws", "RECORD.p7s")


class NotAWheel(FirmwareError):
    """The file is not a valid ``ukscp`` wheel; the message says why."""


@dataclass(frozen=True, slots=True)
class WheelInfo:
    """What a wheel says it is."""

    name: str
    version: str
    filename_version: str


@dataclass(frozen=True, slots=True)
class WheelFile:
    """One file of the wheel, checked: where it goes, and the SHA-256 RECORD gives it."""

    path: PurePosixPath  # relative, inside ukscp/ or the .dist-info directory
    member: zipfile.ZipInfo
    sha256: str | None  # hex; None only for RECORD and its signatures, which RECORD cannot hash


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


def _record_digest(text: str) -> str | None:
    """The hex SHA-256 of a RECORD hash field (``sha256=<urlsafe b64>``), or None."""
    algorithm, _, value = text.partition("=")
    if algorithm != "sha256" or not value:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
    except ValueError:  # binascii.Error included
        return None


def _dist_info_names(names: list[str]) -> set[str]:
    """Every ``.dist-info`` directory at the root of an archive with entries ``names``.

    Any entry counts (a file in it, a file deeper in it, the directory entry
    alone), so a second ``.dist-info`` is seen however it is packed.
    """
    roots = {name.split("/", 1)[0] for name in names}
    return {root for root in roots if root.endswith(DIST_INFO_SUFFIX)}


class Wheel:
    """An open ``ukscp`` wheel whose name and ``.dist-info`` directory have been checked.

    Open it with :meth:`open` in a ``with`` block; see the module docstring
    for the rules.
    """

    def __init__(
        self, archive: zipfile.ZipFile, label: str, version: Version, dist_info: str
    ) -> None:
        self._archive = archive
        self._label = label  # the wheel's file name, quoted, for the messages
        self._version = version  # from the file name
        self._dist_info = dist_info
        self._names = set(archive.namelist())

    @classmethod
    def open(cls, path: Path, filename: str | None = None) -> Wheel:
        """Open the wheel at ``path``; NotAWheel if its name or ``.dist-info`` is not a wheel's.

        ``filename`` is the wheel's own name (``ukscp-0.2.0-py3-none-any.whl``)
        when ``path`` is a download under another name.
        """
        name = filename or path.name
        label = repr(name)
        try:
            project, version, _, _ = parse_wheel_filename(name)
        except (InvalidWheelFilename, InvalidVersion) as exc:
            raise NotAWheel(f"{label} is not a wheel file name: {exc}") from None
        if project != canonicalize_name(PACKAGE):
            raise NotAWheel(f"{label} is a wheel of {project!r}, not of {PACKAGE!r}")
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise NotAWheel(f"{label} is not a zip archive, so not a wheel: {exc}") from None
        try:
            dist_info = _dist_info(archive, label, project, version)
        except BaseException:
            archive.close()
            raise
        return cls(archive, label, version, dist_info)

    def close(self) -> None:
        """Close the archive."""
        self._archive.close()

    def __enter__(self) -> Wheel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def dist_info(self) -> str:
        """The name of the wheel's ``.dist-info`` directory, as it is in the archive."""
        return self._dist_info

    def info(self) -> WheelInfo:
        """The package name and version, from METADATA (checked against the file name)."""
        for required in ("METADATA", "WHEEL", "RECORD"):
            if f"{self._dist_info}/{required}" not in self._names:
                raise NotAWheel(f"{self._label} has no {self._dist_info}/{required}")
        info = self._archive.getinfo(f"{self._dist_info}/METADATA")
        if info.file_size > MAX_METADATA_BYTES:
            raise NotAWheel(f"{self._label}: METADATA is {info.file_size} bytes, too large")
        try:
            raw = self._archive.read(info)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise NotAWheel(f"{self._label}: METADATA cannot be read: {exc}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NotAWheel(f"{self._label}: METADATA is not UTF-8") from None
        metadata = email.parser.Parser().parsestr(text, headersonly=True)
        meta_name, meta_version = metadata.get("Name"), metadata.get("Version")
        if not meta_name or not meta_version:
            raise NotAWheel(f"{self._label}: METADATA has no Name or no Version")
        if canonicalize_name(meta_name) != canonicalize_name(PACKAGE):
            raise NotAWheel(f"{self._label}: METADATA names {meta_name!r}, not {PACKAGE!r}")
        try:
            version = Version(meta_version)
        except InvalidVersion:
            raise NotAWheel(
                f"{self._label}: METADATA's Version {meta_version!r} is not valid"
            ) from None
        if version != self._version:
            raise NotAWheel(
                f"{self._label}: METADATA says version {meta_version},"
                f" the file name {self._version}"
            )
        return WheelInfo(meta_name, str(version), str(self._version))

    def record(self) -> dict[str, str | None]:
        """RECORD as {path: hex SHA-256, or None (RECORD itself, or an entry with no hash)}."""
        name = f"{self._dist_info}/RECORD"
        try:
            text = self._archive.read(name).decode("utf-8")
        except (KeyError, UnicodeDecodeError, zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise NotAWheel(f"{name} cannot be read: {exc}") from None
        return parse_record(text)

    def files(self) -> list[WheelFile]:
        """Every file of the wheel, each checked before any is written (PEP 427).

        A plain relative path under ``ukscp/`` or the ``.dist-info/``, no link,
        no ``.data`` directory, not twice, listed in RECORD with a SHA-256
        (RECORD and its signatures aside), and not more than
        :data:`MAX_UNPACKED_BYTES` in all.
        """
        record = self.record()
        unhashed = self._unhashed()
        total = 0
        files: dict[str, WheelFile] = {}
        for member in self._archive.infolist():
            if member.is_dir():
                continue
            path = self._member_path(member.filename)
            if stat.S_ISLNK(member.external_attr >> 16):
                raise NotAWheel(f"member {member.filename!r} is a link")
            if member.filename in files:
                raise NotAWheel(f"member {member.filename!r} appears twice")
            total += member.file_size
            if total > MAX_UNPACKED_BYTES:
                raise NotAWheel(f"{self._label} unpacks to over {MAX_UNPACKED_BYTES} bytes")
            if member.filename not in record and member.filename not in unhashed:
                raise NotAWheel(f"member {member.filename!r} is not listed in RECORD")
            digest = record.get(member.filename)
            if digest is None and member.filename not in unhashed:
                raise NotAWheel(f"member {member.filename!r} has no sha256 in RECORD")
            files[member.filename] = WheelFile(path, member, digest)
        return list(files.values())

    def open_file(self, file: WheelFile) -> IO[bytes]:
        """The contents of ``file``, to read."""
        return self._archive.open(file.member)

    def expected_digests(self) -> dict[str, str]:
        """Every file the wheel's RECORD lists and the hex SHA-256 it must have unpacked.

        The entries RECORD cannot hash (itself, its signature) get the digest of
        the member in the wheel, so the unpacked copy must be that member. An
        entry with no hash that is not one of those is refused, as
        :meth:`files` refuses it.
        """
        unhashed = self._unhashed()
        expected: dict[str, str] = {}
        for path, digest in self.record().items():
            if digest is not None:
                expected[path] = digest
            elif path in unhashed and path in self._names:
                try:
                    expected[path] = hashlib.sha256(self._archive.read(path)).hexdigest()
                except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                    raise NotAWheel(f"{path} cannot be read: {exc}") from None
            elif path not in unhashed:
                raise NotAWheel(f"{path} has no sha256 in RECORD")
        return expected

    def _unhashed(self) -> set[str]:
        return {f"{self._dist_info}/{name}" for name in UNHASHED}

    def _member_path(self, name: str) -> PurePosixPath:
        """The relative path of a member, refused if it could leave the directory it goes to."""
        if not name or "\\" in name or "\x00" in name:
            raise NotAWheel(f"member {name!r}: not a plain relative path")
        path = PurePosixPath(name)
        if path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
            raise NotAWheel(f"member {name!r} would leave the slot")
        if path.parts[0] not in (PACKAGE_DIR, self._dist_info) or len(path.parts) < 2:
            raise NotAWheel(
                f"member {name!r} is outside {PACKAGE_DIR}/ and {self._dist_info}/ (a pure-Python "
                "ukscp wheel holds nothing else)"
            )
        return path


def _dist_info(archive: zipfile.ZipFile, label: str, project: str, version: Version) -> str:
    """The one ``.dist-info`` directory at the archive's root, named for ``project`` ``version``."""
    found = _dist_info_names(archive.namelist())
    if len(found) != 1:
        listed = f": {', '.join(sorted(found))}" if found else ""
        raise NotAWheel(
            f"{label} has {len(found)} top-level .dist-info directories, not one{listed}"
        )
    dist_info = found.pop()
    stem = dist_info.removesuffix(DIST_INFO_SUFFIX)
    dist_name, _, dist_version = stem.rpartition("-")
    try:
        named = canonicalize_name(dist_name) == project and Version(dist_version) == version
    except InvalidVersion:
        named = False
    if not named:
        raise NotAWheel(
            f"{label}: its {dist_info!r} is not named for {project} {version}"
            " (a wheel's is {distribution}-{version}.dist-info)"
        )
    return dist_info


def read_wheel(path: Path, filename: str | None = None) -> WheelInfo:
    """The package name and version of the wheel at ``path`` (PEP 427, core metadata).

    ``filename`` is the wheel's own name when ``path`` is a download under
    another name. NotAWheel names what is wrong: the name, the archive, the
    ``.dist-info`` directory, METADATA.
    """
    with Wheel.open(path, filename) as wheel:
        return wheel.info()
