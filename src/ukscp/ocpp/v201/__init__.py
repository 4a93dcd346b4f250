"""The OCPP 2.0.1 charging station client, the sibling of :mod:`ukscp.ocpp.v16`.

Both share what is version-neutral (:mod:`ukscp.ocpp`: the transport, the
queue and its sender, the charger port, log upload, meter readings, the
security keys, the profile keeper and the smart-charging core). Build it in
the composition root, before the charger starts::

    transport = CsmsTransport(TransportConfig.from_settings(settings.ocpp), clock, seclog)
    smart = SmartCharging201(port=port, clock=clock, store=store, voltage_v=...,
                             phases=..., max_current_a=...)
    client = OcppClient201(transport=transport, port=port, bus=bus, clock=clock,
                           seclog=seclog, queue=MessageQueue(data_dir / QUEUE_FILE),
                           store=store, smart_charging=smart)
    task = asyncio.create_task(client.run())
    ...
    client.stop(); await task; client.close()
"""

from ukscp.ocpp.smart_charging.v201 import SmartCharging201
from ukscp.ocpp.v201.client import OWNER_IDENTIFIER, BootInfo, ClientOptions, OcppClient201

__all__ = [
    "OWNER_IDENTIFIER",
    "BootInfo",
    "ClientOptions",
    "OcppClient201",
    "SmartCharging201",
]
