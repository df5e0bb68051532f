"""The Smart Energy clusters zigpy leaves empty, filled in from ZigBee Smart Energy 1.4.

zigpy 2.4 defines Metering (0x0702) completely and leaves Price (0x0700),
Tunneling (0x0704) and Prepayment (0x0705) as stubs. We subclass its stubs
with `AttributeDefs` / `ServerCommandDefs` / `ClientCommandDefs`, so frames are
built and parsed by zigpy's own machinery. They stay out of zigpy's global
cluster registry (importing this module changes nothing for other zigpy users);
`SE_CLUSTERS` maps their ids to them. Only what the GB HAN flows need is
defined: more can be added without touching anything else.

Directions follow zigpy: `ServerCommandDefs` are commands a server *receives*
(client -> server), `ClientCommandDefs` commands a client receives.
"""

from __future__ import annotations

from typing import Final

import zigpy.types as t
from zigpy.zcl.clusters import smartenergy
from zigpy.zcl.foundation import BaseAttributeDefs, BaseCommandDefs, ZCLAttributeDef, ZCLCommandDef

Metering = smartenergy.Metering  # complete in zigpy: used as is


class Price(smartenergy.Price):
    """Price (0x0700): the current tariff as the meter publishes it (a subset of SE 1.4 D.4)."""

    _skip_registry = True  # leave zigpy's global registry as it is (see the module docstring)

    class AttributeDefs(BaseAttributeDefs):
        tier1_price_label: Final = ZCLAttributeDef(id=0x0000, type=t.CharacterString, access="r")
        commodity_type: Final = ZCLAttributeDef(id=0x0300, type=t.enum8, access="r")
        standing_charge: Final = ZCLAttributeDef(id=0x0301, type=t.uint32_t, access="r")
        # NoTierBlock1Price: price per unit with the trailing digits of 0x0617.
        no_tier_block1_price: Final = ZCLAttributeDef(id=0x0400, type=t.uint32_t, access="r")
        tariff_label: Final = ZCLAttributeDef(id=0x0610, type=t.CharacterString, access="r")
        unit_of_measure: Final = ZCLAttributeDef(id=0x0615, type=t.enum8, access="r")
        currency: Final = ZCLAttributeDef(id=0x0616, type=t.uint16_t, access="r")  # ISO 4217: 826 GBP
        price_trailing_digit: Final = ZCLAttributeDef(id=0x0617, type=t.bitmap8, access="r")

    class ServerCommandDefs(BaseCommandDefs):
        get_current_price: Final = ZCLCommandDef(id=0x00, schema={"command_options": t.bitmap8})

    class ClientCommandDefs(BaseCommandDefs):
        publish_price: Final = ZCLCommandDef(id=0x00, schema={
            "provider_id": t.uint32_t,
            "rate_label": t.LVBytes,
            "issuer_event_id": t.uint32_t,
            "current_time": t.UTCTime,
            "unit_of_measure": t.enum8,
            "currency": t.uint16_t,
            "price_trailing_digit_and_tier": t.uint8_t,
            "num_price_tiers_and_register_tier": t.uint8_t,
            "start_time": t.UTCTime,
            "duration_in_minutes": t.uint16_t,
            "price": t.uint32_t,
        })


class TunnelStatus(t.enum8):
    """RequestTunnelResponse status (SE 1.4 D.6)."""

    Success = 0x00
    Busy = 0x01
    No_More_Tunnel_IDs = 0x02
    Protocol_Not_Supported = 0x03
    Flow_Control_Not_Supported = 0x04


class TunnelProtocol(t.enum8):
    """Tunnel protocol IDs; GB uses GB-HGRP (the GBCS messages between CH and GSME)."""

    DLMS_COSEM = 0x00
    IEC_61107 = 0x01
    ANSI_C12 = 0x02
    M_BUS = 0x03
    SML = 0x04
    ClimateTalk = 0x05
    GB_HGRP = 0x06
    Test = 0xC7


# TransferData and its companions have the same fields in both directions (other ids).
_TRANSFER = {"tunnel_id": t.uint16_t, "data": t.Bytes}
_ERROR = {"tunnel_id": t.uint16_t, "status": t.uint8_t}
_ACK = {"tunnel_id": t.uint16_t, "num_bytes_left": t.uint16_t}
_READY = {"tunnel_id": t.uint16_t, "num_octets_left": t.uint16_t}


