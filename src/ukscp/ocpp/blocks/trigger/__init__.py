"""The trigger block: messages the CSMS asks for now (1.6 section 5.17 and the security
whitepaper's ExtendedTriggerMessage; 2.0.1 F06).

:mod:`.core` decides the answer and sends an accepted message once the answer
is out; :mod:`.routes` has each version's table. What can be triggered comes
from the blocks that send it (boot, heartbeat and status from the client,
meter values, firmware and log status from their blocks).
"""
