"""The meter values block: the charger's meter as the CSMS reads it.

Version-neutral: :mod:`.readings` (measurands, units, contexts, OCPP's time
format, clock alignment) and :mod:`.sampling` (the two clocks: a sample every
interval during a transaction, and readings at each clock-aligned boundary).
Per version: the SampledValue's shape (:mod:`.values16`, :mod:`.values201`)
and what a sample becomes (:mod:`.v16`: MeterValues; :mod:`.v201`: a
TransactionEvent in a transaction, MeterValues outside one). Meter values
are written to the persistent queue, so an outage loses none.
"""
