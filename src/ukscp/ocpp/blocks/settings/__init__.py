"""The settings block: what the CSMS may read and set, and the reports of it.

OCPP 1.6 has configuration keys (:mod:`.configuration16`: GetConfiguration,
ChangeConfiguration); OCPP 2.0.1 a device model of components and variables
(:mod:`.device_model201`, :mod:`.reports201`: GetVariables, SetVariables,
GetBaseReport and its NotifyReport). What both share is version-neutral: the
value checks (:mod:`.value_checks`) and the remote setting of the randomised
delay's maximum (:mod:`.random_delay`, regulation 11). :mod:`.routes` has each
version's table.
"""
