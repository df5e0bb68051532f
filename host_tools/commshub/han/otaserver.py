"""A minimal OTA Upgrade server (0x0019) for the stand-in hub: offers images, serves blocks,
records what each device said at the end.

`OtaServer(hub)`; `add(image_bytes)` offers a GBCS image to devices of its
manufacturer code and image type (or to the pair given, to test refusals);
`notify(nwk)` sends Image Notify. `progress[nwk]` is the last offset asked for
(`asked[nwk]` all of them),
`ends[nwk]` the Upgrade End statuses received. `upgrade_time` is what the
Upgrade End Response says (0: now; 0xFFFFFFFF: wait); `wait_blocks` answers the
first N block requests of each device with WAIT_FOR_DATA.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from zigpy.zcl.clusters.general import Ota

from commshub.han import zcl
from commshub.images import gbcs
from commshub.radio.device import Received

if TYPE_CHECKING:
    from commshub.han.runtime import HanDevice

OTA = int(Ota.cluster_id)
Status = zcl.Status


class OtaServer:
    """Serves OTA images from a (stand-in) hub (see the module docstring)."""

    def __init__(self, hub: HanDevice, *, upgrade_time: int = 0, wait_blocks: int = 0) -> None:
        self.hub = hub
        self.images: dict[tuple[int, int], tuple[int, bytes]] = {}
        self.progress: dict[int, int] = {}
        self.asked: dict[int, list[int]] = collections.defaultdict(list)  # every offset requested
        self.ends: dict[int, list[Status]] = collections.defaultdict(list)
        self.upgrade_time = upgrade_time
        self.wait_blocks = wait_blocks
        self._waited: collections.Counter[int] = collections.Counter()
        hub.on(Ota, "query_next_image", self._query)
        hub.on(Ota, "image_block", self._block)
        hub.on(Ota, "upgrade_end", self._end)

    def add(self, image: bytes, *, manufacturer: int | None = None,
            image_type: int | None = None) -> None:
        """Offer `image`; by default to the device type its header names."""
        img = gbcs.parse_image(image)
        key = (img.manufacturer if manufacturer is None else manufacturer,
               img.image_type if image_type is None else image_type)
        self.images[key] = (img.file_version, image)

    async def notify(self, nwk: int) -> None:
        """Image Notify (jitter 100: 'query now') to one device."""
        await self.hub.send(OTA, zcl.command(Ota, "image_notify", self.hub.next_tsn(), to_server=False,
                                             disable_default_response=True, payload_type=0,
                                             query_jitter=100), dst=nwk)

    async def _query(self, frame: zcl.Frame, msg: Received) -> bytes:
        a = frame.args
        offer = self.images.get((int(a.manufacturer_code), int(a.image_type)))
        if offer is None or offer[0] == int(a.current_file_version):
            return zcl.command(Ota, "query_next_image_response", frame.tsn, to_server=False,
                               disable_default_response=True, status=Status.NO_IMAGE_AVAILABLE)
        version, image = offer
        return zcl.command(Ota, "query_next_image_response", frame.tsn, to_server=False,
                           disable_default_response=True, status=Status.SUCCESS,
                           manufacturer_code=a.manufacturer_code, image_type=a.image_type,
                           file_version=version, image_size=len(image))

    async def _block(self, frame: zcl.Frame, msg: Received) -> bytes:
        a = frame.args
        offer = self.images.get((int(a.manufacturer_code), int(a.image_type)))
        if offer is None or offer[0] != int(a.file_version) or int(a.file_offset) > len(offer[1]):
            return zcl.command(Ota, "image_block_response", frame.tsn, to_server=False,
                               disable_default_response=True, status=Status.ABORT)
        if self._waited[msg.sender] < self.wait_blocks:
            self._waited[msg.sender] += 1
            now = self.hub.clock.zigbee_now()
            return zcl.command(Ota, "image_block_response", frame.tsn, to_server=False,
                               disable_default_response=True, status=Status.WAIT_FOR_DATA,
                               current_time=now, request_time=now + 1, minimum_block_period=0)
        start = int(a.file_offset)
        self.progress[msg.sender] = start
        self.asked[msg.sender].append(start)
        data = offer[1][start:start + int(a.maximum_data_size)]
        return zcl.command(Ota, "image_block_response", frame.tsn, to_server=False,
                           disable_default_response=True, status=Status.SUCCESS,
                           manufacturer_code=a.manufacturer_code, image_type=a.image_type,
                           file_version=a.file_version, file_offset=start, image_data=data)

    async def _end(self, frame: zcl.Frame, msg: Received) -> bytes:
        a = frame.args
        self.ends[msg.sender].append(Status(a.status))
        if a.status != Status.SUCCESS:
            return zcl.default_response(frame, Status.SUCCESS)
        now = self.hub.clock.zigbee_now()
        return zcl.command(Ota, "upgrade_end_response", frame.tsn, to_server=False,
                           disable_default_response=True, manufacturer_code=a.manufacturer_code,
                           image_type=a.image_type, file_version=a.file_version, current_time=now,
                           upgrade_time=self.upgrade_time)
