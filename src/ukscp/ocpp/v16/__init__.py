"""The OCPP 1.6J charge point client (with the security whitepaper ed. 2 additions).

Build it in the composition root, before the charger starts (it must see the
first session, and stored charging profiles cap the first offer)::

    transport = CsmsTransport(TransportConfig.from_settings(settings.ocpp), clock, seclog)
    port = AppChargerPort(controller=..., meter=..., gate=..., arbiter=...,
                          default_mode=..., bus=bus, reset=on_reset)  # ukscp.ocpp_adapter
    smart = SmartCharging16(port=port, clock=clock, store=store, voltage_v=..., phases=...,
                            max_current_a=...)
    client = OcppClient16(transport=transport, port=port, bus=bus, clock=clock,
                          seclog=seclog, queue=MessageQueue(data_dir / QUEUE_FILE),
                          store=store, smart_charging=smart)
    task = asyncio.create_task(client.run())
    ...
    client.stop(); await task; client.close()
"""

from ukscp.ocpp.port import ChargerPort, ChargerSnapshot, KeyValueStore
from ukscp.ocpp.smart_charging.v16 import SmartCharging16
from ukscp.ocpp.v16.client import LOCAL_ID_TAG, BootInfo, ClientOptions, OcppClient16

__all__ = [
    "LOCAL_ID_TAG",
    "BootInfo",
    "ChargerPort",
    "ChargerSnapshot",
    "ClientOptions",
    "KeyValueStore",
    "OcppClient16",
    "SmartCharging16",
]
