"""The emulated boards' flash driver in C (emulator/vm_modules/emuflash), on the MicroPython VM.

The filesystem it serves is checked from the host with littlefs-python, and the VM is killed
(a power cut) before it could flush or unmount anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from commshub import paths
from commshub.emulator.fsimage import pack_littlefs, read_image

BS, N, PROG = 4096, 64, 256


def _vm(script: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([paths.micropython(), "-X", "heapsize=256K", "-c", script, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _run(script: str, *args: str) -> str:
    p = _vm(script, *args)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out
    return out


@pytest.fixture(scope="module", autouse=True)
def _has_emuflash() -> None:
    p = subprocess.run([paths.micropython(), "-c", "import emuflash"], capture_output=True, text=True)
    if p.returncode:
        pytest.skip("this MicroPython has no emuflash (a binary given to make setup, not the one it builds)")


def test_a_littlefs_written_through_it_survives_a_kill_and_reads_on_the_host(tmp_path: Path) -> None:
    flash = tmp_path / "flash.bin"
    flash.write_bytes(pack_littlefs([("/old.txt", b"from the host")], BS, N, PROG))
    blob = os.urandom(20000)
    (tmp_path / "blob").write_bytes(blob)
    script = (
        "import sys, vfs, emuflash\n"
        f"fs = vfs.VfsLfs2(emuflash.File(sys.argv[1], {BS}, {N}), progsize={PROG}, readsize=256)\n"
        "vfs.mount(fs, '/fl')\n"
        "print(open('/fl/old.txt').read())\n"
        "with open('/fl/new.bin', 'wb') as f:\n"
        "    f.write(open(sys.argv[2], 'rb').read())\n"
        "print('written')\n"
        "while True: pass\n"  # never unmounts: the kill below is the power cut
    )
    p = _vm(script, str(flash), str(tmp_path / "blob"))
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "from the host"
    assert p.stdout.readline().strip() == "written"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    files = read_image(flash, BS, N)
    assert files["/old.txt"] == b"from the host"
    assert files["/new.bin"] == blob


def _on_random_flash(tmp_path: Path, body: str) -> tuple[bytes, str]:
    """Run `body` on the VM with `d`, an emuflash.File over random bytes; (those bytes, its output)."""
    flash = tmp_path / "flash.bin"
    before = os.urandom(BS * N)
    flash.write_bytes(before)
    return before, _run(f"import sys, emuflash\nd = emuflash.File(sys.argv[1], {BS}, {N})\n" + body, str(flash))


def test_reads_and_writes_land_at_block_and_offset(tmp_path: Path) -> None:
    before, out = _on_random_flash(
        tmp_path,
        "b = bytearray(16)\n"
        "print(d.readblocks(3, b, 100), b.hex())\n"
        "print(d.writeblocks(5, b'abc', 7), d.writeblocks(6, b'xyz'))\n"
        "print(d.ioctl(4, 0), d.ioctl(5, 0), d.ioctl(6, 9), d.ioctl(3, 0), d.ioctl(99, 0))\n")
    read, wrote, ioctl = out.splitlines()
    assert read == "0 " + before[3 * BS + 100:3 * BS + 116].hex()
    assert wrote == "0 0"
    assert ioctl == f"{N} {BS} 0 0 None"
    after = (tmp_path / "flash.bin").read_bytes()
    assert after[5 * BS + 7:5 * BS + 10] == b"abc" and after[6 * BS:6 * BS + 3] == b"xyz"
    # Nothing else moved; erase (ioctl 6) left block 9 as it was.
    assert after[:5 * BS + 7] + after[5 * BS + 10:6 * BS] + after[6 * BS + 3:] == \
        before[:5 * BS + 7] + before[5 * BS + 10:6 * BS] + before[6 * BS + 3:]


def test_out_of_range_answers_eio_and_touches_nothing(tmp_path: Path) -> None:
    before, out = _on_random_flash(
        tmp_path,
        "b = bytearray(b'untouched')\n"
        f"print(d.readblocks({N}, b), d.readblocks(-1, b), d.readblocks({N - 1}, b, {BS}), b)\n"
        f"print(d.writeblocks({N}, b'x'), d.writeblocks({N - 1}, bytes(10), {BS - 5}), d.writeblocks(0, b'x', -1))\n")
    assert out.splitlines() == ["-5 -5 -5 bytearray(b'untouched')", "-5 -5 -5"]
    assert (tmp_path / "flash.bin").read_bytes() == before


@pytest.mark.parametrize("size, args, error", [
    (None, (BS, N), "OSError: [Errno 2] ENOENT"),
    (BS * N - 1, (BS, N), "ValueError: flash file is smaller than block_size * block_count"),
    (BS * N, (0, N), "ValueError: block_size and block_count must be positive"),
    (BS * N, (BS, -1), "ValueError: block_size and block_count must be positive"),
])
def test_a_missing_or_short_file_or_bad_geometry_is_refused(tmp_path: Path, size: int | None,
                                                           args: tuple[int, int], error: str) -> None:
    flash = tmp_path / "flash.bin"
    if size is not None:
        flash.write_bytes(bytes(size))
    p = subprocess.run([paths.micropython(), "-c",
                        f"import sys, emuflash\nemuflash.File(sys.argv[1], {args[0]}, {args[1]})", str(flash)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == error
