"""ESME: the electricity meter, a mains-powered router.

Model: a household load of 400 W +- 250 W over the day (`DailyProfile`,
simulated time), integrated exactly: the summation read at any moment is the
opening reading plus the energy used since the meter started.
Metering (0x0702): current summation delivered in Wh (unit kWh, divisor 1000),
instantaneous demand in W (divisor 1000 -> kW). Price (0x0700): a single-rate
tariff. Prepayment (0x0705): an `Account` charged at that price for the energy
used (commshub.han.prepay).
"""

from __future__ import annotations

from typing import Any

from commshub.han.clusters import Metering, Price
from commshub.han.prepay import Account
from commshub.han.profile import DailyProfile
from commshub.han.runtime import HanDevice, Identity


class Esme(HanDevice):
    """The electricity meter (see the module docstring)."""

    kind = "esme"
    node_type = "router"

    def __init__(self, path: str, *, install_code: bytes, identity: Identity | None = None,
                 price_p_per_kwh: int = 2450, top_up_key: bytes = b"", **kw: Any) -> None:
        super().__init__(path, install_code=install_code, identity=identity or Identity(
            model="ESME emulator", image_type=0x0101, power_source=0x01), **kw)
        self.usage = DailyProfile(self.clock.now(), base=400.0, swing=250.0, opening=12_345_000)
        self.price_p_per_kwh = price_p_per_kwh
        self.account = Account(self.clock, self.spent_p, top_up_key=top_up_key)
        m = self.server(Metering)
        m.set("current_summ_delivered", lambda: self.usage.total(self.clock.now()))
        m.set("status", 0)
        m.set("unit_of_measure", 0x00)  # kWh
        m.set("multiplier", 1)
        m.set("divisor", 1000)
        m.set("summation_formatting", 0x33)  # 6 digits left, 3 right of the point
        m.set("demand_formatting", 0x33)
        m.set("metering_device_type", 0)  # electric
        m.set("instantaneous_demand", lambda: round(self.usage.rate(self.clock.now())))
        p = self.server(Price)
        p.set("tariff_label", "Single rate")
        p.set("commodity_type", 1)  # electric metering
        p.set("standing_charge", 0)
        p.set("no_tier_block1_price", lambda: self.price_p_per_kwh)
        p.set("unit_of_measure", 0x00)
        p.set("currency", 826)  # GBP
        p.set("price_trailing_digit", 0x20)  # two digits after the point: 24.50 p/kWh
        self.account.serve(self)

    def spent_p(self) -> float:
        """Pence of energy used since the account opened (price has two trailing digits)."""
        return self.usage.amount(self.clock.now()) / 1000.0 * self.price_p_per_kwh / 100.0
