"""What an emulated meter keeps in non-volatile memory across restarts and power cuts.

`snapshot(dev)` -> a JSON-able dict; `restore(dev, state)` puts it back into a
freshly built device of the same kind and EUI-64: the running firmware version
(after an OTA upgrade), the meter register, the prepayment balance, emergency
credit and top-up history (used UTRN counters stay used), the GSME's wake count
(its battery). Nothing is consumed while the device is off: the register and
the balance carry on from where they were.
"""

from __future__ import annotations

from typing import Any

from commshub.han.profile import DailyProfile
from commshub.han.runtime import HanDevice

VERSION = 1


def snapshot(dev: HanDevice) -> dict[str, Any]:
    """The device's non-volatile state."""
    state: dict[str, Any] = {"format": VERSION, "kind": dev.kind, "eui64": str(dev.radio.eui64),
                             "file_version": dev.identity.file_version}
    usage: DailyProfile | None = getattr(dev, "usage", None)
    if usage is not None:
        state["register"] = usage.total(dev.clock.now())
    account = getattr(dev, "account", None)
    if account is not None:
        state["account"] = {"balance_p": account.balance(), "ec_selected": account.ec_selected,
                            "ec_limit_p": account.ec_limit_p, "ec_threshold_p": account.ec_threshold_p,
                            "used_counters": sorted(account.used_counters),
                            "top_ups": account.top_ups[-10:]}
    if hasattr(dev, "wakes"):
        state["wakes"] = dev.wakes  # type: ignore[attr-defined]
    return state


def restore(dev: HanDevice, state: dict[str, Any]) -> None:
    """Put `state` (from `snapshot`) back; ValueError if it is another device's or unreadable."""
    if state.get("format") != VERSION or state.get("kind") != dev.kind:
        raise ValueError(f"saved state is for a {state.get('kind')!r} (format {state.get('format')}), "
                         f"not this {dev.kind}")
    dev.identity.file_version = int(state["file_version"])
    usage: DailyProfile | None = getattr(dev, "usage", None)
    if usage is not None and "register" in state:
        usage.start, usage.opening = dev.clock.now(), int(state["register"])
    account = getattr(dev, "account", None)
    if account is not None and "account" in state:
        acc = state["account"]
        # The balance restarts from what it was; spending counts from now (usage.start).
        account.added_p = int(acc["balance_p"])
        account.ec_selected = bool(acc["ec_selected"])
        account.ec_limit_p, account.ec_threshold_p = int(acc["ec_limit_p"]), int(acc["ec_threshold_p"])
        account.used_counters = {int(c) for c in acc["used_counters"]}
        account.top_ups = [tuple(t) for t in acc["top_ups"]]
    if "wakes" in state and hasattr(dev, "wakes"):
        dev.wakes = int(state["wakes"])  # type: ignore[attr-defined]
