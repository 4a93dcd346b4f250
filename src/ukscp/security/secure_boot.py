"""The platform's secure-boot state, where the operating system exposes it.

Reported as it is: "enabled", "disabled", or "unknown" with the reason. The
charger never claims a secure boot it cannot see.
"""

from __future__ import annotations

from pathlib import Path

# UEFI global variable GUID (UEFI specification, section 3.3 "Globally Defined Variables").
_EFI_GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFIVARS = Path("/sys/firmware/efi/efivars")


def secure_boot_state(efivars: Path = EFIVARS) -> str:
    """``enabled``, ``disabled`` or ``unknown (why)``, from the UEFI SecureBoot variable."""
    if not efivars.parent.exists():
        return "unknown (no UEFI firmware interface: the board must report it)"
    variable = efivars / f"SecureBoot-{_EFI_GLOBAL}"
    try:
        data = variable.read_bytes()
    except OSError as exc:
        return f"unknown (cannot read the SecureBoot variable: {exc.strerror})"
    # efivarfs prefixes the value with 4 bytes of attributes; the value is one byte.
    if len(data) < 5:
        return "unknown (the SecureBoot variable is malformed)"
    return "enabled" if data[4] == 1 else "disabled"
