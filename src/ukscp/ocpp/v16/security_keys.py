"""The configuration keys that guard the link itself: SecurityProfile and AuthorizationKey.

Rules (OCPP 1.6 security whitepaper ed. 2):

* SecurityProfile may only go up over OCPP. A request to lower it is rejected
  and written to the security log (SecurityProfileDowngradeRefused): a CSMS
  link that was taken over must not be able to turn TLS or authentication off.
  A raise is accepted only if the transport can do it (TLS for 2, a client
  certificate for 3); it persists, and the charger reconnects with it.
* AuthorizationKey is write-only: it is never returned by GetConfiguration.
  A new key is stored (mode 0600) and the charger reconnects with it. Its
  value never reaches a log.
"""

from __future__ import annotations

import logging

from ukscp.ocpp.transport import CsmsTransport
from ukscp.ocpp.v16 import configuration as cfg
from ukscp.ocpp.v16.configuration import ExternalKey
from ukscp.ocpp.v16.port import KeyValueStore
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)

SECURITY_PROFILE_KEY = "ocpp.security_profile"
AUTHORIZATION_KEY_CHARS = (16, 40)


class SecurityKeys:
    """SecurityProfile and AuthorizationKey, over the transport they configure."""

    def __init__(self, transport: CsmsTransport, seclog: SecurityLog, store: KeyValueStore) -> None:
        self._transport = transport
        self._seclog = seclog
        self._store = store
        self._reconnect = False
        self._apply_stored_profile()

    def keys(self) -> list[ExternalKey]:
        """The two keys, for :class:`~ukscp.ocpp.v16.configuration.Configuration`."""
        return [
            ExternalKey(
                cfg.SECURITY_PROFILE,
                get=lambda: str(self._transport.config.security_profile),
                set=self._set_security_profile,
            ),
            ExternalKey(cfg.AUTHORIZATION_KEY, get=None, set=self._set_authorization_key),
        ]

    def take_reconnect_request(self) -> bool:
        """True once after a change the connection must be remade for."""
        wanted, self._reconnect = self._reconnect, False
        return wanted

    def _set_security_profile(self, value: str) -> str:
        try:
            wanted = int(value.strip())
        except ValueError:
            return cfg.REJECTED
        current = self._transport.config.security_profile
        if wanted < current:
            self._seclog.record(
                SecurityEventType.SECURITY_PROFILE_DOWNGRADE_REFUSED,
                f"the CSMS asked for security profile {wanted}; it stays {current}",
            )
            return cfg.REJECTED
        if wanted == current:
            return cfg.ACCEPTED
        problem = self._transport.can_use_profile(wanted)
        if problem is not None:
            _log.warning("security profile %d refused: %s", wanted, problem)
            return cfg.REJECTED
        self._transport.set_security_profile(wanted)
        self._store.set(SECURITY_PROFILE_KEY, wanted)
        self._seclog.record(
            SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
            f"security profile raised from {current} to {wanted} by the CSMS",
        )
        self._reconnect = True
        return cfg.ACCEPTED

    def _set_authorization_key(self, value: str) -> str:
        low, high = AUTHORIZATION_KEY_CHARS
        printable = value.isascii() and value.isprintable() and not any(c.isspace() for c in value)
        if not (low <= len(value) <= high and printable):
            return cfg.REJECTED
        try:
            self._transport.write_authorization_key(value)
        except Exception as exc:
            _log.error("cannot store the new authorization key: %s", type(exc).__name__)
            return cfg.REJECTED
        self._seclog.record(
            SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
            "AuthorizationKey changed by the CSMS",
        )
        self._reconnect = True
        return cfg.ACCEPTED

    def _apply_stored_profile(self) -> None:
        """A profile the CSMS raised earlier outranks a lower one in the config file."""
        stored = self._store.get(SECURITY_PROFILE_KEY)
        if not isinstance(stored, int) or stored <= self._transport.config.security_profile:
            return
        problem = self._transport.can_use_profile(stored)
        if problem is not None:
            _log.error("cannot use the security profile %d set by the CSMS: %s", stored, problem)
            return
        self._transport.set_security_profile(stored)
