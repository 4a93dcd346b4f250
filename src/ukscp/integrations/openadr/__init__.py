"""OpenADR 2.0b demand side response: the charger as a VEN of a grid operator's VTN.

:mod:`.signals` (pure) turns an event's signals into limits over time, as
docs/dsr.md writes the mapping down; :mod:`.ven` is the shell that registers,
polls on the charger's clock, answers events, applies them as DSR events
(:mod:`ukscp.regulation.dsr`) and tells the VTN when the owner opts out.
"""
