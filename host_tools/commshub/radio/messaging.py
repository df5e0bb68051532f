"""NCP handlers for sending APS frames and polling: sendUnicast, sendBroadcast, pollForData.

The response comes at once (status and the APS counter the NCP picked);
the transmission runs on the air (`delivery`) and ends in
messageSentHandler, incomingMessageHandler at the receivers, and for polls
pollCompleteHandler.
"""

from __future__ import annotations

from typing import Any

import bellows.types as t

from commshub.radio import delivery
from commshub.radio.air import is_end_device
from commshub.radio.ncp import VirtualNcp, handles

OK = t.EmberStatus.SUCCESS


def _check(ncp: VirtualNcp, payload: bytes) -> t.EmberStatus | None:
    if ncp.network is None:
        return t.EmberStatus.NOT_JOINED
    if len(payload) > delivery.MAX_PAYLOAD:
        return t.EmberStatus.MESSAGE_TOO_LONG
    return None


@handles("sendUnicast")
def _unicast(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    payload = bytes(args["messageContents"])
    error = _check(ncp, payload)
    if error is None and args["type"] != t.EmberOutgoingMessageType.OUTGOING_DIRECT:
        error = t.EmberStatus.BAD_ARGUMENT  # address table / binding sends are not modelled
    if error is None and args["indexOrDestination"] == ncp.node_id:
        error = t.EmberStatus.BAD_ARGUMENT
    if error is not None:
        return {"status": error, "sequence": 0}
    seq = delivery.next_aps_seq(ncp)
    aps = args["apsFrame"].replace(sequence=seq)
    ncp.start(delivery.unicast(ncp.air, ncp, int(args["indexOrDestination"]), aps,
                               int(args["messageTag"]), payload))
    return {"status": OK, "sequence": seq}


@handles("sendBroadcast")
def _broadcast(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    payload = bytes(args["messageContents"])
    error = _check(ncp, payload)
    if error is None and args["destination"] not in delivery.BROADCAST_ADDRESSES:
        error = t.EmberStatus.BAD_ARGUMENT
    if error is not None:
        return {"status": error, "sequence": 0}
    seq = delivery.next_aps_seq(ncp)
    aps = args["apsFrame"].replace(sequence=seq)
    ncp.start(delivery.broadcast(ncp.air, ncp, int(args["destination"]), aps,
                                 int(args["messageTag"]), payload))
    return {"status": OK, "sequence": seq}


@handles("pollForData")
def _poll(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    if ncp.network is None or not is_end_device(ncp):
        return {"status": t.EmberStatus.INVALID_CALL}
    old = ncp.ram.pop("poller", None)
    if old is not None:
        old.cancel()
    period = delivery.poll_interval_s(int(args["interval"]), args["units"])
    ncp.ram["poller"] = ncp.start(_polling(ncp, period))
    return {"status": OK}


async def _polling(ncp: VirtualNcp, period: float | None) -> None:
    """Poll once (period None) or every `period` s of air time until reset or a new pollForData."""
    while ncp.network is not None:
        status = await delivery.poll(ncp.air, ncp)
        ncp.send_callback("pollCompleteHandler", status=status)
        if period is None:
            return
        await ncp.air.sleep(period)
