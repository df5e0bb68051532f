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
