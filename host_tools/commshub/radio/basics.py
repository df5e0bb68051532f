"""NCP handlers for identity, configuration, policies and values.

Each handler gets (ncp, parsed request or None, raw request payload) and
returns the response fields by name; `ncp.callback(...)` queues callbacks
after the response. All of this is RAM on a real NCP: lost on reset.
"""

from __future__ import annotations

from typing import Any

import bellows.types as t

from commshub.radio.ncp import STACK_TYPE_MESH, STACK_VERSIONS, VirtualNcp, handles

EZSP_OK = t.EzspStatus.SUCCESS
DEFAULT_CONFIG: dict[int, int] = {
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 4,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 32,
    t.EzspConfigId.CONFIG_STACK_PROFILE: 2,
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: 5,
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 255,
    t.EzspConfigId.CONFIG_INDIRECT_TRANSMISSION_TIMEOUT: 7680,
}


def config_value(ncp: VirtualNcp, cid: t.EzspConfigId) -> int:
    """A configuration value as the host set it, else our default (0 if none)."""
    return ncp.config.get(cid, DEFAULT_CONFIG.get(cid, 0))


@handles("version")
def _version(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    return {
        "protocolVersion": ncp.protocol_version,
        "stackType": STACK_TYPE_MESH,
        "stackVersion": STACK_VERSIONS[ncp.protocol_version],
    }


@handles("nop")
def _nop(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> None:
    return None


@handles("getEui64")
def _eui64(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    return {"eui64": ncp.eui64}


@handles("getNodeId")
def _node_id(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    return {"nodeId": ncp.node_id}


@handles("getConfigurationValue")
def _get_config(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    return {"status": EZSP_OK, "value": config_value(ncp, args["configId"])}


@handles("setConfigurationValue")
def _set_config(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    ncp.config[int(args["configId"])] = int(args["value"])
    return {"status": EZSP_OK}


@handles("setPolicy")
def _set_policy(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    ncp.policies[int(args["policyId"])] = int(args["decisionId"])
    return {"status": EZSP_OK}


@handles("getValue")
def _get_value(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    vid = int(args["valueId"])
    if vid == t.EzspValueId.VALUE_VERSION_INFO:
        ver = STACK_VERSIONS[ncp.protocol_version]
        digits = [(ver >> s) & 0xF for s in (12, 8, 4, 0)]
        # build (u16), major, minor, patch, special, type (GA = 0xAA)
        value = bytes([0, 0, *digits, 0xAA])
    elif vid in ncp.values:
        value = ncp.values[vid]
    else:
        return {"status": t.EzspStatus.ERROR_INVALID_ID, "value": b""}
    return {"status": EZSP_OK, "value": value}


@handles("setValue")
def _set_value(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    ncp.values[int(args["valueId"])] = bytes(args["value"])
    return {"status": EZSP_OK}


@handles("addEndpoint")
def _add_endpoint(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    # The cluster lists are AnonymousLists: keep the raw descriptor.
    ncp.endpoints[raw[0]] = bytes(raw)
    return {"status": EZSP_OK}


@handles("customFrame")
def _custom(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    # No XNCP extensions: bellows reads a non-OK status as "no features".
    return {"status": t.EmberStatus.INVALID_CALL, "reply": b""}
