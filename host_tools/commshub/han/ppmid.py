"""PPMID: the prepayment interface device, a mains-powered (non-sleepy) end device.

It shows the meter's credit and lets the consumer top up and take emergency
credit. Everything goes to `meter_nwk` (default: the hub, which passes it on to
the meter: the PPMID reads credit "through the hub"): Read Attributes on the
Prepayment cluster for the display (`refresh()`, every `refresh_s` simulated
seconds once joined), Consumer Top Up with the 20-digit UTRN (`top_up()`),
Select Available Emergency Credit (`emergency_credit()`). `display` holds what
the screen would show: credit, emergency credit, credit status, and the last
top-up's outcome (the meter's result, or the hub's refusal) and value.
"""

from __future__ import annotations

from typing import Any

from commshub.han import zcl
from commshub.han.clusters import CreditStatus, OriginatingDevice, Prepayment, TopUpResult
from commshub.han.runtime import HanDevice, Identity

PREPAYMENT = int(Prepayment.cluster_id)
DISPLAY_ATTRS = {0x0001: "credit_p", 0x0002: "emergency_credit_p", 0x0003: "status"}


class Ppmid(HanDevice):
    """The prepayment interface device (see the module docstring)."""

    kind = "ppmid"
    node_type = "end_device"

    def __init__(self, path: str, *, install_code: bytes, identity: Identity | None = None,
                 meter_nwk: int | None = None, refresh_s: float = 60.0, **kw: Any) -> None:
        super().__init__(path, install_code=install_code, identity=identity or Identity(
            model="PPMID emulator", image_type=0x0501, power_source=0x01), **kw)
        self.meter_nwk = meter_nwk
        self.refresh_s = refresh_s
        self.display: dict[str, Any] = {}

    async def on_joined(self) -> None:
        self.every(self.refresh_s, self.refresh)

    async def refresh(self) -> dict[str, Any]:
        """Read credit, emergency credit and credit status from the meter; the display."""
        rsp = await self.exchange(PREPAYMENT, zcl.general(
            zcl.GeneralCommand.Read_Attributes, self.next_tsn(), attribute_ids=list(DISPLAY_ATTRS)),
            dst=self.meter_nwk)
        if rsp.name != "Read_Attributes_rsp":
            raise ConnectionError(f"credit read answered with {rsp.name} {rsp.args!r}")
        values = zcl.read_response_values(rsp)
        for attr, key in DISPLAY_ATTRS.items():
            value = values.get(attr)
            if value is not None and not isinstance(value, zcl.Status):
                self.display[key] = CreditStatus(value) if key == "status" else int(value)
        self.display["read_at"] = self.clock.zigbee_now()
        return dict(self.display)

    async def top_up(self, utrn: str) -> tuple[TopUpResult, int]:
        """Send a top-up code; (the meter's result, value credited in pence). Refreshes the display."""
        code = utrn.strip().replace(" ", "").replace("-", "")
        rsp = await self.exchange(PREPAYMENT, zcl.command(
            Prepayment, "consumer_top_up", self.next_tsn(),
            originating_device=OriginatingDevice.In_Home_Display, top_up_code=code.encode("ascii")),
            dst=self.meter_nwk)
        if rsp.name == "Default_Response":  # refused before any meter saw it (the hub has none)
            status = zcl.Status(rsp.args.status)
            self.display["last_top_up"] = (status.name, 0)
            self.note(f"top-up {code}: refused, {status.name}")
            raise ConnectionError(f"top-up refused by the hub: {status.name}")
        if rsp.name != "consumer_top_up_response":
            raise ConnectionError(f"top-up answered with {rsp.name} {rsp.args!r}")
        result = TopUpResult(rsp.args.result_type)
        self.display["last_top_up"] = (result.name, int(rsp.args.top_up_value))
        self.display["credit_p"] = int(rsp.args.credit_remaining)
        self.note(f"top-up {code}: {result.name}")
        await self.refresh()
        return result, int(rsp.args.top_up_value)

    async def emergency_credit(self) -> bool:
        """Ask the meter for emergency credit; True when it was granted."""
        rsp = await self.exchange(PREPAYMENT, zcl.command(
            Prepayment, "select_available_emergency_credit", self.next_tsn(),
            command_issue_date_time=self.clock.zigbee_now(),
            originating_device=OriginatingDevice.In_Home_Display), dst=self.meter_nwk)
        ok = rsp.name == "Default_Response" and rsp.args.status == zcl.Status.SUCCESS
        self.note(f"emergency credit {'granted' if ok else 'refused'}")
        await self.refresh()
        return ok
