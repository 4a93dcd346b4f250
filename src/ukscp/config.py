"""The charger's configuration: one YAML file, validated into typed settings.

This module is the manifest of every option: each field's description is its
documentation, unknown keys are refused, and the names are the fixed contract
of DESIGN section 7 (the EVSE options carry EVerest's names so integrators can
carry their settings over). Only the composition root calls :func:`load_config`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebSettings(_Section):
    host: str = Field("127.0.0.1", description="Address the local page and API listen on.")
    port: int = Field(8443, ge=1, le=65535, description="TCP port of the local page and API.")
    http_redirect_port: int | None = Field(
        None, ge=1, le=65535, description="Plain-HTTP port that only redirects to HTTPS."
    )
    insecure_http: bool = Field(
        False, description="Lab only: serve the page over plain HTTP (logged as a security event)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Addresses of reverse proxies whose X-Forwarded-For/-Proto headers are believed"
            " (the client address they name is then logged and rate-limited). Empty: every"
            " such header is ignored and the connection's own address counts."
        ),
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description=(
            "Most connections served at once. Unset: follows the process's open-file limit"
            " (RLIMIT_NOFILE, e.g. systemd's LimitNOFILE) less the files the charger itself"
            " needs; when set, the smaller of the two."
        ),
    )
    max_body_bytes: int = Field(
        65536,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request body accepted; larger ones get 413 and are not read.",
    )
    header_timeout_s: float = Field(
        10,
        gt=0,
        le=300,
        description=(
            "Seconds a client has for the TLS handshake, and then for each request's headers;"
            " a connection that takes longer is closed."
        ),
    )
    body_timeout_s: float = Field(
        30, gt=0, le=3600, description="Seconds a client has to send a request's whole body."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, proxies: list[str]) -> list[str]:
        # An address or network each; "*" (trust anyone) would undo the point of the list.
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return proxies


class HardwareSettings(_Section):
    board: Literal["sim"] = Field("sim", description="Charge controller driver.")
    meter: Literal["sim"] = Field("sim", description="Energy meter driver.")
    sim_plug_at_start: bool = Field(
        False, description="Simulator only: plug the simulated EV in just after start."
    )
    board_max_current_a: float = Field(
        32, gt=0, le=80, description="Rating of the board, cable and contactor, amps per phase."
    )


class SupplySettings(_Section):
    max_current_a: float = Field(
        32, gt=0, le=100, description="Largest current per phase the supply and fuse allow."
    )
    phases: Literal[1, 3] = Field(1, description="Phases wired to the charger.")
    voltage_v: float = Field(230, ge=100, le=260, description="Nominal phase voltage.")


class EvseManagerSettings(_Section):
    uk_smartcharging_random_delay_enable: bool = Field(
        True, description="Apply the randomised delay of regulation 11 (EVerest default: false)."
    )
    uk_smartcharging_random_delay_max_duration: int = Field(
        600, ge=0, le=1800, description="Largest random delay in whole seconds; 0 = no delay."
    )
    uk_smartcharging_random_delay_at_any_change: bool = Field(
        True, description="Delay every increase and decrease; false: only start and stop."
    )
    uk_smartcharging_random_delay_policy: Literal["by_source", "always"] = Field(
        "by_source",
        description="by_source: delay only the causes regulation 11 needs; always: EVerest's.",
    )


class OcppSettings(_Section):
    enabled: bool = Field(False, description="Connect to a central system (CSMS).")
    version: Literal["1.6", "2.0.1"] = Field("1.6", description="OCPP version spoken.")
    url: str = Field("wss://csms.example/ocpp", description="CSMS websocket URL.")
    identity: str = Field("CP_1", min_length=1, max_length=48, description="Charge point id.")
    security_profile: Literal[1, 2, 3] = Field(2, description="OCPP security profile.")
    authorization_key_file: Path = Field(
        Path("./secrets/ocpp_key"), description="File holding the Basic auth key; never inline."
    )
    ca_file: Path | None = Field(None, description="CA bundle that signs the CSMS certificate.")
    client_cert_file: Path | None = Field(
        None, description="Security profile 3: this charger's certificate (PEM), by the CSMS's CA."
    )
    client_key_file: Path | None = Field(
        None, description="Security profile 3: the private key of client_cert_file (PEM, 0600)."
    )
    allow_insecure_transport: bool = Field(False, description="Lab only: permit plain ws://.")
    allow_private_targets: bool = Field(
        False,
        description=(
            "Lab only: let the CSMS's GetLog uploads and firmware downloads reach loopback,"
            " link-local and private addresses (refused by default: a back end must not turn"
            " the charger against its own network)."
        ),
    )
    randomises_delay: bool = Field(
        False, description="This CSMS already randomises its changes: no second delay."
    )
    dsr_provider: bool = Field(
        False, description="This CSMS's profiles are demand side response: never delayed."
    )


class OpenAdrSettings(_Section):
    enabled: bool = Field(False, description="Take DSR events from an OpenADR 2.0b VTN.")
    vtn_url: str | None = Field(
        None, description="The VTN's base URL (https://..., ending /OpenADR2/Simple/2.0b)."
    )
    ven_name: str | None = Field(
        None, min_length=1, max_length=100, description="This charger's VEN name at the VTN."
    )
    cert_file: Path | None = Field(None, description="PEM certificate signing our messages.")
    key_file: Path | None = Field(None, description="Its PEM private key (never inline).")
    allow_plain_http: bool = Field(
        False, description="Lab only: a VTN over plain http://, unsigned and unencrypted."
    )

    @model_validator(mode="after")
    def _usable(self) -> OpenAdrSettings:
        if not self.enabled:
            return self
        if not self.vtn_url or not self.ven_name:
            raise ValueError("enabled needs vtn_url and ven_name")
        scheme = self.vtn_url.split("://", 1)[0].lower()
        if scheme not in ("https", "http") or (scheme == "http" and not self.allow_plain_http):
            raise ValueError(
                "vtn_url must be https:// (http:// only with allow_plain_http, in a lab)"
            )
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class DsrSettings(_Section):
    openadr: OpenAdrSettings = OpenAdrSettings()


class IntegritySettings(_Section):
    public_key_file: Path | None = Field(
        None, description="Ed25519 public key the release manifest must be signed with."
    )
    manifest_file: Path | None = Field(None, description="Signed release manifest.")
    check_interval_h: Annotated[float, Field(gt=0)] = 6
    on_failure_limit_a: float = Field(
        0, ge=0, le=80, description="Safe mode when the software is changed: 0 stops charging."
    )


class UpdateSettings(_Section):
    tuf_repository_url: str | None = None
    trusted_root_file: Path | None = Field(
        None, description="Pinned TUF root metadata, set at provisioning."
    )
    check_interval_h: Annotated[float, Field(gt=0)] = 24
    firmware_root_ca_file: Path | None = Field(
        None,
        description=(
            "Manufacturer root certificate(s), PEM, set at provisioning: the signing certificate"
            " of OCPP signed firmware must chain to it. Unset: every firmware request is"
            " answered InvalidCertificate."
        ),
    )


class ProvisioningSettings(_Section):
    sold_with_dsr_agreement: bool = Field(
        False,
        description="Sold under a DSR agreement: regulation 10's default mode does not apply.",
    )


class MeteringSettings(_Section):
    raw_retention_h: float = Field(
        48, ge=1, le=24 * 31, description="Hours of raw 1 s samples kept before rollup only."
    )


class Settings(_Section):
    """Everything the charger can be configured with."""

    data_dir: Path = Field(Path("./data"), description="Where the charger keeps its state.")
    web: WebSettings = WebSettings()
    hardware: HardwareSettings = HardwareSettings()
    supply: SupplySettings = SupplySettings()
    evse_manager: EvseManagerSettings = EvseManagerSettings()
    ocpp: OcppSettings = OcppSettings()
    dsr: DsrSettings = DsrSettings()
    integrity: IntegritySettings = IntegritySettings()
    updates: UpdateSettings = UpdateSettings()
    provisioning: ProvisioningSettings = ProvisioningSettings()
    metering: MeteringSettings = MeteringSettings()


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    value = error.get("input")
    return f"{key}: {error['msg']} (got {value!r})"


def parse_config(raw: object, origin: str = "config") -> Settings:
    """Validate an already-parsed YAML document; raise ConfigError naming every bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of keys, got {raw!r}")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join(_describe(err) for err in exc.errors())
        raise ConfigError(f"{origin}: invalid configuration\n  {problems}") from None


def load_config(path: Path | None) -> Settings:
    """Read and validate the YAML file at ``path``; defaults when ``path`` is None."""
    if path is None:
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(raw, origin=str(path))
