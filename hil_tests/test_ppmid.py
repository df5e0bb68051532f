"""PPMID flows through the hub (issue 5): the PPMID's only partner on the HAN is the hub. It reads the
ESME's credit through the hub, and a top-up entered on it reaches the meter, which applies it by its
own rules; the new credit shows on the meter (han.read through the hub) and on the PPMID's display,
a refused UTRN changes nothing and its reason shows on the PPMID, and every top-up answer is told on
both control links (`han.top_up`)."""

import time

import pytest

from commshub.han.clusters import CreditStatus, TopUpResult
from commshub.han.esme import Esme
from commshub.han.ppmid import Ppmid
from commshub.han.utrn import make_utrn

from han_models import han_models  # noqa: F401  (fixture)

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN

PREPAYMENT = 0x0705
CREDIT_REMAINING = 0x0001
KEY = b"hil top-up key"


def credit(esme):
    """The meter's credit right now (pence), from its model."""
    return esme.call(esme.dev.account.credit_remaining)


def added(esme):
    return esme.call(lambda: esme.dev.account.added_p)


def credit_via_hub(hub, esme, via):
    r = hub.request("han.read", {"device": esme.eui64, "cluster": PREPAYMENT, "attrs": [CREDIT_REMAINING]},
                    via=via).result
    assert r["source"] == "device" and r["attrs"][0]["status"] == 0
    return r["attrs"][0]["value"]


def top_up_event(hub, via, ppmid, since):
    return hub.link(via).wait_event("han.top_up", 15, since=since,
                                    where=lambda e: e.body.get("ppmid") == ppmid.eui64).body


def test_ppmid_reads_credit_and_tops_up_the_esme_through_the_hub(hub, han_models):  # noqa: F811
    esme = han_models(Esme, top_up_key=KEY)
    ppmid = han_models(Ppmid, refresh_s=1e9)  # the display refreshes when the test (or a top-up) asks
    esme.join(hub)
    ppmid.join(hub)
    assert ppmid.dev.meter_nwk is None  # it talks to the hub only

    # The credit read through the hub is the meter's.
    hi = credit(esme)
    shown = ppmid.run(ppmid.dev.refresh())
    lo = credit(esme)
    assert lo <= shown["credit_p"] <= hi
    assert CreditStatus.Credit_Ok in shown["status"]
    assert lo - 1 <= credit_via_hub(hub, esme, "serial") <= hi

    # A top-up entered on the PPMID: applied by the meter, the new credit on both.
    before, hi = added(esme), credit(esme)
    utrn = make_utrn(500, 7, KEY)
    t0 = time.monotonic()
    assert ppmid.run(ppmid.dev.top_up(utrn)) == (TopUpResult.Accepted, 500)
    assert added(esme) == before + 500
    assert any(n.startswith("top-up from 0x0000: Accepted 500p") for n in esme.dev.log)  # via the hub
    now = credit(esme)
    assert hi < now <= hi + 500
    assert now <= ppmid.dev.display["credit_p"] <= hi + 500
    assert ppmid.dev.display["last_top_up"] == ("Accepted", 500)
    assert credit(esme) - 1 <= credit_via_hub(hub, esme, "mqtt") <= hi + 500
    for via in ("serial", "mqtt"):
        ev = top_up_event(hub, via, ppmid, t0)
        assert (ev["meter"], ev["accepted"], ev["result"], ev["value"]) == (esme.eui64, True, 0, 500)
        assert now <= ev["credit_remaining"] <= hi + 500

    # The same UTRN again, and a mistyped one: refused, nothing credited, the reason on the PPMID.
    credited = added(esme)
    mistyped = utrn[:-1] + str((int(utrn[-1]) + 1) % 10)
    for code, why in ((utrn, TopUpResult.Rejected_Duplicate), (mistyped, TopUpResult.Rejected_Invalid)):
        t0 = time.monotonic()
        assert ppmid.run(ppmid.dev.top_up(code)) == (why, 0)
        assert ppmid.dev.display["last_top_up"] == (why.name, 0)
        ev = top_up_event(hub, "serial", ppmid, t0)
        assert (ev["accepted"], ev["result"], ev["value"]) == (False, int(why), 0)
        assert top_up_event(hub, "mqtt", ppmid, t0)["result"] == int(why)
    assert added(esme) == credited
    assert ppmid.dev.display["credit_p"] <= hi + 500


def test_a_top_up_with_no_meter_on_the_han_is_refused_by_the_hub(hub, han_models):  # noqa: F811
    if any(d["type"] == 1 for d in hub.request("han.devices").result["devices"]):
        pytest.skip("an ESME is already joined to this hub")
    ppmid = han_models(Ppmid, refresh_s=1e9)
    ppmid.join(hub)
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match="NOT_FOUND"):
        ppmid.run(ppmid.dev.top_up(make_utrn(500, 8, KEY)))
    assert ppmid.dev.display["last_top_up"] == ("NOT_FOUND", 0)
    ev = top_up_event(hub, "serial", ppmid, t0)
    assert ev == {"ppmid": ppmid.eui64, "meter": None, "accepted": False, "error": "no_meter"}


def test_ppmid_takes_emergency_credit_through_the_hub_once_the_credit_is_used_up(hub, han_models):  # noqa: F811
    esme = han_models(Esme, top_up_key=KEY)
    ppmid = han_models(Ppmid, refresh_s=1e9)
    esme.join(hub)
    ppmid.join(hub)
    assert not ppmid.run(ppmid.dev.emergency_credit())  # £10 left: above the meter's threshold
    assert not esme.call(lambda: esme.dev.account.ec_selected)
    esme.call(esme.dev.clock.advance, 5 * 86400)  # five days of meter time at ~9.6 kWh a day eat the £10
    shown = ppmid.run(ppmid.dev.refresh())
    assert shown["credit_p"] == 0 and CreditStatus.Emergency_Credit_Available in shown["status"]
    assert ppmid.run(ppmid.dev.emergency_credit())
    assert esme.call(lambda: esme.dev.account.ec_selected)
    assert CreditStatus.Emergency_Credit_Selected in ppmid.dev.display["status"]
    # A top-up then repays it: the meter deselects emergency credit once the balance is positive.
    assert ppmid.run(ppmid.dev.top_up(make_utrn(2000, 9, KEY))) == (TopUpResult.Accepted, 2000)
    assert not esme.call(lambda: esme.dev.account.ec_selected)
    assert CreditStatus.Credit_Ok in ppmid.dev.display["status"]
