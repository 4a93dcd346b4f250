"""The websocket to the CSMS, secured per the OCPP security profiles, and reconnecting.

Security profiles (OCPP 1.6 security whitepaper ed. 2, OCPP 2.0.1 part 2 A00):

* 1: HTTP Basic auth (``identity:AuthorizationKey``). The standard runs it over
  plain ``ws://``; we refuse plain ``ws://`` unless ``allow_insecure_transport``
  (a lab), and over ``wss://`` we still check the server's certificate.
* 2: TLS, the server certificate checked against ``ca_file`` (or the system
  CAs) with its host name, plus Basic auth.
* 3: mutual TLS: as 2, and the charger presents its own certificate; no Basic auth.

TLS 1.2 is the minimum in every case. The key is read from
``authorization_key_file`` at each connection (never from the config file), so
a key changed by the CSMS or the integrator is used at the next connection.

Reconnection waits an exponential backoff with jitter on the :class:`Clock`,
so a fleet that lost its CSMS together does not come back in step, and tests
move through the waits on a virtual clock.
"""

from __future__ import annotations

import base64
import logging
import secrets
import ssl
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from ukscp.clock import Clock
from ukscp.config import OcppSettings
from ukscp.files import write_atomically
from ukscp.ocpp.wire_log import WebsocketLog
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)
# websockets logs the handshake's headers (Basic auth among them) and frames at DEBUG.
_websocket_log = WebsocketLog(logging.getLogger("websockets.client"), {})

OcppVersion = Literal["1.6", "2.0.1"]

SUBPROTOCOLS: dict[str, str] = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
"""The websocket subprotocol each OCPP version is spoken under (OCPP-J)."""

# OpenSSL reasons that mean "the server would not speak TLS 1.2 or later".
_TLS_VERSION_REASONS = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "VERSION_TOO_LOW",
        "WRONG_SSL_VERSION",
    }
)
_TLS_CIPHER_REASONS = frozenset({"NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH"})
# The server did not accept the certificate we presented (profile 3).
_CLIENT_CERT_REASONS = frozenset(
    {
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    }
)


class TransportError(Exception):
    """The connection cannot be made as configured; the message says what to change."""


class InsecureTransportRefused(TransportError):
    """Plain ``ws://`` was configured without ``allow_insecure_transport``."""


class FailureKind(StrEnum):
    """Why one connection attempt failed."""

    SERVER_CERTIFICATE = "server_certificate"  # untrusted CA, wrong host name, expired
    TLS_VERSION = "tls_version"  # the server offers nothing from TLS 1.2 up
    TLS_CIPHER = "tls_cipher"
    CLIENT_REJECTED = "client_rejected"  # 401/403, or our TLS certificate refused
    SUBPROTOCOL = "subprotocol"  # the server does not speak our OCPP version
    CONFIGURATION = "configuration"  # e.g. the key file is missing or empty
    NETWORK = "network"  # refused, reset, timed out, DNS, HTTP errors


# What each failure kind is written to the security log as (None: not security relevant).
_SECURITY_EVENT: dict[FailureKind, SecurityEventType | None] = {
    FailureKind.SERVER_CERTIFICATE: SecurityEventType.INVALID_CENTRAL_SYSTEM_CERTIFICATE,
    FailureKind.TLS_VERSION: SecurityEventType.INVALID_TLS_VERSION,
    FailureKind.TLS_CIPHER: SecurityEventType.INVALID_TLS_CIPHER_SUITE,
    FailureKind.CLIENT_REJECTED: SecurityEventType.FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM,
    FailureKind.SUBPROTOCOL: None,
    FailureKind.CONFIGURATION: None,
    FailureKind.NETWORK: None,
}


