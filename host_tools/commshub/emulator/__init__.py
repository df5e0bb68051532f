"""The emulated board: the firmware on the MicroPython Unix port.

- `fsimage`: the littlefs image a board boots from (also used for real boards).
- `rom`: MicroPython start-up script standing in for the port's C start-up.
- `uart`: the control UART as pty pairs (and TCP), optionally paced.
- `board`: `EmulatedBoard`, power/reset control, supervisor, console capture.
"""
