"""The hub's Basic and Time cluster servers, asked by a HAN device with frames zigpy builds and parses."""

import pytest
import zigpy.zcl.foundation as f

from test_radio_ncp import joined_device

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN


ZIGBEE_EPOCH = 946684800
CMD = f.GeneralCommand


def read_attributes(dev, cluster, ids, seq):
    """Send a zigpy-built Read Attributes to the hub; the parsed response records by attribute id."""
    hdr = f.ZCLHeader.general(tsn=seq, command_id=CMD.Read_Attributes)
    body = f.GENERAL_COMMANDS[CMD.Read_Attributes].schema(attribute_ids=ids).serialize()
    assert dev.send(hdr.serialize() + body, cluster=cluster) == 0
    msg = dev.receive(cluster=cluster)
    h, rest = f.ZCLHeader.deserialize(msg.payload)
    assert (h.tsn, h.command_id, h.direction) == (seq, CMD.Read_Attributes_rsp, f.Direction.Server_to_Client)
    rsp, rest = f.GENERAL_COMMANDS[CMD.Read_Attributes_rsp].schema.deserialize(rest)
    assert rest == b""
    return {r.attrid: r for r in rsp.status_records}


def test_time_cluster_gives_the_hub_utc_from_2000(hub, han_devices):
    dev = joined_device(hub, han_devices)
    utc = 1767225600 + 12345  # 2026-01-01 plus a bit: a time the host clock would not give by chance
    hub.request("time.set", {"utc": utc})
    recs = read_attributes(dev, 0x000A, [0x0000, 0x0001, 0x0007, 0x0123], seq=41)
    got = recs[0x0000].value.value
    assert utc - ZIGBEE_EPOCH <= got <= utc - ZIGBEE_EPOCH + 5
    assert recs[0x0001].value.value & 0x0B == 0x0B  # master, synchronized, superseding
    assert abs(recs[0x0007].value.value - got) <= 1
    assert recs[0x0123].status == f.Status.UNSUPPORTED_ATTRIBUTE


def test_basic_cluster_answers_and_unsupported_commands_get_a_default_response(hub, han_devices):
    dev = joined_device(hub, han_devices)
    recs = read_attributes(dev, 0x0000, [0x0000, 0x0004, 0x4000, 0x0042], seq=7)
    assert recs[0x0000].value.value == 8  # ZCL version
    assert recs[0x0004].value.value == "commshub"
    assert recs[0x4000].value.value == hub.request("info").result["fw_version"][:16]
    assert recs[0x0042].status == f.Status.UNSUPPORTED_ATTRIBUTE
    # A cluster command the Basic server does not have: Reset to Factory Defaults (0x00).
    hdr = f.ZCLHeader.cluster(tsn=9, command_id=0x00)
    assert dev.send(hdr.serialize(), cluster=0x0000) == 0
    h, rest = f.ZCLHeader.deserialize(dev.receive(cluster=0x0000).payload)
    assert (h.tsn, h.command_id) == (9, CMD.Default_Response)
    rsp, _ = f.GENERAL_COMMANDS[CMD.Default_Response].schema.deserialize(rest)
    assert (rsp.command_id, rsp.status) == (0x00, f.Status.UNSUP_CLUSTER_COMMAND)
