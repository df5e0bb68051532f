"""The virtual Zigbee radio: EZSP network co-processors (NCPs) on a virtual air.

`ash_ncp` is the NCP side of the ASH link layer, `ncp` the EZSP command
core (handlers in `basics`, `network`, `security`, `messaging`, and A2's
`coordinator`), `air` the medium that connects NCPs (joins in `joining`,
delivery in `delivery`, the 802.15.4 link model in `linkmodel`), `thread`
runs an air on its own thread, `device` is a HAN device on stock bellows.
bellows (pinned) is the reference host: its frame classes, types and command
schemas are imported, not copied.
"""

from commshub.radio.ash_ncp import AshNcpLink, UartFaults
from commshub.radio.ncp import VirtualNcp
from commshub.radio.air import AirEvent, VirtualAir  # noqa: E402  (after ncp: import order)

__all__ = ["AirEvent", "AshNcpLink", "UartFaults", "VirtualAir", "VirtualNcp"]
