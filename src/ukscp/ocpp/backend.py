"""The back end the charger reports to, as its owner chose it (regulation 6).

The config file names the back end the installer set up. The owner may point the
charger at another one (a new energy supplier, a CSMS of their own) from the page
or the API, without editing the file and without losing any other setting. The
choice is kept in the settings store and laid over the file's ``ocpp`` section;
forgetting it goes back to the file. The key and CA certificate the owner gives
are kept in the data directory, apart from the installer's, which stay as they were.

What the owner cannot do from here: allow plain ``ws://`` (that stays an
installer's decision in the file, for a lab), install the client certificate of
security profile 3 (provisioned in the file), or pick the dsr/randomising flags,
which describe a contract with a particular back end and are set at provisioning.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, field_validator

from ukscp.config import OcppSettings
from ukscp.files import write_atomically
from ukscp.ocpp.transport import (
    ConnectFailed,
    TransportConfig,
    TransportError,
    authorization_key_problem,
    check_config,
    read_authorization_key,
    write_authorization_key,
)

BACKEND_KEY = "ocpp.backend"
"""Settings-store key of the owner's choice (absent: the config file's back end)."""

CA_FILE = Path("ocpp") / "backend-ca.pem"
"""Where, under the data directory, the CA certificate the owner gave is kept."""

KEY_FILE = Path("ocpp") / "backend-key"
"""Where, under the data directory, the key the owner gave is kept (the installer's stays)."""

_CHOSEN_FIELDS = (
    "enabled",
    "version",
    "url",
    "identity",
    "security_profile",
    "ca_file",
    "authorization_key_file",
)


class BackendError(Exception):
    """The owner's back end cannot be used; the message says what to change."""


class BackendChoice(BaseModel):
    """The back end the owner asks for.

    ``authorization_key`` and ``ca_certificate`` left out keep what the charger
    holds; ``ca_certificate: null`` trusts the system's CAs (a back end with a
    public certificate).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: StrictBool = Field(
        True, description="Connect to this back end (false: no back end)."
    )
    version: Literal["1.6", "2.0.1"] = Field("1.6", description="OCPP version it speaks.")
    url: str = Field(description="Its websocket URL, wss://host/path.")
    identity: str = Field(min_length=1, max_length=48, description="This charger's id there.")
    security_profile: Literal[1, 2, 3] = Field(2, description="OCPP security profile.")
    authorization_key: SecretStr | None = Field(
        None, description="Basic auth key for profiles 1 and 2 (16-40 printable characters)."
    )
    ca_certificate: str | None = Field(
        None, description="PEM certificate of the CA that signs the back end's certificate."
    )

    @field_validator("security_profile", mode="before")
    @classmethod
    def _whole_profile_number(cls, value: object) -> object:
        # A Literal of ints takes true as 1 and 3.0 as 3: a profile is a JSON integer.
        if type(value) is not int:
            raise ValueError("must be the whole number 1, 2 or 3")
        return value

    @field_validator("authorization_key")
    @classmethod
    def _key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = authorization_key_problem(value.get_secret_value())
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("ca_certificate")
    @classmethod
    def _ca_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            certificates = x509.load_pem_x509_certificates(value.encode())
        except ValueError:
            raise ValueError("is not a PEM certificate") from None
        if not certificates:
            raise ValueError("holds no certificate")
        return value


def effective_settings(file: OcppSettings, stored: Mapping[str, Any] | None) -> OcppSettings:
    """The file's ``ocpp`` section with the owner's stored choice laid over it."""
    if not stored:
        return file
    update = {name: stored[name] for name in _CHOSEN_FIELDS if name in stored}
    for name in ("ca_file", "authorization_key_file"):
        if update.get(name) is not None:
            update[name] = Path(update[name])
    return OcppSettings.model_validate({**file.model_dump(), **update})


def resolve(choice: BackendChoice, current: OcppSettings, data_dir: Path) -> OcppSettings:
    """The settings ``choice`` leads to from ``current``; BackendError if they cannot work.

    Nothing is written: :func:`store_secrets` does that once the old back end is let go.
    """
    if "ca_certificate" not in choice.model_fields_set:
        ca_file = current.ca_file
    elif choice.ca_certificate is None:
        ca_file = None
    else:
        ca_file = data_dir / CA_FILE
    key_file = current.authorization_key_file
    if choice.authorization_key is not None:
        key_file = data_dir / KEY_FILE
    settings = current.model_copy(
        update={
            "enabled": choice.enabled,
            "version": choice.version,
            "url": choice.url,
            "identity": choice.identity,
            "security_profile": choice.security_profile,
            "ca_file": ca_file,
            "authorization_key_file": key_file,
        }
    )
    if not settings.enabled:
        return settings
    try:
        check_config(TransportConfig.from_settings(settings))
    except TransportError as exc:
        raise BackendError(str(exc)) from None
    if settings.security_profile in (1, 2) and choice.authorization_key is None:
        try:
            read_authorization_key(settings.authorization_key_file)
        except ConnectFailed:
            raise BackendError(
                f"security profile {settings.security_profile} needs an authorization key "
                "and none is stored yet: give authorization_key"
            ) from None
    return settings


def store_secrets(choice: BackendChoice, settings: OcppSettings) -> None:
    """Write the key and CA certificate ``choice`` carries where ``settings`` reads them."""
    if choice.authorization_key is not None:
        write_authorization_key(
            settings.authorization_key_file, choice.authorization_key.get_secret_value()
        )
    if choice.ca_certificate is not None and settings.ca_file is not None:
        write_atomically(settings.ca_file, choice.ca_certificate.encode(), 0o600)


def stored_form(settings: OcppSettings) -> dict[str, Any]:
    """What the settings store keeps of a choice (never the key itself)."""
    return settings.model_dump(mode="json", include=set(_CHOSEN_FIELDS))


def remove_owner_secrets(data_dir: Path, in_force: OcppSettings) -> int:
    """Delete the key and CA certificate the owner gave (their link to a back end of
    their own), except a file the settings ``in_force`` read; returns how many went."""
    used = {p.resolve() for p in (in_force.authorization_key_file, in_force.ca_file) if p}
    removed = 0
    for path in (data_dir / KEY_FILE, data_dir / CA_FILE):
        if path.resolve() in used:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed


__all__ = [
    "BACKEND_KEY",
    "CA_FILE",
    "KEY_FILE",
    "BackendChoice",
    "BackendError",
    "effective_settings",
    "remove_owner_secrets",
    "resolve",
    "store_secrets",
    "stored_form",
]
