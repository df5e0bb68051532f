"""Raspberry Pi Pico (W): the control plane is the USB CDC console."""

from hub.hal.esp32 import Hal as _Esp32Hal


class Hal(_Esp32Hal):
    platform = "rp2"
