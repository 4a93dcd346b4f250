"""The logs block: GetLog and its LogStatusNotifications, the same in OCPP 1.6 and 2.0.1.

:mod:`~ukscp.ocpp.blocks.logs.upload` keeps and runs the uploads (version-neutral);
:func:`~ukscp.ocpp.blocks.logs.routes.routes` is the one route table both versions use
(GetLog is the same request in the 1.6 security whitepaper ed. 2 and 2.0.1 N01).
"""