class ConnectFailed(Exception):
    """One connection attempt failed; ``kind`` says why, in a way that decides what to log."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Where and how to connect; built from :class:`~ukscp.config.OcppSettings`."""

    url: str
    identity: str
    version: OcppVersion = "1.6"
    security_profile: int = 2
    authorization_key_file: Path | None = None
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    allow_insecure_transport: bool = False
    open_timeout_s: float = 10.0

    @classmethod
    def from_settings(
        cls,
        settings: OcppSettings,
        *,
        client_cert_file: Path | None = None,
        client_key_file: Path | None = None,
        security_profile: int | None = None,
    ) -> TransportConfig:
        """The transport settings of the config file's ``ocpp`` section.

        ``security_profile`` overrides the file's (a profile the CSMS raised);
        the client certificate and key, for profile 3, override the file's.
        """
        return cls(
            url=settings.url,
            identity=settings.identity,
            version=settings.version,
            security_profile=security_profile or settings.security_profile,
            authorization_key_file=settings.authorization_key_file,
            ca_file=settings.ca_file,
            client_cert_file=client_cert_file or settings.client_cert_file,
            client_key_file=client_key_file or settings.client_key_file,
            allow_insecure_transport=settings.allow_insecure_transport,
        )

    @property
    def secure(self) -> bool:
        """True for ``wss://``."""
        return urlsplit(self.url).scheme == "wss"

    @property
    def endpoint(self) -> str:
        """The URL connected to: the CSMS URL with the charge point identity appended (OCPP-J)."""
        return self.url.rstrip("/") + "/" + quote(self.identity, safe="")

    @property
    def subprotocol(self) -> str:
        """``ocpp1.6`` or ``ocpp2.0.1``."""
        return SUBPROTOCOLS[self.version]

    @property
    def uses_basic_auth(self) -> bool:
        """Profiles 1 and 2 authenticate with the AuthorizationKey."""
        return self.security_profile in (1, 2)

    def with_profile(self, profile: int) -> TransportConfig:
        """The same settings under another security profile."""
        return replace(self, security_profile=profile)


