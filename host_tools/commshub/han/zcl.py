"""ZCL frames for the HAN devices, built and parsed with zigpy's header and command schemas.

`command()` / `general()` build frames, `parse()` reads one back into a `Frame`
(header, command name, arguments). `AttributeStore` is a cluster's server-side
attribute table: it answers Read Attributes with zigpy's typed records, so a
value always goes out in the type the cluster definition gives it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import zigpy.types as t
from zigpy.zcl import Cluster
from zigpy.zcl import foundation as f

Direction = f.Direction
Status = f.Status
GeneralCommand = f.GeneralCommand


class ZclError(ValueError):
    """A frame that cannot be parsed (too short, unknown command, bad arguments)."""


@dataclasses.dataclass
class Frame:
    """A parsed ZCL frame: `name` is the command's name in zigpy's definitions."""

    cluster_id: int
    header: f.ZCLHeader
    name: str
    args: Any  # the command schema's instance (attribute access by field name)

    @property
    def tsn(self) -> int:
        return int(self.header.tsn)

    @property
    def general(self) -> bool:
        return bool(self.header.frame_control.is_general)

    @property
    def to_server(self) -> bool:
        return self.header.direction == Direction.Client_to_Server

    @property
    def wants_default_response(self) -> bool:
        return not self.header.frame_control.disable_default_response


def cluster_class(cluster_id: int) -> type[Cluster]:
    """The zigpy cluster class for an id: ours for the SE clusters zigpy leaves empty."""
    from commshub.han.clusters import SE_CLUSTERS  # noqa: PLC0415  (clusters imports nothing of ours)

    cls = SE_CLUSTERS.get(cluster_id) or Cluster._registry.get(cluster_id)
    if cls is None:
        raise ZclError(f"no cluster definition for {cluster_id:#06x}")
    return cls


def command(cluster: type[Cluster], name: str, tsn: int, *, to_server: bool = True,
            disable_default_response: bool = False, **kwargs: Any) -> bytes:
    """A cluster-specific command frame. `to_server`: a command the server receives."""
    defs = cluster.ServerCommandDefs if to_server else cluster.ClientCommandDefs
    cmd = getattr(defs, name)
    hdr = f.ZCLHeader.cluster(tsn, cmd.id, direction=Direction.Client_to_Server if to_server
                              else Direction.Server_to_Client)
    hdr.frame_control = hdr.frame_control.replace(disable_default_response=disable_default_response)
    return hdr.serialize() + cmd.schema(**kwargs).serialize()


def general(cmd: GeneralCommand, tsn: int, *, to_server: bool = True,
            disable_default_response: bool = False, **kwargs: Any) -> bytes:
    """A profile-wide (foundation) command frame, e.g. Read Attributes."""
    hdr = f.ZCLHeader.general(tsn, cmd, direction=Direction.Client_to_Server if to_server
                              else Direction.Server_to_Client)
    hdr.frame_control = hdr.frame_control.replace(disable_default_response=disable_default_response)
    return hdr.serialize() + f.GENERAL_COMMANDS[cmd].schema(**kwargs).serialize()


def parse(cluster_id: int, data: bytes) -> Frame:
    """Parse a ZCL frame received on `cluster_id`; raises ZclError if it is not understood."""
    try:
        hdr, rest = f.ZCLHeader.deserialize(data)
    except (ValueError, KeyError) as e:
        raise ZclError(f"bad ZCL header: {e}") from e
    try:
        if hdr.frame_control.is_general:
            cmd = f.GENERAL_COMMANDS[f.GeneralCommand(hdr.command_id)]
            name = f.GeneralCommand(hdr.command_id).name
        else:
            cls = cluster_class(cluster_id)
            table = cls.server_commands if hdr.direction == Direction.Client_to_Server else cls.client_commands
            cmd = table[hdr.command_id]
            name = cmd.name
        args, _rest = cmd.schema.deserialize(rest)
    except (KeyError, ValueError) as e:
        raise ZclError(f"cluster {cluster_id:#06x} command {int(hdr.command_id):#04x} "
                       f"({'general' if hdr.frame_control.is_general else 'specific'}): {e}") from e
    return Frame(cluster_id, hdr, name, args)


def default_response(request: Frame, status: Status) -> bytes:
    """The Default Response to `request` (same TSN, opposite direction)."""
    return general(GeneralCommand.Default_Response, request.tsn, to_server=not request.to_server,
                   disable_default_response=True, command_id=request.header.command_id, status=status)


def typed(cluster: type[Cluster], attr_id: int, value: Any) -> f.TypeValue:
    """`value` as the ZCL typed value the cluster's definition says attribute `attr_id` has."""
    adef = cluster.attributes[attr_id]
    return f.TypeValue(type=adef.zcl_type, value=adef.type(value))


def read_response_values(frame: Frame) -> dict[int, Any]:
    """{attribute id: python value, or the Status when the read failed} from a Read Attributes response."""
    out: dict[int, Any] = {}
    for rec in frame.args.status_records:
        out[int(rec.attrid)] = rec.value.value if rec.status == Status.SUCCESS else Status(rec.status)
    return out


class AttributeStore:
    """One server cluster's attributes: values or getters evaluated at read time."""

    def __init__(self, cluster: type[Cluster]) -> None:
        self.cluster = cluster
        self._values: dict[int, Any | Callable[[], Any]] = {}

    def set(self, name: str, value: Any | Callable[[], Any]) -> None:
        """Set attribute `name` (zigpy's name) to a value, or to a getter called on each read."""
        adef = getattr(self.cluster.AttributeDefs, name)
        self._values[int(adef.id)] = value

    def get(self, name: str) -> Any:
        """The current value of attribute `name`."""
        value = self._values[int(getattr(self.cluster.AttributeDefs, name).id)]
        return value() if callable(value) else value

    def ids(self) -> list[int]:
        return sorted(self._values)

    def record(self, attr_id: int) -> f.ReadAttributeRecord:
        """The Read Attributes record for one id (UNSUPPORTED_ATTRIBUTE if we do not hold it)."""
        if attr_id not in self._values:
            return f.ReadAttributeRecord(attr_id, Status.UNSUPPORTED_ATTRIBUTE)
        value = self._values[attr_id]
        return f.ReadAttributeRecord(attr_id, Status.SUCCESS,
                                     typed(self.cluster, attr_id, value() if callable(value) else value))

    def report(self, attr_ids: list[int]) -> list[f.Attribute]:
        """Report Attributes records for the ids we hold."""
        return [f.Attribute(attrid=i, value=self.record(i).value) for i in attr_ids if i in self._values]

    def read_response(self, request: Frame) -> bytes:
        """The Read Attributes Response to `request`."""
        records = [self.record(int(a)) for a in request.args.attribute_ids]
        return general(GeneralCommand.Read_Attributes_rsp, request.tsn, to_server=not request.to_server,
                       disable_default_response=True, status_records=records)
