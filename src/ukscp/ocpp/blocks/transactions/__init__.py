"""The transactions block: the CSMS's view of each charging session.

A plug-in begins a transaction, an unplug ends it; the CSMS may start one
remotely (before or after the plug-in) and stop it. Version-neutral:
:mod:`.stored` (the open transaction, persisted) and :mod:`.core` (what a
block needs of the session, a remote start waiting for its plug-in, a plug-in
waiting for the charger to come back into service). Per version:
:mod:`.record16` / :mod:`.record201` (the record and its payloads) and
:mod:`.v16` / :mod:`.v201` (the block and its route table).
"""
