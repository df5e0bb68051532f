"""OTA Upgrade (0x0019) to the emulated devices from a stand-in OTA server: a GBCS image built
with the project's image tools is fetched, verified against the device's trusted key and
installed; bad signatures and images for other devices are refused and reported."""

from __future__ import annotations

import asyncio
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from commshub.han import zcl
from commshub.han.clock import SimClock
from commshub.han.esme import Esme
from commshub.han.gsme import Gsme
from commshub.han.otaserver import OtaServer
from commshub.images import gbcs

from han_helpers import START, hub_on, joined, run, until

ESME_EUI = "00:0d:6f:00:0a:bc:de:11"
GSME_EUI = "00:0d:6f:00:0a:bc:de:12"
MFR, ESME_TYPE, GSME_TYPE = 0x1234, 0x0101, 0x0201
NEW = 0x01010000  # 1.1.0
KEY = ec.generate_private_key(ec.SECP256R1())


def image(image_type: int = ESME_TYPE, *, manufacturer: int = MFR, key: ec.EllipticCurvePrivateKey = KEY,
          size: int = 600) -> bytes:
    return gbcs.build_image(os.urandom(size), manufacturer=manufacturer, image_type=image_type,
                            file_version=NEW, header_string="test image", key=key)


async def read_basic_version(hub, nwk: int) -> str:
    rsp = await hub.exchange(0x0000, zcl.general(zcl.GeneralCommand.Read_Attributes, hub.next_tsn(),
                                                 attribute_ids=[0x4000]), dst=nwk)
    return zcl.read_response_values(rsp)[0x4000]


def test_esme_fetches_verifies_and_switches_when_told() -> None:
    from commshub.radio import VirtualAir
    air = VirtualAir(seed=11)
    clock = SimClock(time_scale=1.0, start=START)
    good = image()

    async def body() -> None:
        async with hub_on(air, clock=clock) as hub, joined(
                air, hub, ESME_EUI, Esme, 1, clock=clock, trusted_key=KEY.public_key()) as esme:
            server = OtaServer(hub, upgrade_time=clock.zigbee_now() + 3600, wait_blocks=1)
            server.add(good)
            nwk = esme.radio.node_id
            assert await read_basic_version(hub, nwk) == "1.0.0"
            await server.notify(nwk)  # Image Notify -> the ESME queries and downloads
            await until(lambda: esme.ota.status == esme.ota.status.Count_down, timeout=30)
            assert server.ends[nwk] == [zcl.Status.SUCCESS]
            assert server.progress[nwk] + esme.ota.block_size >= len(good)
            # Accepted, but the server said: in an hour. Still the old firmware.
            assert await read_basic_version(hub, nwk) == "1.0.0"
            clock.advance(3600)
            await until(lambda: esme.identity.file_version == NEW)
            assert await read_basic_version(hub, nwk) == "1.1.0"
            assert esme.ota.accepted_hash == gbcs.parse_image(good).mi_hash
            # Nothing newer on offer now.
            assert not await esme.ota.query()

    run(body)


@pytest.mark.parametrize("case", ["bad signature", "wrong manufacturer", "wrong image type",
                                  "unsigned"])
def test_esme_refuses_an_image_it_must_not_install(case: str) -> None:
    from commshub.radio import VirtualAir
    air = VirtualAir(seed=12)
    clock = SimClock(time_scale=1.0, start=START)
    bad = {"bad signature": lambda: image(key=ec.generate_private_key(ec.SECP256R1())),
           "wrong manufacturer": lambda: image(manufacturer=0x9999),
           "wrong image type": lambda: image(GSME_TYPE),
           "unsigned": lambda: gbcs.build_image(os.urandom(600), manufacturer=MFR,
                                                image_type=ESME_TYPE, file_version=NEW,
                                                header_string="unsigned")}[case]()

    async def body() -> None:
        async with hub_on(air, clock=clock) as hub, joined(
                air, hub, ESME_EUI, Esme, 1, clock=clock, trusted_key=KEY.public_key()) as esme:
            server = OtaServer(hub)
            server.add(bad, manufacturer=MFR, image_type=ESME_TYPE)  # offered to the ESME anyway
            nwk = esme.radio.node_id
            assert not await esme.ota.run()
            assert server.ends[nwk] == [zcl.Status.INVALID_IMAGE]
            expected = {"unsigned": "bad signature"}.get(case, case)
            assert esme.ota.outcome.startswith(f"refused: {expected}")
            if case.startswith("wrong"):  # seen in the header: the rest was never fetched
                assert server.progress[nwk] < 2 * esme.ota.block_size
            assert esme.identity.file_version == 0x01000000
            assert await read_basic_version(hub, nwk) == "1.0.0"
            assert esme.ota.progress == (0, 0)

    run(body)


def test_sleepy_gsme_downloads_only_while_awake() -> None:
    from commshub.radio import VirtualAir
    air = VirtualAir(seed=13)
    clock = SimClock(time_scale=1.0, start=START)
    good = image(GSME_TYPE, size=600)

    async def body() -> None:
        async with hub_on(air, clock=clock) as hub:
            server = OtaServer(hub)
            server.add(good)
            async with joined(air, hub, GSME_EUI, Gsme, 2, clock=clock, trusted_key=KEY.public_key(),
                              wake_interval_s=600, awake_s=10.0, ota_blocks_per_wake=4) as gsme:
                nwk = gsme.radio.node_id
                seen: list[tuple[int, int]] = []
                while gsme.identity.file_version != NEW:
                    await until(lambda: gsme.wakes > len(seen) and not gsme.awake, timeout=20)
                    if gsme.identity.file_version == NEW:
                        break
                    held = gsme.ota.progress[0]
                    await asyncio.sleep(0.5)  # asleep: the transfer stands still
                    assert gsme.ota.progress[0] == held and not gsme.awake
                    seen.append((gsme.wakes, held))
                    assert gsme.wakes < 30, seen
                    clock.advance(600)
                    await until(lambda: gsme.awake or gsme.identity.file_version == NEW, timeout=20)
                # 722 bytes in 48-byte blocks, 4 blocks a wake: 4 wakes, blocks in none but those
                assert len(seen) == 3 and gsme.wakes == 4, seen
                assert [h for _w, h in seen] == [192, 384, 576]
                assert server.ends[nwk] == [zcl.Status.SUCCESS]

    run(body, timeout=120)


def test_esme_ota_through_a_lossy_air_resumes_where_it_stopped() -> None:
    from commshub.radio import VirtualAir
    air = VirtualAir(seed=14, loss=0.1)
    clock = SimClock(time_scale=1.0, start=START)
    good = image(size=3000)

    async def body() -> None:
        async with hub_on(air, clock=clock) as hub, joined(
                air, hub, ESME_EUI, Esme, 1, clock=clock, trusted_key=KEY.public_key()) as esme:
            server = OtaServer(hub)
            server.add(good)
            nwk = esme.radio.node_id
            assert await esme.ota.query()
            assert not await esme.ota.fetch(budget_s=0.3)  # interrupted part way
            held, size = esme.ota.progress
            assert 0 < held < size == len(good)
            before = len(server.asked[nwk])
            assert await esme.ota.run()  # asks again, and goes on from where it was
            assert server.asked[nwk][before] == held
            assert esme.identity.file_version == NEW and server.ends[nwk] == [zcl.Status.SUCCESS]

    run(body)
