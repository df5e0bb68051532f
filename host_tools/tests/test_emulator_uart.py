"""The emulated UART: pty pairs, TCP, reconnects and line-rate pacing."""

from __future__ import annotations

import os
import select
import time

import serial

from commshub.emulator.uart import TokenBucket, UartLink


def _read_fw(fd: int, n: int, timeout: float = 5.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            got += os.read(fd, 65536)
    return got


def _fw_end(u: UartLink) -> int:
    # What the ROM does: open the firmware-side slave.
    return os.open(u.firmware_path, os.O_RDWR | os.O_NOCTTY)


def test_bytes_move_both_ways_unchanged_and_survive_reconnects(tmp_path) -> None:
    link = tmp_path / "uart"
    with UartLink(115200, tcp_port=0, link=link) as u:
        u.set_powered(True)
        fw = _fw_end(u)
        every = bytes(range(256))  # CR, LF, ^C, XON/XOFF, 0xFF: nothing translated
        for _ in range(3):  # the client comes and goes; the relay stays
            s = serial.Serial(str(link), timeout=3)
            os.write(fw, every)
            assert s.read(256) == every
            s.write(every)
            assert _read_fw(fw, 256) == every
            s.close()
        t = serial.serial_for_url(u.url, timeout=3)
        time.sleep(0.1)
        os.write(fw, b"to tcp")
        assert t.read(6) == b"to tcp"
        t.write(b"from tcp")
        assert _read_fw(fw, 8) == b"from tcp"
        t.close()
        os.close(fw)
    assert not os.path.lexists(link)


def test_stale_output_is_not_delivered_to_a_new_client() -> None:
    with UartLink(115200) as u:
        u.set_powered(True)
        fw = _fw_end(u)
        os.write(fw, b"nobody listens")
        time.sleep(0.2)
        s = serial.Serial(u.user_path, timeout=0.5)
        time.sleep(0.2)
        os.write(fw, b"fresh")
        assert s.read(100) == b"fresh"
        s.close()
        os.close(fw)


def test_unpowered_board_receives_nothing() -> None:
    with UartLink(115200) as u:
        fw = _fw_end(u)
        s = serial.Serial(u.user_path, timeout=0.5)
        s.write(b"lost")
        time.sleep(0.2)
        u.set_powered(True)
        s.write(b"kept")
        assert _read_fw(fw, 4, timeout=1) == b"kept"
        s.close()
        os.close(fw)


def test_pacing_takes_about_the_line_time() -> None:
    frame = os.urandom(4096 + 13)  # a full-size control-plane frame
    line_s = len(frame) * 10 / 115200
    with UartLink(115200, pace=True) as u:
        u.set_powered(True)
        fw = _fw_end(u)
        s = serial.Serial(u.user_path, timeout=5)
        time.sleep(0.1)
        t0 = time.monotonic()
        os.write(fw, frame)
        assert s.read(len(frame)) == frame
        up = (time.monotonic() - t0) / line_s
        time.sleep(0.05)  # let the bucket refill
        t0 = time.monotonic()
        s.write(frame)
        assert _read_fw(fw, len(frame)) == frame
        down = (time.monotonic() - t0) / line_s
        t0 = time.monotonic()
        os.write(fw, b"short frame of twenty")
        s.read(21)
        short = time.monotonic() - t0
        s.close()
        os.close(fw)
    print(f"pacing ratio to host {up:.3f}, to firmware {down:.3f}, short frame {short * 1000:.2f} ms")
    assert 0.8 < up < 2.0 and 0.8 < down < 2.0
    assert short < 0.1


def test_token_bucket_has_no_rounding_delay() -> None:
    b = TokenBucket(11520, burst=128)
    assert b.take(20, now=b.stamp) == 20
    assert b.take(200, now=b.stamp) == 108
    assert b.take(5, now=b.stamp) == 0
    assert abs(b.wait(1) - 1 / 11520) < 1e-3
