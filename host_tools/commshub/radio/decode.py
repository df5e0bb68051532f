"""APS payloads as text a person can read: ZDO and ZCL decoded with zigpy.

`describe(profile, cluster, payload)` gives one line: for profile 0 the ZDO
command and its fields (`ZDO Device_annce tsn=1: NWKAddr=0x1A2B ...`), for any
other profile the ZCL header and command (`ZCL Basic Read_Attributes tsn=3:
zcl_version, model`), with attribute names and values for read attributes,
their responses, reports, write attributes and default responses. Whatever
zigpy cannot parse is shown as raw hex, never dropped. The schemas are zigpy's,
and for the Smart Energy clusters zigpy leaves empty (Price, Tunneling,
Prepayment) those of `commshub.han.clusters`; other unknown clusters decode
to cluster and command ids.
"""

from __future__ import annotations

import datetime
import enum
from typing import Any

import zigpy.types as zt
import zigpy.zcl as zcl
import zigpy.zcl.foundation as foundation
import zigpy.zdo.types as zdo_t

from commshub.han.zcl import ZclError, cluster_class

PROFILES = {0x0000: "ZDO", 0x0104: "HA", 0x0109: "SE", 0xC05E: "ZLL", 0xA1E0: "GP"}
ZDO_PROFILE = 0x0000
ZIGBEE_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)


def profile_name(profile: int) -> str:
    """Short name of an application profile (`SE`, `HA`, ...), else its id in hex."""
    return PROFILES.get(profile, f"0x{profile:04X}")


def cluster_name(profile: int, cluster: int) -> str:
    """`Basic`, `Metering`, `Device_annce` (ZDO) ... or the id in hex."""
    if profile == ZDO_PROFILE:
        try:
            return zdo_t.ZDOCmd(cluster).name
        except ValueError:
            return f"0x{cluster:04X}"
    cls = _cluster(cluster)
    return cls.__name__ if cls is not None else f"0x{cluster:04X}"


def describe(profile: int, cluster: int, payload: bytes) -> str:
    """One line for an APS payload: decoded ZDO / ZCL, or `raw <hex>`."""
    if not payload:
        return "(empty)"
    try:
        if profile == ZDO_PROFILE:
            return _zdo(cluster, payload)
        return _zcl(cluster, payload)
    except Exception:  # noqa: BLE001 - a frame zigpy cannot parse is shown raw, never lost
        return f"raw {payload.hex()}"


def fmt(value: Any) -> str:
    """A decoded field value as a person would write it."""
    if isinstance(value, enum.Enum):
        return str(value.name)
    if isinstance(value, zt.UTCTime):  # ZCL time: seconds since 2000-01-01 UTC
        when = ZIGBEE_EPOCH + datetime.timedelta(seconds=int(value))
        return f"{int(value)} ({when:%Y-%m-%dT%H:%M:%SZ})"
    if isinstance(value, (zt.NWK, zt.Group)):
        return f"0x{int(value):04X}"
    if isinstance(value, zt.EUI64):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, zt.Struct):
        return "{" + " ".join(f"{k}={fmt(v)}" for k, v in value.as_dict().items()) + "}"
    return str(value)


# -- ZDO -------------------------------------------------------------------------


def _zdo(cluster: int, payload: bytes) -> str:
    name = cluster_name(ZDO_PROFILE, cluster)
    tsn, body = payload[0], payload[1:]
    try:
        names, types = zdo_t.CLUSTERS[zdo_t.ZDOCmd(cluster)]
    except (KeyError, ValueError):
        return f"ZDO {name} tsn={tsn}: raw {_hex(body)}"
    fields = []
    for fname, ftype in zip(names, types, strict=True):
        value, body = ftype.deserialize(body)
        fields.append(f"{fname}={fmt(value)}")
    text = f"ZDO {name} tsn={tsn}"
    if fields:
        text += ": " + " ".join(fields)
    return text + (f" +{body.hex()}" if body else "")


# -- ZCL -------------------------------------------------------------------------


def _zcl(cluster: int, payload: bytes) -> str:
    hdr, body = foundation.ZCLHeader.deserialize(payload)
    cls = _cluster(cluster)
    cname = cls.__name__ if cls is not None else f"cluster 0x{cluster:04X}"
    mfr = f" mfr=0x{int(hdr.manufacturer):04X}" if hdr.manufacturer is not None else ""
    to_client = hdr.direction == foundation.Direction.Server_to_Client
    arrow = "<" if to_client else ">"  # '>' client to server, '<' server to client
    general = bool(hdr.frame_control.is_general)
    if general:
        cdef = foundation.GENERAL_COMMANDS.get(hdr.command_id)
    else:
        commands = (cls.client_commands if to_client else cls.server_commands) if cls else {}
        cdef = commands.get(hdr.command_id)
    if cdef is None:
        what = "general" if general else "cmd"
        return f"ZCL {cname} {arrow} {what} 0x{hdr.command_id:02X} tsn={hdr.tsn}{mfr}: raw {_hex(body)}"
    label = f"ZCL {cname} {arrow} {cdef.name} tsn={hdr.tsn}{mfr}"
    try:
        args, rest = cdef.schema.deserialize(body)
    except Exception:  # noqa: BLE001 - malformed body: keep the header, show the bytes
        return f"{label}: raw {_hex(body)}"
    text = _general(cls, cdef.name, args) if general else _fields(args)
    if rest:
        text += f" +{rest.hex()}"
    return f"{label}: {text}" if text else label


def _cluster(cluster: int) -> type[zcl.Cluster] | None:
    """zigpy's cluster class, or ours for the Smart Energy clusters zigpy leaves empty."""
    try:
        return cluster_class(cluster)
    except ZclError:
        return None


def _fields(args: Any) -> str:
    return " ".join(f"{k}={fmt(v)}" for k, v in args.as_dict().items())


def _hex(data: bytes) -> str:
    return data.hex() or "-"


def _attr(cls: type[zcl.Cluster] | None, attrid: int) -> str:
    if cls is not None and attrid in cls.attributes:
        return str(cls.attributes[attrid].name)
    return f"0x{attrid:04X}"


def _general(cls: type[zcl.Cluster] | None, name: str, args: Any) -> str:
    """Foundation commands with attribute names; the rest field by field."""
    if name == "Read_Attributes":
        return ", ".join(_attr(cls, a) for a in args.attribute_ids)
    if name == "Read_Attributes_rsp":
        parts = []
        for rec in args.status_records:
            if rec.status == foundation.Status.SUCCESS:
                parts.append(f"{_attr(cls, rec.attrid)}={fmt(rec.value.value)}")
            else:
                parts.append(f"{_attr(cls, rec.attrid)}: {rec.status.name}")
        return ", ".join(parts)
    if name in ("Report_Attributes", "Write_Attributes", "Write_Attributes_Undivided",
                "Write_Attributes_No_Response"):
        records = args.attribute_reports if name == "Report_Attributes" else args.attributes
        return ", ".join(f"{_attr(cls, r.attrid)}={fmt(r.value.value)}" for r in records)
    if name == "Write_Attributes_rsp":
        return ", ".join(
            rec.status.name if rec.attrid is None else f"{_attr(cls, rec.attrid)}: {rec.status.name}"
            for rec in args.status_records
        )
    if name == "Default_Response":
        return f"command=0x{args.command_id:02X} status={fmt(args.status)}"
    return _fields(args)
