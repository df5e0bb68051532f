# The emulated board's "ROM": plays the MicroPython port's C start-up on the
# Unix port. Runs on the MicroPython VM, never on CPython.
#
#   micropython -X heapsize=<heap> rom.py <flash> <block_size>[:<prog_size>[:<read_size>]] <block_count> <uart pty> <board> [<reset cause> [<radio pty>]]
#
# or with no arguments and the same ones, one per line, in COMMSHUB_ROM (the
# emulated boards): the Unix port interns every argument as a qstr, and a real
# board has no command line. Seven long qstrs in the dynamic pools moved the
# hub's own names a pool step (4.5 KB of heap) closer on a 100 KiB board.
#
# prog_size is littlefs' program size, as the board's port mounts with it
# (rp2: 256; ESP32: VfsLfs2's default, 32): littlefs' caches are 4x it.
# read_size likewise (32 on the MCU ports; 256 where the flash is a file).
#
# The reset cause is what the supervisor knows about why this process starts:
# power_on, hard (EN button / reset()), soft (the firmware asked, exit 3) or
# watchdog (the previous run crashed). The firmware reads `_emu.reset_cause`.
#
# Exit codes: what boot.py/main.py passed to SystemExit (3 = reboot
# requested), 1 = uncaught exception (crash), 4 = flash did not mount,
# 2 = bad command line, 0 = main.py returned (board idles at the REPL).
# Everything here lives on the board's capped heap, so it stays small.
import gc
import sys
import os
import vfs
import termios


class FlashBdev:
    # File-backed flash with littlefs' extended block-device protocol, for a
    # VM without `emuflash` (a MicroPython given to make setup). The VM that
    # setup builds has this driver in C (vm_modules/emuflash), as a real port
    # has: this one took a fifth of the hub's CPU per download block. Writes
    # go straight to the file (no buffering) so a SIGKILL - a power cut -
    # keeps every block littlefs already programmed, as real flash would.
    def __init__(self, f, bs, n):
        self.f = f
        self.bs = bs
        self.n = n

    def readblocks(self, block, buf, off=0):
        self.f.seek(block * self.bs + off)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, off=None):
        self.f.seek(block * self.bs + (off or 0))
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            # Erase: littlefs never relies on erased contents, so skip the
            # 0xFF fill (it would cost a block-sized buffer on this heap).
            return 0
        return None


class Emu:
    # Board services the HAL reaches as `import _emu`.
    def __init__(self, uart, board, cause, radio=None):
        self.uart = uart
        self.radio = radio  # the Zigbee NCP's UART (a pty), or None
        self.board = board
        self.reset_cause = cause

    def reset(self):
        # Like machine.reset(): the supervisor restarts the process on 3.
        raise SystemExit(3)


def _open_uart(path):
    u = open(path, "r+b")
    fd = u.fileno()
    a = termios.tcgetattr(fd)
    # termios here lacks the VMIN/VTIME names: cc indexes 6 (VMIN) and
    # 5 (VTIME) on Linux. 0/0 makes read(n) return what is there at once.
    a[6][6] = 0
    a[6][5] = 0
    termios.tcsetattr(fd, termios.TCSANOW, a)
    return u


def _run(path, g):
    try:
        os.stat(path)
    except OSError:
        return
    with open(path) as f:
        src = f.read()
    # compile() names the file, so tracebacks say /main.py, not <string>.
    exec(compile(src, path, "exec"), g)


def main():
    args = sys.argv[1:] or (os.getenv("COMMSHUB_ROM") or "").split("\n")
    if len(args) not in (5, 6, 7):
        print("usage: rom.py <flash> <block_size>[:<prog_size>[:<read_size>]] <block_count> <uart pty> <board> [<reset cause> [<radio pty>]]")
        sys.exit(2)
    flash, bs, n, uart_path, board = args[:5]
    cause = args[5] if len(args) > 5 else "power_on"
    bs, _, prog = bs.partition(":")
    prog, _, rd = prog.partition(":")
    bs = int(bs)
    prog = int(prog or 32)
    rd = int(rd or 32)
    n = int(n)
    # Both host files must be opened before the host filesystem goes away.
    uart = _open_uart(uart_path)
    radio = None
    if len(args) > 6:
        # On a Raspberry Pi this is the NCP dongle's tty: an unplugged dongle
        # leaves the hub running without its HAN instead of crash-looping.
        try:
            radio = _open_uart(args[6])
        except OSError as e:
            print("rom: radio %s cannot be opened (%r); running without the radio" % (args[6], e))
    try:
        import emuflash

        bdev = emuflash.File(flash, bs, n)
    except ImportError:
        bdev = FlashBdev(open(flash, "r+b"), bs, n)
    try:
        fs = vfs.VfsLfs2(bdev, progsize=prog, readsize=rd)
        vfs.umount("/")
        vfs.mount(fs, "/")
        os.chdir("/")
    except OSError as e:
        print("rom: flash does not hold a littlefs2 filesystem (%r); halting" % (e,))
        sys.exit(4)
    sys.path[:] = ["", ".frozen", "/lib"]
    sys.modules["_emu"] = Emu(uart, board, cause, radio)
    g = {"__name__": "__main__"}
    # A real board starts the app on a clean heap: drop the start-up garbage.
    gc.collect()
    try:
        _run("/boot.py", g)
        _run("/main.py", g)
    except SystemExit as e:
        code = e.args[0] if e.args else 0
        sys.exit(0 if code is None else code if isinstance(code, int) else 1)
    except BaseException as e:  # noqa: B902 - a crash of any kind is reported the same way
        sys.print_exception(e)
        sys.exit(1)


main()
