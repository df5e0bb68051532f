"""The HAN device emulators on the virtual air against a bellows stand-in hub: each joins with
its install code and answers ZCL with its model's values (frames built and parsed with zigpy)."""

from __future__ import annotations

import asyncio

import pytest


from commshub.han import zcl
from commshub.han.clock import SimClock
from commshub.han.clusters import CreditStatus, Metering, TopUpResult
from commshub.han.esme import Esme
from commshub.han.gsme import Gsme, gbcs_reply
from commshub.han.ppmid import Ppmid
from commshub.han.runtime import Network, version_text
from commshub.han.scan import NoNetwork
from commshub.han.utrn import make_utrn
from commshub.radio import VirtualAir

from han_helpers import NETWORK, START, TOP_UP_KEY, code, hub_on, joined, port, run, until

ESME_EUI = "00:0d:6f:00:0a:bc:de:01"
GSME_EUI = "00:0d:6f:00:0a:bc:de:02"
PPMID_EUI = "00:0d:6f:00:0a:bc:de:03"
METERING, PREPAY, BASIC = 0x0702, 0x0705, 0x0000


async def read(hub, nwk: int, cluster: int, attrs: list[int]) -> dict[int, object]:
    rsp = await hub.exchange(cluster, zcl.general(zcl.GeneralCommand.Read_Attributes, hub.next_tsn(),
                                                  attribute_ids=attrs), dst=nwk)
    assert rsp.name == "Read_Attributes_rsp"
    return zcl.read_response_values(rsp)


def test_esme_joins_and_its_readings_advance_with_simulated_time() -> None:
    air = VirtualAir(seed=2)
    clock = SimClock(time_scale=1.0, start=START)

    async def body() -> None:
        async with hub_on(air) as hub, joined(air, hub, ESME_EUI, Esme, 1, clock=clock,
                                               top_up_key=TOP_UP_KEY) as esme:
            nwk = esme.radio.node_id
            basic = await read(hub, nwk, BASIC, [0x0004, 0x0005, 0x0007, 0x4000])
            assert basic == {0x0004: "commshub", 0x0005: "ESME emulator", 0x0007: 1,
                             0x4000: version_text(esme.identity.file_version)}
            m1 = await read(hub, nwk, METERING, [0x0000, 0x0400, 0x0300, 0x0302, 0x0306])
            c1 = (await read(hub, nwk, PREPAY, [0x0001]))[0x0001]
            assert (m1[0x0300], m1[0x0302], m1[0x0306]) == (0, 1000, 0)  # kWh, Wh resolution, electric
            clock.advance(3600)
            m2 = await read(hub, nwk, METERING, [0x0000, 0x0400])
            c2 = (await read(hub, nwk, PREPAY, [0x0001]))[0x0001]
            used_wh = m2[0] - m1[0]
            # The load rises through this hour: the energy lies between the two demands x 1 h.
            assert 0 < m1[0x0400] < m2[0x0400]
            assert m1[0x0400] - 2 <= used_wh <= m2[0x0400] + 2
            # Credit went down by that energy at the meter's price (24.50 p/kWh).
            assert abs((c1 - c2) - used_wh / 1000 * 24.5) <= 1.5
            # A cluster it does not have, and a command it does not know, get ZCL statuses.
            rsp = await hub.exchange(0x0B04, zcl.general(zcl.GeneralCommand.Read_Attributes,
                                                         hub.next_tsn(), attribute_ids=[0]), dst=nwk)
            assert (rsp.name, rsp.args.status) == ("Default_Response", zcl.Status.UNSUPPORTED_CLUSTER)
            rsp = await hub.exchange(METERING, zcl.command(Metering, "get_profile", hub.next_tsn(),
                                                           interval_channel=0, end_time=0,
                                                           number_of_periods=1), dst=nwk)
            assert (rsp.name, rsp.args.status) == ("Default_Response", zcl.Status.UNSUP_CLUSTER_COMMAND)

    run(body)


