"""The Smart Energy clusters zigpy leaves empty (Price, Tunneling, Prepayment), defined in
commshub.han.clusters: frames built and parsed with zigpy's ZCLHeader and our schemas,
checked against the byte layouts of ZigBee Smart Energy 1.4."""

from __future__ import annotations

import pytest
import zigpy.types as t
from zigpy.zcl import Cluster
from zigpy.zcl import foundation as f

from commshub.han import zcl
from commshub.han.clusters import (Metering, Prepayment, Price, TopUpResult, Tunneling,
                                   TunnelProtocol, TunnelStatus)

UTRN = b"12345678901234567890"


def test_our_clusters_are_used_and_zigpys_registry_is_left_alone() -> None:
    for cls in (Price, Tunneling, Prepayment):
        assert zcl.cluster_class(cls.cluster_id) is cls
        assert cls.server_commands and cls.attributes
        assert Cluster._registry[cls.cluster_id] is not cls
        assert not Cluster._registry[cls.cluster_id].server_commands  # zigpy's stub
    assert zcl.cluster_class(0x0702) is Metering  # zigpy's own


def test_consumer_top_up_bytes_follow_the_spec_layout() -> None:
    frame = zcl.command(Prepayment, "consumer_top_up", 0x21, originating_device=2, top_up_code=UTRN)
    # frame control 0x01 (cluster-specific, client->server), TSN, command 0x03,
    # originating device (enum8), top-up code as a ZCL octet string (length byte + digits).
    assert frame == bytes([0x01, 0x21, 0x03, 0x02, 20]) + UTRN
    parsed = zcl.parse(0x0705, frame)
    assert (parsed.name, parsed.tsn, parsed.to_server) == ("consumer_top_up", 0x21, True)
    assert parsed.args.top_up_code == UTRN


def test_top_up_response_and_emergency_credit_round_trip() -> None:
    frame = zcl.command(Prepayment, "consumer_top_up_response", 7, to_server=False,
                        result_type=TopUpResult.Rejected_Duplicate, top_up_value=-1,
                        source_of_top_up=2, credit_remaining=1234)
    assert frame[:3] == bytes([0x09, 7, 0x03])
    back = zcl.parse(0x0705, frame).args
    assert (back.result_type, back.top_up_value, back.credit_remaining) == (
        TopUpResult.Rejected_Duplicate, -1, 1234)
    setup = zcl.command(Prepayment, "emergency_credit_setup", 8, issuer_event_id=1,
                        start_time=0, emergency_credit_limit=500, emergency_credit_threshold=100)
    assert setup[2] == 0x02 and len(setup) == 3 + 16
    sel = zcl.parse(0x0705, zcl.command(Prepayment, "select_available_emergency_credit", 9,
                                        command_issue_date_time=5, originating_device=2))
    assert sel.name == "select_available_emergency_credit" and sel.args.command_issue_date_time == 5


def test_tunneling_get_and_get_response_in_transfer_data() -> None:
    req = zcl.command(Tunneling, "request_tunnel", 1, protocol_id=TunnelProtocol.GB_HGRP,
                      manufacturer_code=0xFFFF, flow_control_support=t.Bool.false,
                      max_incoming_transfer_size=1500)
    assert req == bytes([0x01, 1, 0x00, 0x06, 0xFF, 0xFF, 0x00]) + (1500).to_bytes(2, "little")
    get = zcl.command(Tunneling, "transfer_data", 2, tunnel_id=0x0102, data=b"\x01")
    assert get == bytes([0x01, 2, 0x02, 0x02, 0x01, 0x01])
    # The server's TransferData is a different command id (0x01) in the other direction.
    rsp = zcl.command(Tunneling, "transfer_data", 3, to_server=False, tunnel_id=0x0102,
                      data=b"\x02\x01" + b"GBCS")
    parsed = zcl.parse(0x0704, rsp)
    assert (parsed.header.command_id, parsed.to_server, parsed.args.data) == (0x01, False, b"\x02\x01GBCS")
    ok = zcl.parse(0x0704, zcl.command(Tunneling, "request_tunnel_response", 4, to_server=False,
                                       tunnel_id=9, status=TunnelStatus.Success,
                                       max_incoming_transfer_size=1500))
    assert ok.args.status == TunnelStatus.Success and ok.args.tunnel_id == 9


def test_publish_price_round_trip() -> None:
    frame = zcl.command(Price, "publish_price", 3, to_server=False, provider_id=1, rate_label=b"Std",
                        issuer_event_id=2, current_time=100, unit_of_measure=0, currency=826,
                        price_trailing_digit_and_tier=0x21, num_price_tiers_and_register_tier=0x11,
                        start_time=0, duration_in_minutes=0xFFFF, price=2450)
    args = zcl.parse(0x0700, frame).args
    assert (args.currency, args.price, args.rate_label) == (826, 2450, b"Std")


def test_attribute_store_answers_reads_in_the_defined_types() -> None:
    store = zcl.AttributeStore(Prepayment)
    credit = [1000]
    store.set("credit_remaining", lambda: credit[0])
    store.set("emergency_credit_limit_allowance", 500)
    req = zcl.parse(0x0705, zcl.general(zcl.GeneralCommand.Read_Attributes, 4,
                                        attribute_ids=[0x0001, 0x0010, 0x0099]))
    credit[0] = -250  # getters are evaluated when the read is answered
    rsp = store.read_response(req)
    # general, server->client, default response disabled; TSN echoed; command 0x01
    assert rsp[:3] == bytes([0x18, 4, 0x01])
    # credit remaining: attr 0x0001, SUCCESS, int32 (0x2B), -250 little-endian
    assert rsp[3:11] == bytes([0x01, 0x00, 0x00, 0x2B]) + (-250).to_bytes(4, "little", signed=True)
    values = zcl.read_response_values(zcl.parse(0x0705, rsp))
    assert values == {0x0001: -250, 0x0010: 500, 0x0099: f.Status.UNSUPPORTED_ATTRIBUTE}


def test_metering_reads_use_zigpy_definitions() -> None:
    store = zcl.AttributeStore(Metering)
    store.set("current_summ_delivered", 2**40 + 5)
    store.set("instantaneous_demand", -1200)
    req = zcl.parse(0x0702, zcl.general(zcl.GeneralCommand.Read_Attributes, 1,
                                        attribute_ids=[0x0000, 0x0400]))
    rsp = store.read_response(req)
    assert rsp[3:6] == bytes([0x00, 0x00, 0x00]) and rsp[6] == 0x25  # uint48
    assert zcl.read_response_values(zcl.parse(0x0702, rsp)) == {0: 2**40 + 5, 0x0400: -1200}


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x05\x77", b"\x01\x05\x03\x02\x30"])
def test_bad_frames_raise_a_clear_error(data: bytes) -> None:
    with pytest.raises(zcl.ZclError):
        zcl.parse(0x0705, data)


def test_default_response_names_the_command_and_status() -> None:
    req = zcl.parse(0x0705, zcl.command(Prepayment, "consumer_top_up", 5, originating_device=2,
                                        top_up_code=UTRN))
    rsp = zcl.parse(0x0705, zcl.default_response(req, f.Status.UNSUP_CLUSTER_COMMAND))
    assert rsp.name == "Default_Response" and not rsp.to_server
    assert (rsp.args.command_id, rsp.args.status) == (0x03, f.Status.UNSUP_CLUSTER_COMMAND)
