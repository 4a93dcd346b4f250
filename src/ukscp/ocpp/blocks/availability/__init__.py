"""The availability block: the charger in or out of service, and its connector.

:mod:`~ukscp.ocpp.blocks.availability.core` keeps Operative/Inoperative (version-
neutral); :mod:`~ukscp.ocpp.blocks.availability.routes` has each version's table:
ChangeAvailability (1.6 section 5.2; 2.0.1 G03, G04) and UnlockConnector (1.6
section 5.18; 2.0.1 F05), which on a tethered cable with no lock never unlocks.
"""