def test_esme_reports_what_the_hub_configured() -> None:
    air = VirtualAir(seed=3)
    clock = SimClock(time_scale=60.0, start=START)  # a report every 60 s of meter time = 1 s real

    async def body() -> None:
        async with hub_on(air) as hub, joined(air, hub, ESME_EUI, Esme, 1, clock=clock) as esme:
            cfg = zcl.f.AttributeReportingConfig()
            cfg.direction, cfg.attrid, cfg.datatype = 0, 0x0000, zcl.f.DataTypeId.uint48
            cfg.min_interval, cfg.max_interval, cfg.reportable_change = 1, 60, 1
            rsp = await hub.exchange(METERING, zcl.general(zcl.GeneralCommand.Configure_Reporting,
                                                           hub.next_tsn(), config_records=[cfg]),
                                     dst=esme.radio.node_id)
            assert rsp.name == "Configure_Reporting_rsp"
            assert rsp.args.status_records[0].status == zcl.Status.SUCCESS
            await until(lambda: 0x0000 in hub.mirror[esme.radio.node_id][METERING], timeout=10)
            first = hub.mirror[esme.radio.node_id][METERING][0x0000]
            await until(lambda: hub.mirror[esme.radio.node_id][METERING][0x0000] > first, timeout=10)

    run(body)


def test_gsme_sleeps_and_gets_queued_commands_only_when_it_wakes() -> None:
    air = VirtualAir(seed=4)
    clock = SimClock(time_scale=1.0, start=START)
    command = (b"\xDD\x00\x00\x00\x00\x00\x00" + b"\xDF\x09\x01" + bytes(range(8))
               + b"ORIGINAT" + b"RECIPIEN" + b"\x00\x01payload")

    async def body() -> None:
        async with hub_on(air) as hub, joined(air, hub, GSME_EUI, Gsme, 2, clock=clock,
                                               wake_interval_s=1800) as gsme:
            nwk = gsme.radio.node_id
            # The first wake, right after joining: a report to the hub's mirror, an empty GET.
            await until(lambda: gsme.wakes == 1 and not gsme.awake)
            reported = dict(hub.mirror[nwk][METERING])
            assert reported[0x0000] == gsme.server(Metering).get("current_summ_delivered")
            assert reported[0x0201] == 100
            hub.queue_for(nwk, command)
            await asyncio.sleep(1.5)
            assert gsme.commands == [] and hub.handed_over == []  # asleep: nothing moves
            clock.advance(1800)  # its next wake
            await until(lambda: gsme.wakes == 2 and not gsme.awake)
            assert gsme.commands == [command] and hub.handed_over == [(nwk, command)]
            reply = hub.tunnel_replies[nwk]
            assert reply == [gbcs_reply(command)]
            assert b"\xDF\x09\x02" in reply[0] and reply[0].index(b"RECIPIEN") < reply[0].index(b"ORIGINAT")
            # Gas was used during the half hour it slept, and it said so when it woke.
            assert hub.mirror[nwk][METERING][0x0000] > reported[0x0000]

    run(body)


def test_ppmid_reads_credit_through_the_hub_and_tops_up_the_meter() -> None:
    air = VirtualAir(seed=5)
    clock = SimClock(time_scale=1.0, start=START)

    async def body() -> None:
        async with hub_on(air) as hub, \
                joined(air, hub, ESME_EUI, Esme, 1, clock=clock, top_up_key=TOP_UP_KEY) as esme, \
                joined(air, hub, PPMID_EUI, Ppmid, 3, clock=clock, refresh_s=3600) as ppmid:
            hub.prepay_meter = esme.radio.node_id
            shown = await ppmid.refresh()
            assert shown["credit_p"] == esme.account.credit_remaining()
            utrn = make_utrn(500, 1, TOP_UP_KEY)
            before = esme.account.credit_remaining()
            assert await ppmid.top_up(utrn) == (TopUpResult.Accepted, 500)
            assert esme.account.credit_remaining() - before in (499, 500, 501)
            # The hub reads the meter directly: the same credit the PPMID now shows.
            direct = (await read(hub, esme.radio.node_id, PREPAY, [0x0001]))[0x0001]
            assert abs(ppmid.display["credit_p"] - direct) <= 1
            assert esme.account.top_ups[-1][1:3] == (500, utrn)
            # The same code again, a mistyped code, another meter's code: refused, nothing added.
            added = esme.account.added_p
            assert await ppmid.top_up(utrn) == (TopUpResult.Rejected_Duplicate, 0)
            wrong = utrn[:-1] + str((int(utrn[-1]) + 1) % 10)
            assert await ppmid.top_up(wrong) == (TopUpResult.Rejected_Invalid, 0)
            assert await ppmid.top_up(make_utrn(500, 2, b"other")) == (TopUpResult.Rejected_Invalid, 0)
            assert esme.account.added_p == added

    run(body)


