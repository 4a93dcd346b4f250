"""The firmware block: signed firmware updates from the CSMS, for either OCPP version.

:mod:`~ukscp.ocpp.blocks.firmware.updates` is its version-neutral core (the request
read from the wire, the installer's statuses queued as notifications);
:func:`~ukscp.ocpp.blocks.firmware.routes.routes` gives each version its route:
1.6 SignedUpdateFirmware (security whitepaper ed. 2), 2.0.1 UpdateFirmware (L01).
The installer itself is :mod:`ukscp.firmware.install`.
"""