def check_config(config: TransportConfig) -> None:
    """Refuse settings that cannot be secure, with a message saying what to change."""
    parts = urlsplit(config.url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise TransportError(f"ocpp.url: not a websocket URL: {config.url!r} (wss://host/path)")
    if config.security_profile not in (1, 2, 3):
        raise TransportError(
            f"ocpp.security_profile must be 1, 2 or 3, not {config.security_profile}"
        )
    if ":" in config.identity:
        raise TransportError("ocpp.identity must not contain ':' (it is the Basic auth user)")
    if not config.secure:
        if config.security_profile != 1:
            raise InsecureTransportRefused(
                f"ocpp.url is plain ws:// but security profile {config.security_profile} "
                "requires TLS: use wss:// (a lab without TLS needs security_profile: 1 "
                "and allow_insecure_transport: true)"
            )
        if not config.allow_insecure_transport:
            raise InsecureTransportRefused(
                "ocpp.url is plain ws://, which sends the authorization key unencrypted: "
                "use wss://, or set ocpp.allow_insecure_transport: true for a lab"
            )
    if config.uses_basic_auth and config.authorization_key_file is None:
        raise TransportError(
            f"security profile {config.security_profile} needs ocpp.authorization_key_file"
        )
    if config.security_profile == 3 and (
        config.client_cert_file is None or config.client_key_file is None
    ):
        raise TransportError(
            "security profile 3 needs the charger's TLS certificate and key "
            "(ocpp.client_cert_file and ocpp.client_key_file)"
        )


def read_authorization_key(path: Path) -> str:
    """The AuthorizationKey stored in ``path`` (surrounding whitespace removed).

    Raises :class:`ConnectFailed` (configuration) when it is missing or empty, so
    the charger keeps retrying until it is provisioned.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConnectFailed(
            FailureKind.CONFIGURATION, f"cannot read the authorization key file {path}: {exc}"
        ) from None
    if not key:
        raise ConnectFailed(
            FailureKind.CONFIGURATION, f"the authorization key file {path} is empty"
        )
    if mode & 0o077:
        _log.warning("authorization key file %s is readable by others (mode %o)", path, mode)
    return key


AUTHORIZATION_KEY_CHARS = (16, 40)
"""Length of the key: 1.6 AuthorizationKey and 2.0.1 BasicAuthPassword alike."""


def authorization_key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an AuthorizationKey, or None if it can."""
    low, high = AUTHORIZATION_KEY_CHARS
    if not low <= len(key) <= high:
        return f"must be {low} to {high} characters long"
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        return "must be printable ASCII without spaces"
    return None


def write_authorization_key(path: Path, key: str) -> None:
    """Replace the key in ``path`` atomically, with mode 0600 from the first byte."""
    write_atomically(path, (key + "\n").encode(), 0o600)


def basic_auth_header(identity: str, key: str) -> str:
    """The ``Authorization`` header value for ``identity:key`` (RFC 7617)."""
    token = base64.b64encode(f"{identity}:{key}".encode()).decode("ascii")
    return f"Basic {token}"


def client_ssl_context(config: TransportConfig) -> ssl.SSLContext:
    """TLS 1.2+, the server's certificate and host name checked; ours presented for profile 3."""
    cafile = str(config.ca_file) if config.ca_file is not None else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if config.security_profile == 3:
        assert config.client_cert_file is not None and config.client_key_file is not None
        context.load_cert_chain(config.client_cert_file, config.client_key_file)
    return context


def classify(exc: BaseException) -> ConnectFailed:
    """What kind of failure ``exc`` (from one connection attempt) is."""
    if isinstance(exc, ConnectFailed):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectFailed(FailureKind.SERVER_CERTIFICATE, str(exc.verify_message or exc))
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if reason in _TLS_VERSION_REASONS:
            return ConnectFailed(
                FailureKind.TLS_VERSION, f"the server offers no TLS >= 1.2 ({reason})"
            )
        if reason in _TLS_CIPHER_REASONS:
            return ConnectFailed(FailureKind.TLS_CIPHER, f"no acceptable cipher suite ({reason})")
        if reason in _CLIENT_CERT_REASONS:
            return ConnectFailed(
                FailureKind.CLIENT_REJECTED, f"the server refused our certificate ({reason})"
            )
        return ConnectFailed(FailureKind.NETWORK, f"TLS error: {exc}")
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in (401, 403):
            return ConnectFailed(FailureKind.CLIENT_REJECTED, f"the CSMS answered HTTP {status}")
        return ConnectFailed(FailureKind.NETWORK, f"the CSMS answered HTTP {status}")
    if isinstance(exc, (OSError, WebSocketException, TimeoutError)):
        return ConnectFailed(FailureKind.NETWORK, f"{type(exc).__name__}: {exc}")
    return ConnectFailed(FailureKind.NETWORK, f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with "equal jitter": half the step fixed, half random.

    The fixed half keeps a charger from hammering a CSMS that is down; the random
    half spreads a fleet that lost the CSMS together.
    """

    initial_s: float = 2.0
    maximum_s: float = 300.0

    def delay_s(self, attempt: int, fraction: float) -> float:
        """Wait before reconnection number ``attempt`` (0 first), ``fraction`` in [0, 1)."""
        step: float = min(self.maximum_s, self.initial_s * 2.0 ** min(attempt, 32))
        return step / 2 + fraction * step / 2


Session = Callable[[ClientConnection], Awaitable[None]]
"""Runs the protocol over one open connection; returns (or raises) when it ends."""


class CsmsTransport:
    """Connects to the CSMS, hands each connection to a session, and reconnects.

    Construction checks the settings: plain ``ws://`` without
    ``allow_insecure_transport`` raises :class:`InsecureTransportRefused`; when it
    is allowed, ``InsecureOcppTransportAllowed`` goes to the security log.
    """

    def __init__(
        self,
        config: TransportConfig,
        clock: Clock,
        seclog: SecurityLog | None = None,
        *,
        backoff: Backoff | None = None,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        check_config(config)
        self._config = config
        self._clock = clock
        self._seclog = seclog
        self._backoff = backoff or Backoff()
        # A CSPRNG, never seeded from the clock: chargers that lost the CSMS together
        # must not draw the same waits.
        self._jitter: Callable[[], float] = jitter or secrets.SystemRandom().random
        self._current: ClientConnection | None = None
        self._last_logged: FailureKind | None = None
        if not config.secure:
            _log.warning("OCPP over plain ws:// (allow_insecure_transport): lab use only")
            self._security_event(
                SecurityEventType.INSECURE_OCPP_TRANSPORT_ALLOWED,
                f"OCPP connects over plain ws:// to {config.url} (allow_insecure_transport)",
            )

    @property
    def config(self) -> TransportConfig:
        """The settings the next connection uses."""
        return self._config

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._current is not None

    def can_use_profile(self, profile: int) -> str | None:
        """Why the transport cannot move to ``profile``, or None if it can."""
        try:
            check_config(self._config.with_profile(profile))
        except TransportError as exc:
            return str(exc)
        return None

    def set_security_profile(self, profile: int) -> None:
        """Use ``profile`` from the next connection on (the caller refuses lowering it)."""
        new = self._config.with_profile(profile)
        check_config(new)
        self._config = new

    def write_authorization_key(self, key: str) -> None:
        """Store a new AuthorizationKey; the next connection uses it."""
        if self._config.authorization_key_file is None:
            raise TransportError("no ocpp.authorization_key_file to store the key in")
        write_authorization_key(self._config.authorization_key_file, key)

    async def connect_once(self) -> ClientConnection:
        """Open one connection; raises :class:`ConnectFailed` saying why it could not."""
        config = self._config
        headers: dict[str, str] = {}
        try:
            if config.uses_basic_auth:
                assert config.authorization_key_file is not None
                key = read_authorization_key(config.authorization_key_file)
                headers["Authorization"] = basic_auth_header(config.identity, key)
            context = client_ssl_context(config) if config.secure else None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(FailureKind.CONFIGURATION, f"TLS setup: {exc}") from None
        try:
            connection = await connect(
                config.endpoint,
                subprotocols=[Subprotocol(config.subprotocol)],
                additional_headers=headers,
                ssl=context,
                # Only the config file says where to connect: no proxy from the environment.
                proxy=None,
                open_timeout=config.open_timeout_s,
                # A CSMS that stops answering must not hold a shutdown or reconnection long.
                close_timeout=2.0,
                compression=None,
                logger=_websocket_log,
            )
        except Exception as exc:
            raise classify(exc) from None
        if connection.subprotocol != config.subprotocol:
            await connection.close()
            raise ConnectFailed(
                FailureKind.SUBPROTOCOL,
                f"the CSMS did not agree to {config.subprotocol} "
                f"(answered {connection.subprotocol!r})",
            )
        return connection

    async def run(self, session: Session) -> None:
        """Connect, run ``session``, and reconnect after a backoff, until cancelled."""
        attempt = 0
        while True:
            try:
                connection = await self.connect_once()
            except ConnectFailed as failure:
                self._record_failure(failure)
            else:
                attempt = 0
                self._record_success()
                self._current = connection
                try:
                    await session(connection)
                except Exception:
                    _log.exception("OCPP session ended with an error")
                finally:
                    self._current = None
                    await connection.close()
                _log.info("OCPP connection to %s closed", self._config.endpoint)
            delay = self._backoff.delay_s(attempt, self._jitter())
            attempt += 1
            await self._clock.sleep(delay)

    async def reconnect(self) -> None:
        """Close the open connection: :meth:`run` connects again with the settings now in force."""
        connection = self._current
        if connection is not None:
            await connection.close(code=1000, reason="reconnecting with new settings")

    def _record_failure(self, failure: ConnectFailed) -> None:
        _log.warning("cannot connect to the CSMS at %s: %s", self._config.endpoint, failure)
        event = _SECURITY_EVENT[failure.kind]
        # One record per run of the same failure: a CSMS with a bad certificate must
        # not fill the security log with one record per retry.
        if event is not None and failure.kind != self._last_logged:
            self._security_event(event, f"{self._config.endpoint}: {failure.detail}")
        self._last_logged = failure.kind

    def _record_success(self) -> None:
        _log.info("connected to the CSMS at %s", self._config.endpoint)
        self._last_logged = None

    def _security_event(self, kind: SecurityEventType, info: str) -> None:
        if self._seclog is not None:
            self._seclog.record(kind, info)


__all__ = [
    "AUTHORIZATION_KEY_CHARS",
    "SUBPROTOCOLS",
    "Backoff",
    "ConnectFailed",
    "CsmsTransport",
    "FailureKind",
    "InsecureTransportRefused",
    "TransportConfig",
    "TransportError",
    "authorization_key_problem",
    "basic_auth_header",
    "check_config",
    "classify",
    "client_ssl_context",
    "read_authorization_key",
    "write_authorization_key",
]
