"""The air capture: frames built with zigpy decode to exact timeline lines; files and CLI agree."""

from __future__ import annotations

import json
from pathlib import Path
import threading
import time
from typing import Any

import pytest
import zigpy.types as zt
import zigpy.zcl.foundation as f

from commshub.cli import main as cli_main
from commshub.radio.air import Addr, AirEvent as Event, Aps
from commshub.radio.capture import Capture, Timeline, capture_to, read_records, to_record
from commshub.radio.decode import describe

G = f.GeneralCommand
HUB = "00:0d:6f:00:00:c0:ff:ee"
ESME = "00:11:22:33:44:55:66:77"
SE, HA, ZDO = 0x0109, 0x0104, 0x0000


class ListenerHub:
    """Something with add_listener/remove_listener, that emits events (as the air does)."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add_listener(self, fn: Any) -> None:
        self.listeners.append(fn)

    def remove_listener(self, fn: Any) -> None:
        self.listeners.remove(fn)

    def emit(self, event: Event) -> None:
        for fn in list(self.listeners):
            fn(event)


def zcl(cmd: G, direction: f.Direction = f.Direction.Client_to_Server, tsn: int = 3, **kw: Any) -> bytes:
    hdr = f.ZCLHeader.general(tsn=tsn, command_id=cmd, direction=direction)
    return hdr.serialize() + f.GENERAL_COMMANDS[cmd].schema(**kw).serialize()


def device_annce(nwk: int, eui: str) -> bytes:
    return bytes([0x81]) + zt.NWK(nwk).serialize() + zt.EUI64.convert(eui).serialize() + b"\x8e"


READ_RSP = zcl(
    G.Read_Attributes_rsp,
    f.Direction.Server_to_Client,
    status_records=[
        f.ReadAttributeRecord(attrid=0, status=f.Status.SUCCESS,
                              value=f.TypeValue(type=0x20, value=zt.uint8_t(8))),
        f.ReadAttributeRecord(attrid=5, status=f.Status.SUCCESS,
                              value=f.TypeValue(type=0x42, value=zt.CharacterString("ESME"))),
        f.ReadAttributeRecord(attrid=0x4000, status=f.Status.UNSUPPORTED_ATTRIBUTE),
    ],
)


@pytest.mark.parametrize(
    ("profile", "cluster", "payload", "expected"),
    [
        (SE, 0x0000, zcl(G.Read_Attributes, attribute_ids=[0, 5, 0x4000]),
         "ZCL Basic > Read_Attributes tsn=3: zcl_version, model, sw_build_id"),
        (SE, 0x0000, READ_RSP,
         "ZCL Basic < Read_Attributes_rsp tsn=3: zcl_version=8, model='ESME', "
         "sw_build_id: UNSUPPORTED_ATTRIBUTE"),
        (SE, 0x0702, zcl(G.Report_Attributes, f.Direction.Server_to_Client, tsn=7, attribute_reports=[
            f.Attribute(attrid=0, value=f.TypeValue(type=0x25, value=zt.uint48_t(123456)))]),
         "ZCL Metering < Report_Attributes tsn=7: current_summ_delivered=123456"),
        (SE, 0x000A, zcl(G.Default_Response, f.Direction.Server_to_Client, command_id=0x02,
                         status=f.Status.UNSUP_GENERAL_COMMAND),
         "ZCL Time < Default_Response tsn=3: command=0x02 status=UNSUP_GENERAL_COMMAND"),
        (SE, 0x000A, zcl(G.Write_Attributes, attributes=[
            f.Attribute(attrid=0, value=f.TypeValue(type=0xE2, value=zt.UTCTime(700000000)))]),
         "ZCL Time > Write_Attributes tsn=3: time=700000000 (2022-03-07T20:26:40Z)"),
        (HA, 0x0006, f.ZCLHeader.cluster(tsn=9, command_id=0x01).serialize(), "ZCL OnOff > on tsn=9"),
        (ZDO, 0x0013, device_annce(0x1A2B, ESME),
         f"ZDO Device_annce tsn=129: NWKAddr=0x1A2B IEEEAddr={ESME} Capability=142"),
        (ZDO, 0x0036, bytes([1, 0, 0]), "ZDO Mgmt_Permit_Joining_req tsn=1: PermitDuration=0 "
         "TC_Significant=false"),
        # Smart Energy clusters zigpy leaves empty come from commshub.han.clusters.
        (SE, 0x0705, bytes.fromhex("0104030014") + b"12345678901234567890",
         "ZCL Prepayment > consumer_top_up tsn=4: originating_device=Energy_Service_Interface "
         "top_up_code=3132333435363738393031323334353637383930"),
        (SE, 0x0704, bytes([0x01, 0x02, 0x03, 0x04]), "ZCL Tunneling > transfer_data_error tsn=2: raw 04"),
        (SE, 0x0704, bytes([0x01, 0x02, 0x63]), "ZCL Tunneling > cmd 0x63 tsn=2: raw -"),
        (SE, 0xFC00, bytes([0x01, 0x02, 0x03]), "ZCL cluster 0xFC00 > cmd 0x03 tsn=2: raw -"),
        # A known command with a truncated body keeps its header; garbage falls back to hex.
        (SE, 0x0000, zcl(G.Read_Attributes_rsp, f.Direction.Server_to_Client,
                         status_records=[]) + b"\x00",
         "ZCL Basic < Read_Attributes_rsp tsn=3: raw 00"),
        (SE, 0x0000, b"\x00", "raw 00"),
        (SE, 0x0000, b"", "(empty)"),
    ],
)
def test_decode_known_frames(profile: int, cluster: int, payload: bytes, expected: str) -> None:
    assert describe(profile, cluster, payload) == expected


def test_timeline_lines_names_and_broadcasts() -> None:
    tl = Timeline({HUB: "hub"})
    annce = to_record(Event(1.5, "broadcast", Addr(ESME, 0x1A2B), Addr("", 0xFFFD),
                            Aps(ZDO, 0x0013, 0, 0, 200), device_annce(0x1A2B, ESME)))
    assert tl.render(annce) == (
        f"    1.500  broadcast    {ESME} 0x1A2B -> broadcast rx-on 0xFFFD  APS ZDO 0x0013 ep 0->0 "
        f"seq 200  ZDO Device_annce tsn=129: NWKAddr=0x1A2B IEEEAddr={ESME} Capability=142"
    )
    assert tl.render({"kind": "name", "eui64": ESME.upper(), "name": "ESME"}) is None
    read = to_record(Event(12.345, "unicast", Addr(HUB, 0), Addr(ESME, 0x1A2B),
                           Aps(SE, 0x0000, 1, 1, 5), zcl(G.Read_Attributes, attribute_ids=[0])))
    assert tl.render(read) == ("   12.345  unicast      hub 0x0000 -> ESME 0x1A2B  APS SE 0x0000 ep 1->1 seq 5  "
                               "ZCL Basic > Read_Attributes tsn=3: zcl_version")
    denied = to_record(Event(20.0, "join_denied", Addr("aa:bb:cc:dd:ee:ff:00:11", None), Addr(HUB, 0),
                             status="DENY_JOIN", detail={"policy": "install code", "key": b"\x01\x02"}))
    assert tl.render(denied) == ("   20.000  join_denied  aa:bb:cc:dd:ee:ff:00:11 -> hub 0x0000  [DENY_JOIN]  "
                                 "policy=install code key=0102")


def test_capture_writes_jsonl_and_timeline_and_cli_shows_the_same(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    air = ListenerHub()
    path = tmp_path / "caps" / "join.jsonl"
    with capture_to(air, path, names={HUB: "hub"}) as cap:
        air.emit(Event(0.25, "join", Addr(ESME, 0x1A2B), Addr(HUB, 0), detail={"node_type": "ROUTER"}))
        cap.name(ESME, "ESME")
        air.emit(Event(0.5, "unicast", Addr(HUB, 0), Addr(ESME, 0x1A2B), Aps(SE, 0, 1, 1, 5),
                       zcl(G.Read_Attributes, attribute_ids=[0, 5])))
        air.emit(Event(0.6, "unicast", Addr(ESME, 0x1A2B), Addr(HUB, 0), Aps(SE, 0, 1, 1, 6), READ_RSP))
    assert air.listeners == []
    air.emit(Event(9.0, "unicast"))  # after the block: not captured, no error
    assert cap.count == 3

    records = list(read_records(path))
    assert [r["kind"] for r in records] == ["capture", "name", "join", "name", "unicast", "unicast"]
    assert records[4]["aps"] == {"profile": SE, "cluster": 0, "src_ep": 1, "dst_ep": 1, "seq": 5}
    assert bytes.fromhex(records[5]["payload"]) == READ_RSP
    assert records[2]["src"] == {"eui64": ESME, "nwk": 0x1A2B}

    timeline = path.with_suffix(".txt").read_text().splitlines()
    assert timeline[0].startswith("# capture started ")
    assert timeline[1:] == [
        f"    0.250  join         {ESME} 0x1A2B -> hub 0x0000  node_type=ROUTER",
        "    0.500  unicast      hub 0x0000 -> ESME 0x1A2B  APS SE 0x0000 ep 1->1 seq 5  "
        "ZCL Basic > Read_Attributes tsn=3: zcl_version, model",
        "    0.600  unicast      ESME 0x1A2B -> hub 0x0000  APS SE 0x0000 ep 1->1 seq 6  "
        "ZCL Basic < Read_Attributes_rsp tsn=3: zcl_version=8, model='ESME', sw_build_id: UNSUPPORTED_ATTRIBUTE",
    ]
    assert cli_main(["capture", "show", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == timeline


def test_capture_on_an_air_thread(tmp_path: Path) -> None:
    """The threaded air (emulator supervisor, sync tests): events arrive on the air's thread."""
    from commshub.radio.thread import AirThread

    path = tmp_path / "thread.jsonl"
    with AirThread() as at:
        with capture_to(at, path, names={HUB: "hub"}) as cap:
            at.call(lambda: at.air.emit("reset", src=at.air.add_ncp(HUB), status="RESET_SOFTWARE"))
        at.call(lambda: at.air.emit("reset", src=at.air.radios[zt.EUI64.convert(HUB)], status="late"))
    assert cap.count == 1
    assert path.with_suffix(".txt").read_text().splitlines()[1:] == [
        "    0.000  reset        hub  [RESET_SOFTWARE]"]


