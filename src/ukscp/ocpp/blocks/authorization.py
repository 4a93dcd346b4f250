"""ClearCache: this charger keeps no authorization cache (OCPP 1.6 section 5.4; 2.0.1 C11).

A home charger has no card reader: its sessions are the owner's own or started
by the CSMS, so it keeps no cache of id tags (1.6 reports
AuthorizationCacheEnabled false, 2.0.1 AuthCacheCtrlr Available and Enabled
false). Both versions answer Rejected when the cache cannot be cleared.
"""

from __future__ import annotations

from ukscp.ocpp.routes import Result, Route


def routes(result: Result) -> list[Route]:
    """ClearCache's route, answered with ``result`` (the version's): always Rejected."""
    return [Route("ClearCache", lambda _: result("ClearCache", status="Rejected"))]
