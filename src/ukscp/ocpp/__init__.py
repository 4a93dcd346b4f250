"""OCPP: the charger's link to its central system (CSMS).

Protocol types stop at this package's edge; past it the charger sees plain
data (a :class:`~ukscp.limits.limit.Limit`, a session, a meter sample).
"""
