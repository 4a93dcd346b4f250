"""The settings that guard the link itself: the security profile and the authorization key.

OCPP 1.6 calls them the configuration keys SecurityProfile and AuthorizationKey;
OCPP 2.0.1 the variables SecurityCtrlr.SecurityProfile and
SecurityCtrlr.BasicAuthPassword. The rules are the same (OCPP 1.6 security
whitepaper ed. 2; OCPP 2.0.1 part 2 A01, A02):

* The security profile may only go up over OCPP. A request to lower it is rejected
  and written to the security log (SecurityProfileDowngradeRefused): a CSMS
  link that was taken over must not be able to turn TLS or authentication off.
  A raise is accepted only if the transport can do it (TLS for 2, a client
  certificate for 3); it persists, and the charger reconnects with it.
* The key is write-only: it is never returned to the CSMS.
  A new key is stored (mode 0600) and the charger reconnects with it. Its
  value never reaches a log.
"""

from __future__ import annotations

import logging

from ukscp.ocpp.port import KeyValueStore
from ukscp.ocpp.transport import CsmsTransport, authorization_key_problem
from ukscp.security.seclog import SecurityEventType, SecurityLog

_log = logging.getLogger(__name__)

SECURITY_PROFILE_KEY = "ocpp.security_profile"
ACCEPTED = "Accepted"
REJECTED = "Rejected"


class SecurityKeys:
    """The security profile and the authorization key, over the transport they configure.

    The setters answer ``Accepted`` or ``Rejected``, words 1.6's
    ChangeConfiguration and 2.0.1's SetVariables share.
    """

    def __init__(self, transport: CsmsTransport, seclog: SecurityLog, store: KeyValueStore) -> None:
        self._transport = transport
        self._seclog = seclog
        self._store = store
        self._reconnect = False
        self._apply_stored_profile()

    def security_profile(self) -> str:
        """The security profile in force, as text."""
        return str(self._transport.config.security_profile)

    def forget(self) -> None:
        """Drop a profile the CSMS raised: a back end the owner picks comes with its own."""
        self._store.set(SECURITY_PROFILE_KEY, None)

    def take_reconnect_request(self) -> bool:
        """True once after a change the connection must be remade for."""
        wanted, self._reconnect = self._reconnect, False
        return wanted

    def set_security_profile(self, value: str) -> str:
        """Raise the profile (never lower it: a refusal is logged as a security event)."""
        try:
            wanted = int(value.strip())
        except ValueError:
            return REJECTED
        current = self._transport.config.security_profile
        if wanted < current:
            self._seclog.record(
                SecurityEventType.SECURITY_PROFILE_DOWNGRADE_REFUSED,
                f"the CSMS asked for security profile {wanted}; it stays {current}",
            )
            return REJECTED
        if wanted == current:
            return ACCEPTED
        problem = self._transport.can_use_profile(wanted)
        if problem is not None:
            _log.warning("security profile %d refused: %s", wanted, problem)
            return REJECTED
        self._transport.set_security_profile(wanted)
        self._store.set(SECURITY_PROFILE_KEY, wanted)
        self._seclog.record(
            SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
            f"security profile raised from {current} to {wanted} by the CSMS",
        )
        self._reconnect = True
        return ACCEPTED

    def set_authorization_key(self, value: str) -> str:
        """Store a new key (16..40 printable ASCII, no spaces); reconnect with it."""
        if authorization_key_problem(value) is not None:
            return REJECTED
        try:
            self._transport.write_authorization_key(value)
        except Exception as exc:
            _log.error("cannot store the new authorization key: %s", type(exc).__name__)
            return REJECTED
        self._seclog.record(
            SecurityEventType.RECONFIGURATION_OF_SECURITY_PARAMETERS,
            "AuthorizationKey changed by the CSMS",
        )
        self._reconnect = True
        return ACCEPTED

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
