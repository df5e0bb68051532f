"""Reads of HAN devices through the hub (han.read): the ESME emulator, joined via the device
log, is read over the hub's serial and MQTT control planes alike."""

import pytest

from commshub.han.esme import Esme
from commshub.protocol.errors import HubError

from han_models import han_models  # noqa: F401  (fixture)

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN

METERING = 0x0702
SUMMATION, DEMAND, UNIT, DIVISOR = 0x0000, 0x0400, 0x0300, 0x0302


def summation(esme):
    """The meter's register right now (Wh), from the model itself."""
    return esme.call(esme.dev.servers[METERING].get, "current_summ_delivered")


@pytest.mark.links
def test_esme_metering_read_through_the_hub(hub, han_models, link):  # noqa: F811
    # An hour of meter time per real second: the register moves between two reads.
    esme = han_models(Esme, time_scale=3600.0)
    nwk = esme.join(hub)
    values = []
    for _ in range(2):
        before = summation(esme)
        r = link.request("han.read", {"device": esme.eui64.lower(), "cluster": METERING,
                                      "attrs": [SUMMATION, DEMAND, DIVISOR, 0x7777]}).result
        after = summation(esme)
        assert (r["device"], r["node"], r["cluster"], r["source"]) == (esme.eui64, nwk, METERING, "device")
        recs = {a["id"]: a for a in r["attrs"]}
        assert recs[SUMMATION]["type"] == 0x25  # uint48, as SE defines it
        assert before <= recs[SUMMATION]["value"] <= after
        assert recs[DEMAND]["type"] == 0x2A and 0 < recs[DEMAND]["value"] < 1000
        assert recs[DIVISOR]["value"] == 1000
        assert recs[0x7777] == {"id": 0x7777, "status": 0x86}  # UNSUPPORTED_ATTRIBUTE
        values.append(recs[SUMMATION]["value"])
    assert values[1] > values[0]  # read live from the meter, not from a copy


def test_han_read_refuses_bad_input_and_reports_a_device_that_does_not_answer(hub, han_models):  # noqa: F811
    esme = han_models(Esme)
    esme.join(hub)
    tx = hub.request("han.status").result["tx"]
    for args, code in (({"device": esme.eui64, "cluster": METERING}, "bad_args"),
                       ({"device": esme.eui64, "cluster": METERING, "attrs": "0"}, "bad_args"),
                       ({"device": esme.eui64, "cluster": -1, "attrs": [0]}, "bad_args"),
                       ({"device": "0102030405060708", "cluster": METERING, "attrs": [0]}, "not_found")):
        with pytest.raises(HubError) as e:
            hub.request("han.read", args)
        assert e.value.code == code
    assert hub.request("han.status").result["tx"] == tx  # nothing went on the air
    # A cluster the meter does not serve: its Default Response is the answer.
    with pytest.raises(HubError) as e:
        hub.request("han.read", {"device": esme.eui64, "cluster": 0x0B04, "attrs": [0]})
    assert e.value.code == "zcl_status" and "0xC3" in e.value.message
    # The meter gone quiet: a timeout, and the hub keeps serving.
    esme.run(esme.dev.stop())
    esme.started = False
    with pytest.raises(HubError) as e:
        hub.request("han.read", {"device": esme.eui64, "cluster": METERING, "attrs": [0], "timeout_s": 2},
                    timeout=15)
    assert e.value.code == "timeout"
    assert hub.request("info").result["hub_id"]
