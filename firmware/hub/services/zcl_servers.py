"""The hub's ZCL cluster servers on its endpoint: Basic (0x0000) and Time
(0x000A; the hub gives the HAN its UTC time, ZCL counts from 2000-01-01).

Requests arrive through the HAN service (only from devices in the log);
answers go back as APS unicasts. Unsupported commands and attributes get the
ZCL statuses for them, never silence (unless the request asked for no
default response).
"""

import asyncio

from hub.codecs import zcl

SE_PROFILE = 0x0109
BASIC = 0x0000
TIME = 0x000A
ZIGBEE_EPOCH = 946684800  # 2000-01-01T00:00:00Z in Unix seconds
# Time cluster TimeStatus: Master (bit 0) and Superseding (bit 3) as an SE
# time server; Synchronized (bit 1) once the hub's clock has been set.
_STATUS_MASTER_SUPERSEDING = 0x09
_STATUS_SYNCHRONIZED = 0x02


class ZclServers:
    def __init__(self, han, clock, fw_version, log):
        self.han = han
        self.clock = clock
        self.log = log
        self.basic = {
            0x0000: (zcl.T_U8, 8),  # ZCLVersion (ZCL 8)
            0x0001: (zcl.T_U8, 1),  # ApplicationVersion
            0x0003: (zcl.T_U8, 1),  # HWVersion
            0x0004: (zcl.T_STRING, "commshub"),  # ManufacturerName
            0x0005: (zcl.T_STRING, "CHF-emulator"),  # ModelIdentifier
            0x0007: (zcl.T_ENUM8, 0x01),  # PowerSource: mains, single phase
            0x4000: (zcl.T_STRING, fw_version[:16]),  # SWBuildID
        }
        self.answered = 0
        for profile in (SE_PROFILE, 0x0104):  # Smart Energy, and Home Automation for generic tools
            han.receivers[(profile, BASIC)] = self._request
            han.receivers[(profile, TIME)] = self._request

    def _time_attr(self, aid):
        utc = self.clock.utc()
        if aid == 0x0000:
            return zcl.T_UTC, utc - ZIGBEE_EPOCH
        if aid == 0x0001:
            return zcl.T_MAP8, _STATUS_MASTER_SUPERSEDING | (_STATUS_SYNCHRONIZED if self.clock.is_set else 0)
        if aid == 0x0002:
            return zcl.T_I32, 0  # TimeZone: the hub keeps UTC
        if aid == 0x0007:
            return zcl.T_U32, utc - ZIGBEE_EPOCH  # LocalTime
        return None

    def answer(self, cluster, payload):
        """The ZCL answer to request `payload` on `cluster` (bytes), or None for no answer."""
        try:
            h = zcl.decode_header(payload)
        except Exception:  # noqa - too short to answer at all
            return None
        if not h.to_server:
            return None
        fc = zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP | (h.fc & zcl.FC_MANUFACTURER)
        if h.is_global and h.cmd == zcl.READ_ATTRIBUTES and h.manufacturer is None:
            try:
                ids = zcl.decode_read_attributes(payload, h.size)
            except Exception:  # noqa
                return zcl.encode_header(fc, h.seq, zcl.DEFAULT_RSP) + \
                    zcl.encode_default_rsp(h.cmd, zcl.MALFORMED_COMMAND)
            records = []
            for aid in ids:
                v = self.basic.get(aid) if cluster == BASIC else self._time_attr(aid)
                if v is None:
                    records.append((aid, zcl.UNSUPPORTED_ATTRIBUTE, 0, None))
                else:
                    records.append((aid, zcl.SUCCESS, v[0], v[1]))
            return zcl.encode_header(fc, h.seq, zcl.READ_ATTRIBUTES_RSP, h.manufacturer) + \
                zcl.encode_read_attributes_rsp(records)
        if h.fc & zcl.FC_NO_DEFAULT_RSP or (h.is_global and h.cmd == zcl.DEFAULT_RSP):
            return None
        status = zcl.UNSUP_GENERAL_COMMAND if h.is_global else zcl.UNSUP_CLUSTER_COMMAND
        return zcl.encode_header(fc, h.seq, zcl.DEFAULT_RSP, h.manufacturer) + zcl.encode_default_rsp(h.cmd, status)

    def _request(self, node, eui, aps, payload):
        profile, cluster, src_ep, dst_ep, _seq = aps
        out = self.answer(cluster, payload)
        if out is not None:
            asyncio.create_task(self._send(node, cluster, out, profile, dst_ep, src_ep))

    async def _send(self, node, cluster, out, profile, src_ep, dst_ep):
        try:
            await self.han.unicast(node, cluster, out, profile, src_ep, dst_ep)
            self.answered += 1
        except Exception as e:  # the radio went away: the device asks again
            self.log.warn("zcl: answer to 0x%04X not sent (%r)" % (node, e))
