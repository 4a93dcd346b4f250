"""OCPP's functional blocks, each a version-neutral core and a route table per version.

Transactions, meter values, availability, reset, trigger, logs, settings,
firmware, security, and the two small ones both versions answer alike
(authorization: ClearCache; vendor: DataTransfer). Smart charging, the
largest, is :mod:`ukscp.ocpp.smart_charging`, built the same way.
"""
