"""The hub's EZSP host at each protocol version a real dongle runs (v8 = EmberZNet 6.10, v13 = 7.4)."""

import os

import pytest

from commshub.emulator.board import EmulatedBoard, remove_instance
from commshub.hil_radio import DeviceFactory
from commshub.hub import Hub
from commshub.targets import EmulatorTarget

from test_han_join import alert, wait_can_join, wait_han_up

pytestmark = pytest.mark.emulator_only


class _Target(EmulatorTarget):
    """An emulator target whose virtual NCP speaks EZSP `version`."""

    def __init__(self, name: str, version: int) -> None:  # noqa: D107 - no super(): its board is built here
        from commshub import boards

        self.board = boards.load("emulator")
        self.emu = EmulatedBoard("emulator", name=name, fresh=True, ncp_version=version)


@pytest.mark.parametrize("version", [8, 10, 13])
def test_hub_forms_and_admits_a_device_at_ezsp_version(version):
    name = f"ezsp{version}-{os.getpid()}"  # one instance per test process
    target = _Target(name, version)
    hub = Hub(target, None)
    hub.start()
    factory = DeviceFactory(air=target.emu.air)
    try:
        st = wait_han_up(hub)
        assert st["ezsp"] == version
        dev = factory()
        hub.request("han.log.add", dict(dev.log_entry, join_s=60))
        wait_can_join(hub, dev.eui64)  # the install-code key went in (importTransientKey at v13)
        nwk = dev.join(st)
        assert alert(hub.serial, 0x8F49, eui64=dev.eui64)["node"] == nwk
    finally:
        factory.close()
        hub.stop()
        remove_instance(name)


def test_hub_on_a_real_ncp_serial_port_through_emulate_radio():
    """`commshub emulate --radio DEV`: the hub's radio UART relayed to an NCP on a serial device (here a
    virtual NCP behind a pty, standing in for a dongle on /dev/ttyUSB0)."""
    from commshub import boards
    from commshub.radio.thread import AirThread

    name = f"radio-port-{os.getpid()}"
    with AirThread() as air:
        dongle = air.add_ncp("00124B0001ABCDEF", protocol_version=13)
        path = air.open_pty(dongle)
        target = _Target.__new__(_Target)
        target.board = boards.load("emulator")
        target.emu = EmulatedBoard("emulator", name=name, fresh=True, radio=path)
        hub = Hub(target, None)
        hub.start()
        try:
            st = wait_han_up(hub)
            assert st["ncp_eui64"] == "00124B0001ABCDEF" and st["ezsp"] == 13
            assert st["ext_pan_id"] == hub.request("info").result["hub_id"]  # the hub's EUI-64, not the dongle's
            assert target.emu.radio._bridge.to_ncp > 0 and target.emu.radio._bridge.from_ncp > 0
        finally:
            hub.stop()
            remove_instance(name)
