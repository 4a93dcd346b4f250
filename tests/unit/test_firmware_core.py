"""The pure decisions of a signed firmware install: chain, signature, wheel, version, order."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from tests.firmware_support import (
    NOW,
    Issued,
    make_root,
    make_signer,
    sign,
    wheel_bytes,
    wheel_filename,
)
from ukscp.firmware.rollback import version_verdict
from ukscp.firmware.signing import check_signing_certificate, load_trusted_roots, verify_signature
from ukscp.firmware.status import FINAL, TRANSITIONS, FirmwareStatus, Step, next_status
from ukscp.firmware.verdict import FirmwareError
from ukscp.firmware.wheel import NotAWheel, read_wheel

ROOT = make_root()
RSA_SIGNER = make_signer(ROOT, "rsa")
EC_SIGNER = make_signer(ROOT, "ec")


# -- the chain ------------------------------------------------------------------------


@pytest.mark.parametrize("signer", [RSA_SIGNER, EC_SIGNER], ids=["rsa", "ec"])
def test_a_signer_issued_by_the_manufacturer_root_is_trusted(signer: Issued) -> None:
    verdict = check_signing_certificate(signer.pem, [ROOT.certificate], NOW)
    assert verdict.ok, verdict.reason
    assert verdict.certificate == signer.certificate


def test_a_signer_under_an_untrusted_root_is_refused() -> None:
    other = make_root("Someone Else's Root")
    verdict = check_signing_certificate(make_signer(other).pem, [ROOT.certificate], NOW)
    assert not verdict.ok
    assert "does not chain to the manufacturer root" in verdict.reason


def test_an_expired_signer_is_refused_naming_the_date() -> None:
    expired = make_signer(
        ROOT, not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1)
    )
    verdict = check_signing_certificate(expired.pem, [ROOT.certificate], NOW)
    assert not verdict.ok
    assert "expired on" in verdict.reason


def test_a_signer_not_yet_valid_is_refused() -> None:
    future = make_signer(ROOT, not_before=NOW + timedelta(days=2))
    verdict = check_signing_certificate(future.pem, [ROOT.certificate], NOW)
    assert not verdict.ok
    assert "not valid before" in verdict.reason


def test_an_intermediate_sent_with_the_signer_completes_the_chain() -> None:
    ca = make_root("Firmware CA", issuer=ROOT, path_length=0)
    leaf = make_signer(ca)
    alone = check_signing_certificate(leaf.pem, [ROOT.certificate], NOW)
    assert not alone.ok
    with_chain = check_signing_certificate(leaf.pem + ca.pem, [ROOT.certificate], NOW)
    assert with_chain.ok, with_chain.reason


def test_no_provisioned_root_trusts_nothing_and_says_which_key_to_set() -> None:
    verdict = check_signing_certificate(EC_SIGNER.pem, [], NOW)
    assert not verdict.ok
    assert "updates.firmware_root_ca_file" in verdict.reason


def test_garbage_instead_of_a_certificate_is_refused_in_words() -> None:
    verdict = check_signing_certificate("not a certificate", [ROOT.certificate], NOW)
    assert not verdict.ok
    assert "not a PEM X.509 certificate" in verdict.reason


def test_the_root_itself_cannot_sign_firmware_it_may_only_issue() -> None:
    verdict = check_signing_certificate(ROOT.pem, [ROOT.certificate], NOW)
    assert not verdict.ok


def test_a_root_file_without_a_certificate_is_a_firmware_error() -> None:
    with pytest.raises(FirmwareError, match="no PEM certificate"):
        load_trusted_roots(b"hello", "roots.pem")
    assert load_trusted_roots(ROOT.pem.encode()) == [ROOT.certificate]


# -- the signature --------------------------------------------------------------------

FIRMWARE = wheel_bytes("0.2.0")
DIGEST = hashlib.sha256(FIRMWARE).digest()


@pytest.mark.parametrize(
    ("signer", "scheme"), [(RSA_SIGNER, "RSA-PSS"), (EC_SIGNER, "ECDSA")], ids=["rsa", "ec"]
)
def test_a_signature_over_the_whole_file_verifies(signer: Issued, scheme: str) -> None:
    verdict = verify_signature(signer.certificate, DIGEST, sign(signer, FIRMWARE))
    assert verdict.ok, verdict.reason
    assert scheme in verdict.reason


@pytest.mark.parametrize("signer", [RSA_SIGNER, EC_SIGNER], ids=["rsa", "ec"])
def test_a_signature_over_other_bytes_fails(signer: Issued) -> None:
    wrong = sign(signer, FIRMWARE + b"\0")
    verdict = verify_signature(signer.certificate, DIGEST, wrong)
    assert not verdict.ok
    assert "does not match the file" in verdict.reason


def test_a_signature_by_another_key_fails() -> None:
    verdict = verify_signature(EC_SIGNER.certificate, DIGEST, sign(make_signer(ROOT), FIRMWARE))
    assert not verdict.ok


def test_rsa_pkcs1_v1_5_is_not_rsa_pss() -> None:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    assert isinstance(RSA_SIGNER.key, rsa.RSAPrivateKey)
    raw = RSA_SIGNER.key.sign(FIRMWARE, padding.PKCS1v15(), hashes.SHA256())
    verdict = verify_signature(RSA_SIGNER.certificate, DIGEST, base64.b64encode(raw).decode())
    assert not verdict.ok


@pytest.mark.parametrize("text", ["", "***not base64***"])
def test_a_signature_that_is_not_base64_is_refused(text: str) -> None:
    assert not verify_signature(EC_SIGNER.certificate, DIGEST, text).ok


# -- the wheel ------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_version_comes_from_the_wheels_metadata(tmp_path: Path) -> None:
    path = _write(tmp_path, "download.part", wheel_bytes("0.3.1"))
    info = read_wheel(path, wheel_filename("0.3.1"))
    assert (info.name, info.version) == ("ukscp", "0.3.1")


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("ukscp-0.2.0.tar.gz", wheel_bytes("0.2.0"), "not a wheel file name"),
        (wheel_filename("0.2.0"), b"MZ\x90\0 definitely not a zip", "not a zip archive"),
        (wheel_filename("0.2.0", "other"), wheel_bytes("0.2.0", name="other"), "not of 'ukscp'"),
        (wheel_filename("0.2.0"), wheel_bytes("0.2.0", metadata=False), "no ukscp-0.2.0.dist-inf"),
        (wheel_filename("0.2.0"), wheel_bytes("0.2.1"), "0.2.1"),
    ],
    ids=["not-a-wheel-name", "not-a-zip", "another-package", "no-metadata", "versions-differ"],
)
def test_anything_but_a_valid_ukscp_wheel_is_refused_in_words(
    tmp_path: Path, name: str, data: bytes, words: str
) -> None:
    path = _write(tmp_path, "download.part", data)
    with pytest.raises(NotAWheel, match=words.replace(".", r"\.")):
        read_wheel(path, name)


def test_a_zip_with_two_dist_info_directories_is_not_a_wheel(tmp_path: Path) -> None:
    path = _write(tmp_path, wheel_filename("0.2.0"), wheel_bytes("0.2.0"))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("evil-9.dist-info/METADATA", "Name: evil\nVersion: 9\n")
    with pytest.raises(NotAWheel, match=r"2 top-level \.dist-info"):
        read_wheel(path)


# -- versions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "running", "ok"),
    [
        ("0.2.0", "0.1.0", True),
        ("0.1.0", "0.1.0", True),
        ("0.0.9", "0.1.0", False),
        ("0.1.0rc1", "0.1.0", False),
        ("0.10.0", "0.9.0", True),
    ],
)
def test_an_older_version_is_refused(candidate: str, running: str, ok: bool) -> None:
    verdict = version_verdict(candidate, running)
    assert verdict.ok is ok
    if not ok:
        assert "rollback refused" in verdict.reason


# -- the order of the notifications ---------------------------------------------------


def _walk(*steps: Step) -> list[FirmwareStatus]:
    status: FirmwareStatus | None = None
    sent = []
    for step in steps:
        status = next_status(status, step)
        sent.append(status)
    return sent


def test_the_success_path_sends_installed_only_from_the_new_firmware() -> None:
    # OCPP 1.6 security whitepaper ed. 2: InstallRebooting before the restart,
    # Installed once the new firmware runs.
    assert _walk(
        Step.DOWNLOAD_START,
        Step.DOWNLOAD_OK,
        Step.SIGNATURE_OK,
        Step.INSTALL_START,
        Step.INSTALL_OK,
        Step.BOOT_OK,
    ) == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "InstallRebooting",
        "Installed",
    ]


@pytest.mark.parametrize(
    ("step", "final"),
    [
        (Step.BOOT_REFUSED, "InstallVerificationFailed"),
        (Step.BOOT_FAILED, "InstallationFailed"),
    ],
)
def test_a_new_firmware_refused_at_boot_or_failing_to_start_ends_the_request(
    step: Step, final: str
) -> None:
    assert next_status(FirmwareStatus.INSTALL_REBOOTING, step) == final
    assert next_status(FirmwareStatus.INSTALL_REBOOTING, step) in FINAL


def test_scheduled_download_and_install_add_their_statuses() -> None:
    assert _walk(
        Step.DOWNLOAD_WAIT,
        Step.DOWNLOAD_START,
        Step.DOWNLOAD_OK,
        Step.SIGNATURE_OK,
        Step.INSTALL_WAIT,
        Step.INSTALL_START,
        Step.INSTALL_OK,
    ) == [
        "DownloadScheduled",
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "InstallScheduled",
        "Installing",
        "InstallRebooting",
    ]


def test_failures_end_the_request() -> None:
    assert _walk(Step.DOWNLOAD_START, Step.DOWNLOAD_GAVE_UP)[-1] == "DownloadFailed"
    assert (
        _walk(Step.DOWNLOAD_START, Step.DOWNLOAD_OK, Step.SIGNATURE_BAD)[-1] == "InvalidSignature"
    )
    refused = _walk(Step.DOWNLOAD_START, Step.DOWNLOAD_OK, Step.SIGNATURE_OK, Step.REFUSED)
    assert refused[-1] == "InstallationFailed"
    for status in FINAL:
        assert not [key for key in TRANSITIONS if key[0] == status]


@pytest.mark.parametrize(
    ("current", "step"),
    [
        (None, Step.INSTALL_START),  # never install what was not verified
        (FirmwareStatus.DOWNLOADED, Step.INSTALL_START),
        (FirmwareStatus.INVALID_SIGNATURE, Step.INSTALL_START),
        (FirmwareStatus.DOWNLOADING, Step.SIGNATURE_OK),
    ],
)
def test_a_step_out_of_order_is_a_bug_not_a_status(
    current: FirmwareStatus | None, step: Step
) -> None:
    with pytest.raises(ValueError, match="cannot follow"):
        next_status(current, step)
