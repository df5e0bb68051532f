"""Bringing the HAN network up (hub.services.han): loaded for each start of the
network and dropped once it is up, so a running HAN does not hold this code.

Forms the network once (channel and PAN ID from config, Extended PAN ID = the
hub's EUI-64, random network and trust-centre keys persisted before the NCP
sees them), then resumes it with networkInit after every hub reboot and NCP
reset; an NCP holding another network leaves it first.
"""

import os
import struct
import time
from binascii import hexlify, unhexlify

import asyncio
from micropython import const

from hub.errors import HubError
from hub.services.han import eui_bytes, eui_hex

# EZSP ids (bellows.types names).
_ADD_ENDPOINT = const(0x0002)
_NETWORK_INIT = const(0x0017)
_FORM_NETWORK = const(0x001E)
_LEAVE_NETWORK = const(0x0020)
_GET_EUI64 = const(0x0026)
_GET_NETWORK_PARAMETERS = const(0x0028)
_SET_CONFIGURATION_VALUE = const(0x0053)
_SET_POLICY = const(0x0055)
_SET_INITIAL_SECURITY_STATE = const(0x0068)
_NOT_JOINED = const(0x93)
_SE_PROFILE = const(0x0109)
_EP = const(1)  # the hub's one endpoint
# setInitialSecurityState: TRUST_CENTER_GLOBAL_LINK_KEY | HAVE_PRECONFIGURED_KEY | HAVE_NETWORK_KEY
_SECURITY_BITMASK = const(0x0304)
_TC_POLICY = const(0)  # TRUST_CENTER_POLICY
_TC_DECISION = const(0x11)  # ALLOW_JOINS | JOINS_USE_INSTALL_CODE_KEY: nobody joins without a transient key
_CONFIG_TRANSIENT_KEY_TIMEOUT = const(54)  # the hub removes keys itself when a join window closes
SERVER_CLUSTERS = (0x0000, 0x000A, 0x0019, 0x0704)  # Basic, Time, OTA, Tunneling
_T_UP_MS = const(10000)


async def bring_up(han):
    """Start the EZSP host, set the NCP up and form or resume the network (HubError if not)."""
    e = han.ezsp
    han.state = "starting"
    from hub.radio.ezsp_start import start  # dropped with this module (hub.services.han)

    await start(e)
    han.ncp_eui = eui_hex(await e.cmd(_GET_EUI64))
    await han._status_cmd(_SET_CONFIGURATION_VALUE,
                          struct.pack("<BH", _CONFIG_TRANSIENT_KEY_TIMEOUT, 0xFFFF), "config")
    await han._status_cmd(_SET_POLICY, bytes((_TC_POLICY, _TC_DECISION)), "setPolicy")
    n = len(SERVER_CLUSTERS)
    ep = struct.pack("<BHHBBB", _EP, _SE_PROFILE, 0x0500, 0, n, 0) + struct.pack("<%dH" % n, *SERVER_CLUSTERS)
    await han._status_cmd(_ADD_ENDPOINT, ep, "addEndpoint")
    han._net.clear()
    p = await e.cmd(_NETWORK_INIT, b"\x00\x00")
    if p[0] == _NOT_JOINED:
        await _form(han)
        han.formed += 1
    elif p[0] == 0:
        await _wait_up(han)
        if not await _ours(han):
            han.log.warn("han: the NCP held another network: leaving it")
            await e.cmd(_LEAVE_NETWORK)
            await asyncio.sleep_ms(500)
            await _form(han)
            han.formed += 1
        else:
            han.resumed += 1
    else:
        raise HubError("radio_error", "networkInit status 0x%02X" % p[0])
    han.log.info("han: up, channel %d pan 0x%04X, EZSP v%d (%s)"
                 % (han.params[0], han.params[1], e.version, e.stack))


async def _wait_up(han):
    t0 = time.ticks_ms()
    while not han._net.is_set():
        if time.ticks_diff(time.ticks_ms(), t0) > _T_UP_MS:
            raise HubError("radio_timeout", "network did not come up")
        if not han.ezsp.up:
            raise HubError("radio_reset", "radio lost while starting")
        await asyncio.sleep_ms(20)


async def _ours(han):
    p = await han.ezsp.cmd(_GET_NETWORK_PARAMETERS)
    if p[0] != 0 or len(p) < 22:
        return False
    ext = eui_hex(p[2:10])
    pan, ch = struct.unpack_from("<HxB", p, 10)
    han.params = (ch, pan)
    return ext == han.hub_id


def _keys(han):
    # Generated and stored before the NCP ever sees them, so a power cut
    # between the two cannot leave a network whose key the hub lost.
    st = han.store.load("han", {})
    if len(st.get("nwk_key", "")) != 32 or len(st.get("tc_key", "")) != 32:
        st = {"nwk_key": hexlify(os.urandom(16)).decode(), "tc_key": hexlify(os.urandom(16)).decode()}
        han.store.save("han", st)
    return unhexlify(st["tc_key"]), unhexlify(st["nwk_key"])


def _choose(han):
    ch = han.config["han.channel"]
    pan = han.config["han.pan_id"]
    if not pan:  # auto: stable per hub, from its EUI-64
        pan = int(han.hub_id[-4:], 16) % 0xFFF0 + 1
    return ch, pan


async def _form(han):
    tc_key, nwk_key = _keys(han)
    sec = struct.pack("<H", _SECURITY_BITMASK) + tc_key + nwk_key + b"\x00" + bytes(8)
    await han._status_cmd(_SET_INITIAL_SECURITY_STATE, sec, "setInitialSecurityState")
    ch, pan = _choose(han)
    params = eui_bytes(han.hub_id) + struct.pack("<HBBBHBI", pan, 8, ch, 0, 0, 0, 1 << ch)
    han._net.clear()
    await han._status_cmd(_FORM_NETWORK, params, "formNetwork")
    await _wait_up(han)
    han.params = (ch, pan)
    han.log.info("han: formed network on channel %d, pan 0x%04X" % (ch, pan))
