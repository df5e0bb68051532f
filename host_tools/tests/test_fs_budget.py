"""Every board's filesystem holds an update's worst moment: slot A, the staging file and slot B."""

from __future__ import annotations

import pytest

from commshub import boards
from commshub.emulator import fsbudget

# /data of a running hub (records, HAN device images) took 9 blocks after the HIL suite's HAN tests.
STATE_BLOCKS = 10


@pytest.mark.parametrize("name", boards.names())
def test_an_update_fits_beside_the_running_slot_and_the_state(name: str) -> None:
    r = fsbudget.budget(name)
    assert r["base"] + r["slot_a"] + r["staging"] + r["slot_b"] + r["free"] <= r["total"]
    assert r["free"] >= fsbudget.RESERVE + STATE_BLOCKS, r
