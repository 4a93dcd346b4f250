"""The security block: the link's own settings and the security events the CSMS is told of.

:mod:`.keys` keeps the security profile and the Basic auth password (1.6
AuthorizationKey, 2.0.1 BasicAuthPassword), both set by the CSMS as settings
and acted on by reconnecting; :mod:`.events` turns each critical record of the
charger's security log into a SecurityEventNotification in the persistent
queue, once (same fields in 1.6's security whitepaper and 2.0.1 A04).
"""