def test_ppmid_emergency_credit_only_when_credit_is_low() -> None:
    air = VirtualAir(seed=6)
    clock = SimClock(time_scale=1.0, start=START)

    async def body() -> None:
        async with hub_on(air) as hub, \
                joined(air, hub, ESME_EUI, Esme, 1, clock=clock) as esme, \
                joined(air, hub, PPMID_EUI, Ppmid, 3, clock=clock, refresh_s=3600) as ppmid:
            hub.prepay_meter = esme.radio.node_id
            assert not await ppmid.emergency_credit()  # £10 left: above the threshold
            clock.advance(5 * 86400)  # five days at ~9.6 kWh a day eat the £10
            shown = await ppmid.refresh()
            assert shown["credit_p"] == 0 and shown["status"] & CreditStatus.Credit_Exhausted
            assert shown["status"] & CreditStatus.Emergency_Credit_Available
            assert await ppmid.emergency_credit()
            assert ppmid.display["status"] & CreditStatus.Emergency_Credit_Selected
            assert not ppmid.display["status"] & CreditStatus.Emergency_Credit_Available
            assert esme.account.ec_selected
            assert 0 < ppmid.display["emergency_credit_p"] < esme.account.ec_limit_p

    run(body)


@pytest.mark.parametrize("ncp_reset", [False, True])
def test_a_restarted_meter_resumes_its_network_without_rejoining(ncp_reset: bool) -> None:
    air = VirtualAir(seed=7)
    seen: list[str] = []
    air.add_listener(lambda e: seen.append(e.status or ""))
    clock = SimClock(time_scale=1.0, start=START)

    async def body() -> None:
        async with hub_on(air) as hub:
            path = await port(air, ESME_EUI)
            await hub.admit(ESME_EUI, code(1))
            first = Esme(path, install_code=code(1), clock=clock)
            nwk = await first.start(NETWORK)
            await first.stop()  # power cut: the host goes, the NCP keeps its tokens
            if ncp_reset:  # ... and the NCP rebooted too: network down until networkInit
                ncp = next(n for n in air.radios.values() if str(n.eui64) == ESME_EUI)
                ncp.reset_ncp()
            joins = len(hub.radio.tc_joins)
            again = Esme(path, install_code=code(1), clock=clock)
            try:
                # No new admission (its transient key is long used): it must resume, not rejoin.
                assert await again.start(NETWORK) == nwk
                assert again.log[0] == f"resumed as {nwk:#06x}"
                assert len(hub.radio.tc_joins) == joins
                assert ("network up from tokens (networkInit)" in seen) == ncp_reset
                assert (await read(hub, nwk, METERING, [0x0306]))[0x0306] == 0
            finally:
                await again.stop()

    run(body)


def test_a_device_finds_the_hub_by_active_scan() -> None:
    air = VirtualAir(seed=8)

    async def body() -> None:
        async with hub_on(air) as hub:
            esme = Esme(await port(air, ESME_EUI), install_code=code(1))
            await hub.admit(ESME_EUI, code(1))
            try:
                nwk = await esme.start(Network(ext_pan_id=NETWORK.ext_pan_id))  # channel, PAN unknown
                assert esme.log[0].startswith("found network ")
                assert f"channel {NETWORK.channel}, PAN {NETWORK.pan_id:#06x}" in esme.log[0]
                assert (await read(hub, nwk, METERING, [0x0306]))[0x0306] == 0
            finally:
                await esme.stop()
            # Nobody with that extended PAN ID: a clear error, no join attempted.
            lost = Esme(await port(air, GSME_EUI), install_code=code(2))
            try:
                with pytest.raises(NoNetwork, match="no joinable network 0011223344556677"):
                    await lost.start(Network(ext_pan_id="0011223344556677"))
            finally:
                await lost.stop()

    run(body)
