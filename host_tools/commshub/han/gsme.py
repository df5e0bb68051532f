"""GSME: the gas meter, a battery-powered sleepy end device.

It sleeps `wake_interval_s` (simulated) between wakes and hears nothing while
asleep: frames for it wait in its parent (the hub) and are lost after the
parent's indirect timeout, which is why the hub's Gas Proxy Function keeps a
mirror. On each wake it: polls its parent; reports its Metering attributes
(volume, battery) to the hub; opens a GB-HGRP tunnel once (Tunneling 0x0704
RequestTunnel); sends TransferData GET (`0x01`) and for each GET-RESPONSE
(`0x02`, count still waiting, one message) handles the message and answers with
`0x03` + its response, until the hub has nothing left; then lets the OTA client
(if any) work for up to `awake_s` and `ota_blocks_per_wake` blocks (it queries
for an image on the first wake,
every `ota_query_every` wakes and after an Image Notify, and goes on with a
transfer in progress); then sleeps again.

Model: gas flow 0.12 +- 0.10 m3/h over the day (`DailyProfile`, in dm3), the
register in m3 with divisor 1000; battery from 100 % down by `drain_per_wake`.
Commands handed over through the tunnel are kept in `commands`; the response to
each is built by `gbcs_reply` (not a GBCS processor: it mirrors the command's
grouping header as a response).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from commshub.han import zcl
from commshub.han.clusters import Metering, Tunneling, TunnelProtocol, TunnelStatus
from commshub.han.prepay import Account
from commshub.han.profile import DailyProfile
from commshub.han.runtime import HanDevice, Identity

GET, GET_RESPONSE, RESPONSE = 0x01, 0x02, 0x03
GROUPING = b"\xDF\x09"
MAX_TRANSFER = 1500


def gbcs_reply(message: bytes) -> bytes:
    """A response to a GBCS command: its grouping header (`DF 09`, type, 8-byte counter,
    8-byte originator, 8-byte recipient) with type 2 (response) and the two IDs swapped.
    A message without a grouping header is answered with itself (an echo)."""
    i = message.find(GROUPING)
    if i < 0 or len(message) < i + 27 or message[i + 2] != 0x01:
        return message
    orig, recip = message[i + 11:i + 19], message[i + 19:i + 27]
    return message[:i + 2] + b"\x02" + message[i + 3:i + 11] + recip + orig + message[i + 27:]


class Gsme(HanDevice):
    """The gas meter (see the module docstring)."""

    kind = "gsme"
    node_type = "sleepy"

    def __init__(self, path: str, *, install_code: bytes, identity: Identity | None = None,
                 wake_interval_s: float = 1800.0, awake_s: float = 5.0, drain_per_wake: float = 0.01,
                 price_p_per_m3: int = 7000, ota_query_every: int = 48,
                 ota_blocks_per_wake: int | None = None, top_up_key: bytes = b"", **kw: Any) -> None:
        super().__init__(path, install_code=install_code, identity=identity or Identity(
            model="GSME emulator", image_type=0x0201, power_source=0x03), **kw)
        self.wake_interval_s = wake_interval_s
        self.awake_s = awake_s
        self.drain_per_wake = drain_per_wake
        self.usage = DailyProfile(self.clock.now(), base=120.0, swing=100.0, opening=4_321_000)
        self.wakes = 0
        self.awake = False
        self.tunnel_id: int | None = None
        self.commands: list[bytes] = []
        self.replies: list[bytes] = []
        self.reply: Callable[[bytes], bytes] = gbcs_reply
        self.ota_query_every = ota_query_every
        self.ota_blocks_per_wake = ota_blocks_per_wake
        self.account = Account(self.clock, lambda: self.usage.amount(self.clock.now()) / 1000.0
                               * price_p_per_m3 / 100.0, top_up_key=top_up_key)
        m = self.server(Metering)
        m.set("current_summ_delivered", lambda: self.usage.total(self.clock.now()))
        m.set("status", 0)
        m.set("remaining_battery_life", self.battery_pct)
        m.set("unit_of_measure", 0x01)  # m3
        m.set("multiplier", 1)
        m.set("divisor", 1000)
        m.set("summation_formatting", 0x33)
        m.set("metering_device_type", 1)  # gas
        m.set("instantaneous_demand", lambda: round(self.usage.rate(self.clock.now())))
        self.account.serve(self)

    def battery_pct(self) -> int:
        return max(0, round(100 - self.wakes * self.drain_per_wake))

    async def on_joined(self) -> None:
        self.every(self.wake_interval_s, self.wake)

    async def wake(self) -> None:
        """One wake: poll, report, fetch queued commands, OTA, back to sleep."""
        self.awake = True
        self.wakes += 1
        try:
            await self.radio.poll()
            metering = int(Metering.cluster_id)
            await self.send_reports(metering, [0x0000, 0x0201])
            await self.fetch_commands()
            if self.ota is not None and (self.ota.offered is not None or self.ota.notified.is_set()
                                         or (self.wakes - 1) % self.ota_query_every == 0):
                await self.ota.step(self.awake_s, self.ota_blocks_per_wake)
        finally:
            self.awake = False

    async def fetch_commands(self) -> int:
        """GET until the hub has nothing queued; how many messages were handed over."""
        tunneling = int(Tunneling.cluster_id)
        if self.tunnel_id is None:
            rsp = await self.exchange(tunneling, zcl.command(
                Tunneling, "request_tunnel", self.next_tsn(), protocol_id=TunnelProtocol.GB_HGRP,
                manufacturer_code=self.identity.manufacturer_code, flow_control_support=0,
                max_incoming_transfer_size=MAX_TRANSFER))
            if rsp.name != "request_tunnel_response" or rsp.args.status != TunnelStatus.Success:
                self.note(f"tunnel refused: {rsp.args!r}")
                return 0
            self.tunnel_id = int(rsp.args.tunnel_id)
        got = 0
        while True:
            get = zcl.command(Tunneling, "transfer_data", self.next_tsn(), tunnel_id=self.tunnel_id,
                              data=bytes([GET]), disable_default_response=True)
            rsp = await self.request(tunneling, get, lambda f: f.name == "transfer_data"
                                     and not f.to_server)
            data = bytes(rsp.args.data)
            if len(data) < 2 or data[0] != GET_RESPONSE:
                self.note(f"unexpected tunnel data {data[:8].hex()}")
                return got
            waiting, message = data[1], data[2:]
            if message:
                got += 1
                self.commands.append(message)
                reply = self.reply(message)
                self.replies.append(reply)
                await self.send(tunneling, zcl.command(
                    Tunneling, "transfer_data", self.next_tsn(), tunnel_id=self.tunnel_id,
                    data=bytes([RESPONSE]) + reply, disable_default_response=True))
            if waiting == 0:
                return got
