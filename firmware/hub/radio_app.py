"""Wiring of the radio (loaded only on a board with one): the radio link,
the EZSP host, the HAN network and device log services, their commands and
tasks. Kept out of hub.app so a board without a radio never loads any of it.
"""

from hub.links.radio import RadioLink
from hub.radio.ezsp import Ezsp
from hub.services.device_log import DeviceLog
from hub.services.han import Han
from hub.services.logbuf import log


def start(app, streams):
    """Build the radio stack on `streams` (the HAL's radio UART) and start its tasks."""
    link = RadioLink(streams[0], streams[1], log)
    han = Han(Ezsp(link, log), app.store, app.config, app.bus, log, app.hub_id)
    devlog = DeviceLog(han, app.store, app.clock, app.bus, log)
    from hub import han_devices  # the services for the HAN's devices and the han.* commands

    han_devices.start(app, han, devlog)
    app.system.links["radio"] = han.brief
    # Functions, not coroutines: a MemoryError restarts the loop a second later (hub.app._task)
    # instead of resetting the hub; their state is in the objects (han.run starts the radio again).
    app._task("radio.rx", link.rx_loop)
    app._task("radio.tick", link.tick_loop)
    app._task("han", han.run)
    app._task("han.devlog", devlog.run)
    return han