class Tunneling(smartenergy.Tunneling):
    """Tunneling (0x0704): how GBCS reaches the GSME (GET / GET-RESPONSE / 0x03 in TransferData)."""

    _skip_registry = True  # leave zigpy's global registry as it is (see the module docstring)

    class AttributeDefs(BaseAttributeDefs):
        close_tunnel_timeout: Final = ZCLAttributeDef(id=0x0000, type=t.uint16_t, access="r")

    class ServerCommandDefs(BaseCommandDefs):
        request_tunnel: Final = ZCLCommandDef(id=0x00, schema={
            "protocol_id": TunnelProtocol, "manufacturer_code": t.uint16_t,
            "flow_control_support": t.Bool, "max_incoming_transfer_size": t.uint16_t})
        close_tunnel: Final = ZCLCommandDef(id=0x01, schema={"tunnel_id": t.uint16_t})
        transfer_data: Final = ZCLCommandDef(id=0x02, schema=_TRANSFER)
        transfer_data_error: Final = ZCLCommandDef(id=0x03, schema=_ERROR)
        ack_transfer_data: Final = ZCLCommandDef(id=0x04, schema=_ACK)
        ready_data: Final = ZCLCommandDef(id=0x05, schema=_READY)
        get_supported_tunnel_protocols: Final = ZCLCommandDef(id=0x06, schema={"protocol_offset": t.uint8_t})

    class ClientCommandDefs(BaseCommandDefs):
        request_tunnel_response: Final = ZCLCommandDef(id=0x00, schema={
            "tunnel_id": t.uint16_t, "status": TunnelStatus, "max_incoming_transfer_size": t.uint16_t})
        transfer_data: Final = ZCLCommandDef(id=0x01, schema=_TRANSFER)
        transfer_data_error: Final = ZCLCommandDef(id=0x02, schema=_ERROR)
        ack_transfer_data: Final = ZCLCommandDef(id=0x03, schema=_ACK)
        ready_data: Final = ZCLCommandDef(id=0x04, schema=_READY)
        tunnel_closure_notification: Final = ZCLCommandDef(id=0x06, schema={"tunnel_id": t.uint16_t})


class OriginatingDevice(t.enum8):
    """Who sent a prepayment command (SE 1.4 D.7)."""

    Energy_Service_Interface = 0x00
    Meter = 0x01
    In_Home_Display = 0x02


class TopUpResult(t.enum8):
    """Consumer Top Up Response result type."""

    Accepted = 0x00
    Rejected_Invalid = 0x01
    Rejected_Duplicate = 0x02
    Rejected_Error = 0x03
    Rejected_Max_Credit_Reached = 0x04
    Rejected_Keypad_Lock = 0x05
    Rejected_Too_Large = 0x06


class CreditStatus(t.bitmap8):
    """Prepayment CreditStatus (0x0003)."""

    Credit_Ok = 0x01
    Low_Credit = 0x02
    Emergency_Credit_Enabled = 0x04
    Emergency_Credit_Available = 0x08
    Emergency_Credit_Selected = 0x10
    Emergency_Credit_In_Use = 0x20
    Credit_Exhausted = 0x40


class Prepayment(smartenergy.Prepayment):
    """Prepayment (0x0705): credit, emergency credit and top-ups (a subset of SE 1.4 D.7).

    Money is in the currency's minor unit (pence for GBP)."""

    _skip_registry = True  # leave zigpy's global registry as it is (see the module docstring)

    class AttributeDefs(BaseAttributeDefs):
        payment_control_configuration: Final = ZCLAttributeDef(id=0x0000, type=t.bitmap16, access="r")
        credit_remaining: Final = ZCLAttributeDef(id=0x0001, type=t.int32s, access="r")
        emergency_credit_remaining: Final = ZCLAttributeDef(id=0x0002, type=t.int32s, access="r")
        credit_status: Final = ZCLAttributeDef(id=0x0003, type=CreditStatus, access="r")
        credit_remaining_timestamp: Final = ZCLAttributeDef(id=0x0004, type=t.UTCTime, access="r")
        accumulated_debt: Final = ZCLAttributeDef(id=0x0005, type=t.int32s, access="r")
        emergency_credit_limit_allowance: Final = ZCLAttributeDef(id=0x0010, type=t.uint32_t, access="r")
        emergency_credit_threshold: Final = ZCLAttributeDef(id=0x0011, type=t.uint32_t, access="r")
        total_credit_added: Final = ZCLAttributeDef(id=0x0020, type=t.uint48_t, access="r")
        max_credit_limit: Final = ZCLAttributeDef(id=0x0021, type=t.uint32_t, access="r")
        max_credit_per_top_up: Final = ZCLAttributeDef(id=0x0022, type=t.uint32_t, access="r")
        low_credit_warning_level: Final = ZCLAttributeDef(id=0x0031, type=t.uint32_t, access="r")
        top_up_date_time_1: Final = ZCLAttributeDef(id=0x0100, type=t.UTCTime, access="r")
        top_up_amount_1: Final = ZCLAttributeDef(id=0x0101, type=t.uint32_t, access="r")
        originating_device_1: Final = ZCLAttributeDef(id=0x0102, type=OriginatingDevice, access="r")
        top_up_code_1: Final = ZCLAttributeDef(id=0x0103, type=t.LVBytes, access="r")

    class ServerCommandDefs(BaseCommandDefs):
        select_available_emergency_credit: Final = ZCLCommandDef(id=0x00, schema={
            "command_issue_date_time": t.UTCTime, "originating_device": OriginatingDevice})
        emergency_credit_setup: Final = ZCLCommandDef(id=0x02, schema={
            "issuer_event_id": t.uint32_t, "start_time": t.UTCTime,
            "emergency_credit_limit": t.uint32_t, "emergency_credit_threshold": t.uint32_t})
        consumer_top_up: Final = ZCLCommandDef(id=0x03, schema={
            "originating_device": OriginatingDevice, "top_up_code": t.LVBytes})

    class ClientCommandDefs(BaseCommandDefs):
        consumer_top_up_response: Final = ZCLCommandDef(id=0x03, schema={
            "result_type": TopUpResult, "top_up_value": t.int32s,
            "source_of_top_up": OriginatingDevice, "credit_remaining": t.int32s})


SE_CLUSTERS = {c.cluster_id: c for c in (Price, Metering, Tunneling, Prepayment)}
