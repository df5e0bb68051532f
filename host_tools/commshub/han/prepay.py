"""A meter's prepayment account, served on its Prepayment cluster (0x0705).

Money is in pence. The balance is credit added minus the cost of what the meter
has measured since the account opened (`spent()`, given by the meter's model):

    balance > 0            credit remaining = balance
    balance <= 0           credit exhausted, unless emergency credit (EC) is selected:
                           then EC remaining = EC limit + balance (down to 0)

EC can be selected (Select Available Emergency Credit) once the balance is at or
below the EC threshold; a top-up pays back EC used first (the balance does it),
and EC is deselected when the balance is positive again. Top-ups carry a UTRN
(commshub.han.utrn) that must check out and not have been used before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from commshub.han import utrn, zcl
from commshub.han.clock import SimClock
from commshub.han.clusters import CreditStatus, OriginatingDevice, Prepayment, TopUpResult
from commshub.radio.device import Received

if TYPE_CHECKING:
    from commshub.han.runtime import HanDevice


class Account:
    """The prepayment state of one meter (see the module docstring)."""

    def __init__(self, clock: SimClock, spent: Callable[[], float], *, credit_p: int = 1000,
                 ec_limit_p: int = 500, ec_threshold_p: int = 100, low_credit_p: int = 300,
                 max_top_up_p: int = 25000, top_up_key: bytes = b"") -> None:
        self.clock = clock
        self.spent = spent
        self.added_p = credit_p
        self.ec_limit_p = ec_limit_p
        self.ec_threshold_p = ec_threshold_p
        self.low_credit_p = low_credit_p
        self.max_top_up_p = max_top_up_p
        self.top_up_key = top_up_key
        self.ec_selected = False
        self.used_counters: set[int] = set()
        self.top_ups: list[tuple[int, int, str, int]] = []  # (zigbee time, pence, utrn, origin)

    def balance(self) -> int:
        return self.added_p - round(self.spent())

    def credit_remaining(self) -> int:
        return max(0, self.balance())

    def ec_remaining(self) -> int:
        bal = self.balance()
        if not self.ec_selected or bal > 0:
            return self.ec_limit_p
        return max(0, self.ec_limit_p + bal)

    def status(self) -> CreditStatus:
        bal = self.balance()
        bits = CreditStatus.Emergency_Credit_Enabled
        if bal > 0:
            bits |= CreditStatus.Credit_Ok
            if bal <= self.low_credit_p:
                bits |= CreditStatus.Low_Credit
        if bal <= self.ec_threshold_p and not self.ec_selected:
            bits |= CreditStatus.Emergency_Credit_Available
        if self.ec_selected:
            bits |= CreditStatus.Emergency_Credit_Selected
            if bal <= 0:
                bits |= CreditStatus.Emergency_Credit_In_Use
        if bal <= 0 and (not self.ec_selected or self.ec_remaining() == 0):
            bits |= CreditStatus.Credit_Exhausted
        return bits

    def top_up(self, code: bytes, origin: int) -> tuple[TopUpResult, int]:
        """Apply a UTRN; (result, value in pence, or 0 when refused)."""
        try:
            value, counter = utrn.check_utrn(code, self.top_up_key, self.used_counters)
        except utrn.UtrnError as e:
            return (TopUpResult.Rejected_Duplicate if e.reason == "duplicate"
                    else TopUpResult.Rejected_Invalid), 0
        if value > self.max_top_up_p:
            return TopUpResult.Rejected_Too_Large, 0
        self.used_counters.add(counter)
        self.added_p += value
        if self.balance() > 0:
            self.ec_selected = False
        self.top_ups.append((self.clock.zigbee_now(), value, code.decode("ascii"), origin))
        return TopUpResult.Accepted, value

    def select_ec(self) -> bool:
        """Select emergency credit; False when it is not available (balance above threshold)."""
        if self.ec_selected or self.balance() > self.ec_threshold_p:
            return False
        self.ec_selected = True
        return True

    def serve(self, device: HanDevice) -> None:
        """Put this account on `device`'s Prepayment cluster (attributes and commands)."""
        store = device.server(Prepayment)
        store.set("payment_control_configuration", 0x0001)  # credit management enabled
        store.set("credit_remaining", self.credit_remaining)
        store.set("emergency_credit_remaining", self.ec_remaining)
        store.set("credit_status", self.status)
        store.set("credit_remaining_timestamp", self.clock.zigbee_now)
        store.set("emergency_credit_limit_allowance", lambda: self.ec_limit_p)
        store.set("emergency_credit_threshold", lambda: self.ec_threshold_p)
        store.set("total_credit_added", lambda: max(0, self.added_p))
        store.set("max_credit_per_top_up", lambda: self.max_top_up_p)
        store.set("low_credit_warning_level", lambda: self.low_credit_p)
        store.set("top_up_date_time_1", lambda: self.top_ups[-1][0] if self.top_ups else 0)
        store.set("top_up_amount_1", lambda: self.top_ups[-1][1] if self.top_ups else 0)
        store.set("top_up_code_1", lambda: self.top_ups[-1][2].encode() if self.top_ups else b"")

        async def top_up(frame: zcl.Frame, msg: Received) -> bytes:
            origin = int(frame.args.originating_device)
            result, value = self.top_up(bytes(frame.args.top_up_code), origin)
            device.note(f"top-up from {msg.sender:#06x}: {result.name} {value}p")
            return zcl.command(Prepayment, "consumer_top_up_response", frame.tsn, to_server=False,
                               disable_default_response=True, result_type=result, top_up_value=value,
                               source_of_top_up=OriginatingDevice(origin),
                               credit_remaining=self.credit_remaining())

        async def select_ec(frame: zcl.Frame, msg: Received) -> bytes:
            ok = self.select_ec()
            device.note(f"emergency credit {'selected' if ok else 'refused'} ({msg.sender:#06x})")
            return zcl.default_response(frame, zcl.Status.SUCCESS if ok else zcl.Status.FAILURE)

        async def ec_setup(frame: zcl.Frame, msg: Received) -> None:
            self.ec_limit_p = int(frame.args.emergency_credit_limit)
            self.ec_threshold_p = int(frame.args.emergency_credit_threshold)
            device.note(f"emergency credit set up: limit {self.ec_limit_p}p, "
                        f"threshold {self.ec_threshold_p}p")

        device.on(Prepayment, "consumer_top_up", top_up)
        device.on(Prepayment, "select_available_emergency_credit", select_ec)
        device.on(Prepayment, "emergency_credit_setup", ec_setup)