def test_unreadable_lines_are_shown_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps(to_record(Event(1.0, "poll", Addr(ESME, 0x1A2B), Addr(HUB, 0))))
    path.write_text(f"{good}\nnot json\n[1, 2]\n{good[:20]}")
    assert cli_main(["capture", "show", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"    1.000  poll         {ESME} 0x1A2B -> {HUB} 0x0000",
        "# unreadable line: not json",
        "# unreadable line: [1, 2]",
        f"# unreadable line: {good[:20]}",
    ]
    assert cli_main(["capture", "show", str(path), "--name", "broken"]) == 1
    assert cli_main(["capture", "show", str(tmp_path / "missing.jsonl")]) == 1


def test_follow_sees_events_written_after_it_started(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    cap = Capture(path, timeline=False)
    got: list[dict[str, Any]] = []

    def reader() -> None:
        for rec in read_records(path, follow=True, poll_s=0.01):
            got.append(rec)
            if rec.get("kind") == "leave":
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(0.05)
    cap(Event(1.0, "join", Addr(ESME, 0x1A2B), Addr(HUB, 0)))
    cap(Event(2.0, "leave", Addr(ESME, 0x1A2B)))
    thread.join(timeout=5.0)
    cap.close()
    assert not thread.is_alive()
    assert [r["kind"] for r in got] == ["capture", "join", "leave"]
    assert not path.with_suffix(".txt").exists()


def test_live_capture_of_a_join_a_refused_join_and_a_report(tmp_path: Path) -> None:
    """Real radios on the virtual air (stock bellows both sides): what the timeline says happened."""
    import asyncio
    import re

    from commshub.radio import VirtualAir
    from commshub.radio.aesmmo import with_crc
    from commshub.radio.device import BellowsDevice, JoinError

    code = bytes(range(16))
    stranger = "00:11:22:33:44:55:66:99"
    report = zcl(G.Report_Attributes, f.Direction.Server_to_Client, tsn=7, attribute_reports=[
        f.Attribute(attrid=0, value=f.TypeValue(type=0x25, value=zt.uint48_t(123456)))])
    path = tmp_path / "live.jsonl"

    async def body() -> None:
        air = VirtualAir(time_scale=4.0, seed=7)
        ncps = [air.add_ncp(eui, protocol_version=13, startup_rstack_delay=0.0) for eui in (HUB, ESME, stranger)]
        for n in ncps:
            await n.serve_tcp("127.0.0.1", 0)
        hub = BellowsDevice(f"socket://127.0.0.1:{ncps[0].port}")
        esme = BellowsDevice(f"socket://127.0.0.1:{ncps[1].port}", install_code=with_crc(code))
        other = BellowsDevice(f"socket://127.0.0.1:{ncps[2].port}", install_code=with_crc(code))
        try:
            with capture_to(air, path, names={HUB: "hub", ESME: "ESME"}):
                for d in (hub, esme, other):
                    await d.connect()
                await hub.form(channel=20, pan_id=0x1A62, ext_pan_id=HUB)
                await hub.allow(zt.EUI64.convert(ESME), with_crc(code))
                nwk = await esme.join(channel=20, pan_id=0x1A62, ext_pan_id=HUB)
                with pytest.raises(JoinError):
                    await other.join(channel=20, pan_id=0x1A62, ext_pan_id=HUB, timeout=10)
                assert await esme.send_unicast(0x0000, report, cluster=0x0702) == 0
                got = await hub.receive(cluster=0x0702)
                assert got.payload == report
        finally:
            for d in (hub, esme, other):
                await d.close()
            for n in ncps:
                await n.close()
        return nwk

    nwk = asyncio.run(asyncio.wait_for(body(), 60))
    lines = [line[11:] for line in path.with_suffix(".txt").read_text().splitlines()[1:]]  # without air time
    who = f"ESME 0x{nwk:04X}"
    expected = [
        r"form +hub 0x0000  \[formed\]  pan_id=6754 channel=20 ext_pan_id=" + HUB,
        rf"join +{who} -> hub 0x0000  \[ROUTER\]  .*decision=USE_PRECONFIGURED_KEY",
        rf"broadcast +{who}  APS ZDO 0x0013 ep 0->0 seq \d+  ZDO Device_annce tsn=\d+: NWKAddr=0x{nwk:04X} "
        rf"IEEEAddr={ESME} Capability=\d+",
        rf"join_denied +{stranger} .*-> hub 0x0000  \[.*install-code.*\]",
        rf"unicast +{who} -> hub 0x0000  APS SE 0x0702 ep 1->1 seq \d+  "
        r"ZCL Metering < Report_Attributes tsn=7: current_summ_delivered=123456",
        rf"delivered +{who} -> hub 0x0000  \[INCOMING_UNICAST\]  APS SE 0x0702 .*current_summ_delivered=123456",
        rf"aps_ack +hub 0x0000 -> {who}  APS SE 0x0702",
    ]
    for pattern in expected:  # each happened, in this order
        index = next((i for i, line in enumerate(lines) if re.match(pattern, line)), None)
        assert index is not None, f"no line matches {pattern!r} in:\n" + "\n".join(lines)
        lines = lines[index + 1:]
