"""A meter's non-volatile memory across a restart (commshub.han.persist): firmware version,
register, prepayment balance and used top-up codes carry on; nothing is used while it is off."""

from __future__ import annotations

import pytest

from commshub.han import persist
from commshub.han.clock import SimClock
from commshub.han.clusters import Metering, TopUpResult
from commshub.han.esme import Esme
from commshub.han.gsme import Gsme
from commshub.han.utrn import make_utrn

from han_helpers import START, TOP_UP_KEY, code

NCP = "socket://127.0.0.1:1"  # never connected: the models work without a radio


def test_esme_memory_survives_a_restart() -> None:
    clock = SimClock(time_scale=1.0, start=START)
    esme = Esme(NCP, install_code=code(1), clock=clock, top_up_key=TOP_UP_KEY)
    utrn = make_utrn(700, 5, TOP_UP_KEY)
    assert esme.account.top_up(utrn.encode(), 2) == (TopUpResult.Accepted, 700)
    clock.advance(7200)
    esme.identity.file_version = 0x01020000  # as after an OTA upgrade
    register = esme.server(Metering).get("current_summ_delivered")
    balance = esme.account.balance()
    saved = persist.snapshot(esme)

    clock.advance(86400)  # off for a day: a power cut
    again = Esme(NCP, install_code=code(1), clock=clock, top_up_key=TOP_UP_KEY)
    persist.restore(again, saved)
    assert again.server(Metering).get("current_summ_delivered") == register
    assert again.account.balance() == balance
    assert again.identity.file_version == 0x01020000
    assert again.account.top_up(utrn.encode(), 2) == (TopUpResult.Rejected_Duplicate, 0)
    clock.advance(3600)  # and it measures again from there
    assert again.server(Metering).get("current_summ_delivered") > register
    assert again.account.balance() < balance


def test_gsme_keeps_its_battery_and_state_is_checked() -> None:
    clock = SimClock(time_scale=1.0, start=START)
    gsme = Gsme(NCP, install_code=code(2), clock=clock, drain_per_wake=1.0)
    gsme.wakes = 30
    saved = persist.snapshot(gsme)
    again = Gsme(NCP, install_code=code(2), clock=clock, drain_per_wake=1.0)
    persist.restore(again, saved)
    assert again.server(Metering).get("remaining_battery_life") == 70
    esme = Esme(NCP, install_code=code(1), clock=clock)
    with pytest.raises(ValueError, match="not this esme"):
        persist.restore(esme, saved)
