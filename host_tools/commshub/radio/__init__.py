"""The virtual Zigbee radio: an EZSP network co-processor (NCP) over ASH.

`ash_ncp` is the NCP side of the ASH link layer, `ncp` the EZSP command
handling on top of it. bellows (pinned) is the reference host: its frame
classes, types and command schemas are imported, not copied.
"""

from commshub.radio.ash_ncp import AshNcpLink
from commshub.radio.ncp import VirtualNcp

__all__ = ["AshNcpLink", "VirtualNcp"]
