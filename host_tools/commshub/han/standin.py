"""A stand-in hub on bellows: coordinator and trust centre for testing the device emulators
without the hub firmware (and a reference for what the devices expect of a hub).

`HubStandIn` forms the network, admits devices by install code, and plays the
hub's HAN roles in their simplest form: it keeps the latest reported Metering
values per device (`mirror`), queues GBCS messages for the GSME and hands them
over on Tunneling GET (GET-RESPONSE with the count still waiting), collects the
GSME's `0x03` responses, and passes a PPMID's Prepayment reads and commands on
to the meter (`prepay_meter`) and the meter's answers back. OTA serving is in
commshub.han.otaserver.
"""

from __future__ import annotations

import collections
from typing import Any

import bellows.types as bt

from commshub.han import zcl
from commshub.han.clusters import Prepayment, Tunneling, TunnelStatus
from commshub.han.gsme import GET, GET_RESPONSE, MAX_TRANSFER, RESPONSE
from commshub.han.runtime import HanDevice, Network
from commshub.radio.device import Received

PREPAYMENT = int(Prepayment.cluster_id)


class HubStandIn(HanDevice):
    """Coordinator/TC with minimal hub behaviour (see the module docstring)."""

    kind = "hub-stand-in"
    node_type = "coordinator"

    def __init__(self, path: str, **kw: Any) -> None:
        super().__init__(path, install_code=None, **kw)
        self.mirror: dict[int, dict[int, dict[int, Any]]] = collections.defaultdict(
            lambda: collections.defaultdict(dict))
        self.queues: dict[int, collections.deque[bytes]] = collections.defaultdict(collections.deque)
        self.tunnel_replies: dict[int, list[bytes]] = collections.defaultdict(list)
        self.handed_over: list[tuple[int, bytes]] = []
        self.prepay_meter: int | None = None
        self._tunnels: dict[int, int] = {}
        self.on(Tunneling, "request_tunnel", self._request_tunnel)
        self.on(Tunneling, "transfer_data", self._transfer_data)

    async def start(self, network: Network, join_timeout: float = 60.0) -> int:
        """Form the network (install-code joins only) and serve; our short address (0)."""
        await self.radio.connect()
        self.spawn(self._rx_loop())
        await self.radio.form(channel=network.channel, pan_id=network.pan_id,
                              ext_pan_id=network.ext_pan_id or str(self.radio.eui64))
        return int(self.radio.node_id or 0)

    async def admit(self, eui64: bt.EUI64 | str, install_code: bytes) -> None:
        """Add a device to the 'device log': it may join with its install code."""
        eui = eui64 if isinstance(eui64, bt.EUI64) else bt.EUI64.convert(eui64)
        await self.radio.allow(eui, install_code)

    def queue_for(self, nwk: int, message: bytes) -> None:
        """Queue a GBCS message for the device at `nwk` (handed over when it sends GET)."""
        self.queues[nwk].append(message)

    async def _request_tunnel(self, frame: zcl.Frame, msg: Received) -> bytes:
        tunnel_id = self._tunnels.setdefault(msg.sender, len(self._tunnels) + 1)
        return zcl.command(Tunneling, "request_tunnel_response", frame.tsn, to_server=False,
                           disable_default_response=True, tunnel_id=tunnel_id,
                           status=TunnelStatus.Success, max_incoming_transfer_size=MAX_TRANSFER)

    async def _transfer_data(self, frame: zcl.Frame, msg: Received) -> bytes | None:
        data = bytes(frame.args.data)
        if data[:1] == bytes([GET]):
            queue = self.queues[msg.sender]
            message = queue.popleft() if queue else b""
            if message:
                self.handed_over.append((msg.sender, message))
            return zcl.command(Tunneling, "transfer_data", frame.tsn, to_server=False,
                               disable_default_response=True, tunnel_id=frame.args.tunnel_id,
                               data=bytes([GET_RESPONSE, min(len(queue), 255)]) + message)
        if data[:1] == bytes([RESPONSE]):
            self.tunnel_replies[msg.sender].append(data[1:])
        return None

    async def _handle(self, frame: zcl.Frame, msg: Received) -> bytes | None:
        if frame.general and frame.name == "Report_Attributes":
            for rep in frame.args.attribute_reports:
                self.mirror[msg.sender][msg.cluster][int(rep.attrid)] = rep.value.value
            return None
        if (msg.cluster == PREPAYMENT and frame.to_server and self.prepay_meter is not None
                and msg.sender != self.prepay_meter):
            return await self._pass_to_meter(frame, msg)
        return await super()._handle(frame, msg)

    async def _pass_to_meter(self, frame: zcl.Frame, msg: Received) -> bytes:
        """Send the PPMID's request on to the meter; its answer, with the PPMID's TSN."""
        assert self.prepay_meter is not None
        ours = self.next_tsn()
        rsp = await self.exchange(msg.cluster, _with_tsn(msg.payload, ours), dst=self.prepay_meter)
        return _with_tsn(rsp.header.serialize() + _body(rsp), frame.tsn)


def _body(frame: zcl.Frame) -> bytes:
    return frame.args.serialize()


def _with_tsn(payload: bytes, tsn: int) -> bytes:
    """The same ZCL frame with another TSN."""
    hdr, rest = zcl.f.ZCLHeader.deserialize(payload)
    hdr.tsn = tsn
    return hdr.serialize() + rest
