"""A request for new firmware and the answer to it, whatever the OCPP version it came in.

A CSMS asks for new firmware with OCPP 1.6 ``SignedUpdateFirmware`` (OCPP 1.6
Security Whitepaper, edition 2) or OCPP 2.0.1 ``UpdateFirmware``. Both carry
the same things: where to download the file, when, the PEM signing certificate
and a base64 signature over the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class UpdateAnswer(StrEnum):
    """The answer to the request (1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware)."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    ACCEPTED_CANCELED = "AcceptedCanceled"
    INVALID_CERTIFICATE = "InvalidCertificate"
    REVOKED_CERTIFICATE = "RevokedCertificate"


@dataclass(frozen=True, slots=True)
class FirmwareRequest:
    """One request to install firmware, whatever the OCPP version it came in."""

    request_id: int
    location: str  # http(s) URL of the file
    retrieve_at: datetime  # download no earlier than this
    signing_certificate: str  # PEM: the signing certificate, then any intermediates
    signature: str  # base64 signature over the whole file
    install_at: datetime | None = None  # install no earlier than this
    retries: int | None = None  # further download attempts; None: the charger decides
    retry_interval_s: int | None = None  # between attempts; None: the charger decides
