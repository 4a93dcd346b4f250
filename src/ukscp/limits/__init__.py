"""Limits on the charging current, each carrying its source, and their arbitration."""

from ukscp.limits.arbiter import Arbiter, ArbitratedLimit
from ukscp.limits.limit import Limit, LimitSource

__all__ = ["Arbiter", "ArbitratedLimit", "Limit", "LimitSource"]
