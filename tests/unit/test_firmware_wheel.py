"""One wheel, one verdict: the install and the boot check read a wheel the same way.

The installer reads a download (:func:`read_wheel`) and unpacks it
(:func:`unpack_wheel`); the launcher reads the staged wheel again at every boot
(:meth:`FirmwareSlots.evidence`, judged by :func:`judge_origin`). Each odd wheel
here is taken through all three, so a wheel the install accepts and the boot
refuses (or the other way round) fails a test.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest

from tests.firmware_support import (
    NOW,
    build_wheel,
    install_slot,
    make_root,
    make_signer,
    wheel_filename,
)
from ukscp.firmware.boot import judge_origin
from ukscp.firmware.site import unpack_wheel
from ukscp.firmware.slots import FirmwareSlots, SlotPointer
from ukscp.firmware.wheel import NotAWheel, Wheel, read_wheel

ROOT = make_root()
SIGNER = make_signer(ROOT)
VERSION = "0.2.0"
INSTALLED = "0.1.0"
PACKAGE_FILES = {"ukscp/__init__.py": b'__version__ = "0.2.0"\n'}


def _with_entries(wheel: bytes, entries: dict[str, bytes | None]) -> bytes:
    """``wheel`` with more zip entries (None: a directory entry), RECORD left as it is."""
    buffer = io.BytesIO(wheel)
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, data in entries.items():
            if data is None:
                archive.mkdir(name.rstrip("/"))
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


def _boot_problems(tmp_path: Path, wheel: bytes) -> list[str]:
    """What the boot check finds in a slot holding ``wheel`` (placed there as the installer
    would, had it accepted it: the launcher reads whatever the slot holds)."""
    slots = FirmwareSlots(tmp_path / "boot")
    directory = slots.slot_dir("b")
    directory.mkdir(parents=True)
    (directory / wheel_filename(VERSION)).write_bytes(wheel)
    pointer = SlotPointer(
        slot="b",
        version=VERSION,
        wheel=wheel_filename(VERSION),
        sha256=hashlib.sha256(wheel).hexdigest(),
        request_id=None,
        installed_at=NOW.isoformat(),
    )
    evidence = slots.evidence(pointer)
    problems = judge_origin(evidence, [ROOT.certificate], now=NOW, installed_version=INSTALLED)
    # No origin.json and no site/ here: only what the wheel itself says is of interest.
    return [p for p in problems if "wheel" in p and "origin.json" not in p]


def _refused_everywhere(tmp_path: Path, wheel: bytes, words: str) -> None:
    download = tmp_path / "download.part"
    download.write_bytes(wheel)
    with pytest.raises(NotAWheel, match=re.escape(words)):
        read_wheel(download, wheel_filename(VERSION))
    staged = tmp_path / wheel_filename(VERSION)
    staged.write_bytes(wheel)
    with pytest.raises(NotAWheel, match=re.escape(words)):
        unpack_wheel(staged, tmp_path / "site")
    assert not (tmp_path / "site").exists()
    problems = _boot_problems(tmp_path, wheel)
    assert any(p.startswith("not a ukscp wheel: ") and words in p for p in problems), problems
    assert any(
        p.startswith("not the signed wheel's files: the wheel's RECORD cannot be used")
        and words in p
        for p in problems
    ), problems


def _accepted_everywhere(tmp_path: Path, wheel: bytes) -> FirmwareSlots:
    download = tmp_path / "download.part"
    download.write_bytes(wheel)
    info = read_wheel(download, wheel_filename(VERSION))
    assert (info.name, info.version) == ("ukscp", VERSION)
    slots = FirmwareSlots(tmp_path / "data")
    active = install_slot(slots, wheel, VERSION, signer=SIGNER)
    evidence = slots.evidence(active)
    assert judge_origin(evidence, [ROOT.certificate], now=NOW, installed_version=INSTALLED) == []
    return slots


def test_a_dist_info_spelled_otherwise_but_the_same_when_normalised_is_the_wheel_s(
    tmp_path: Path,
) -> None:
    # PEP 503 names and PEP 440 versions: "UKSCP" is the project ukscp, "0.2" is 0.2.0.
    wheel = build_wheel(PACKAGE_FILES, VERSION, dist_info="UKSCP-0.2.dist-info")
    slots = _accepted_everywhere(tmp_path, wheel)
    site = slots.site_dir("b")
    assert (site / "UKSCP-0.2.dist-info" / "METADATA").is_file()
    assert (site / "ukscp" / "__init__.py").is_file()


def test_a_dist_info_named_for_another_version_is_refused_by_install_and_boot(
    tmp_path: Path,
) -> None:
    wheel = build_wheel(PACKAGE_FILES, VERSION, dist_info="ukscp-0.1.0.dist-info")
    _refused_everywhere(tmp_path, wheel, "is not named for ukscp 0.2.0")


def test_a_dist_info_named_for_another_project_is_refused_by_install_and_boot(
    tmp_path: Path,
) -> None:
    wheel = build_wheel(PACKAGE_FILES, VERSION, dist_info="evil-0.2.0.dist-info")
    _refused_everywhere(tmp_path, wheel, "is not named for ukscp 0.2.0")


@pytest.mark.parametrize(
    "second",
    [
        {"evil-9.dist-info/METADATA": b"Name: evil\nVersion: 9\n"},
        {"evil-9.dist-info/licenses/LICENSE": b"only a file deeper down\n"},
        {"evil-9.dist-info/": None},
    ],
    ids=["a-file-in-it", "only-a-deeper-file", "only-a-directory-entry"],
)
def test_a_second_dist_info_is_refused_by_install_and_boot_however_it_is_packed(
    tmp_path: Path, second: dict[str, bytes | None]
) -> None:
    wheel = _with_entries(build_wheel(PACKAGE_FILES, VERSION), second)
    _refused_everywhere(tmp_path, wheel, "2 top-level .dist-info directories")


def test_a_dist_info_nested_in_the_package_is_a_file_like_any_other(tmp_path: Path) -> None:
    nested = "ukscp/_vendor/thing-1.0.dist-info/METADATA"
    wheel = build_wheel(
        {**PACKAGE_FILES, nested: b"Name: thing\nVersion: 1.0\n"}, VERSION
    )
    with Wheel.open(_write(tmp_path, wheel)) as reader:
        assert reader.dist_info == "ukscp-0.2.0.dist-info"
    slots = _accepted_everywhere(tmp_path, wheel)
    assert (slots.site_dir("b") / nested).read_bytes() == b"Name: thing\nVersion: 1.0\n"


def test_metadata_must_state_the_version_the_names_say(tmp_path: Path) -> None:
    wheel = build_wheel(PACKAGE_FILES, VERSION, metadata_version="0.2.1")
    download = _write(tmp_path, wheel)
    with pytest.raises(NotAWheel, match=r"METADATA says version 0\.2\.1, the file name 0\.2\.0"):
        read_wheel(download)
    problems = _boot_problems(tmp_path, wheel)
    assert any("METADATA says version 0.2.1" in p for p in problems), problems


def _write(tmp_path: Path, wheel: bytes) -> Path:
    path = tmp_path / wheel_filename(VERSION)
    path.write_bytes(wheel)
    return path
