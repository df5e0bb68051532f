"""Helpers shared by the firmware tests (MicroPython only)."""

import os

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
# The DCC's sample GBCS image, from ../shared beside the repo (CI always has it).
SAMPLE = _HERE + "/../../../shared/fixtures/gbcs/sample-esme-firmware-image.bin"


def dcc_sample():
    """The bytes of the DCC sample image; a clear failure when ../shared is missing."""
    try:
        with open(SAMPLE, "rb") as f:
            return f.read()
    except OSError:
        raise AssertionError("DCC sample image missing: expected %s (the ../shared checkout)" % SAMPLE)


class RamBlockDev:
    """A RAM block device for vfs.VfsLfs2, like a small flash chip."""

    def __init__(self, block_size=512, blocks=64):
        self.bs = block_size
        self.n = blocks
        self.data = bytearray(block_size * blocks)

    def readblocks(self, block, buf, off=0):
        a = block * self.bs + off
        buf[:] = memoryview(self.data)[a:a + len(buf)]

    def writeblocks(self, block, buf, off=None):
        if off is None:
            off = 0
        a = block * self.bs + off
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            return 0


_n = 0


def fresh_fs():
    """Mount a new empty littlefs at a fresh mount point; return its path."""
    global _n
    import vfs

    _n += 1
    bdev = RamBlockDev()
    vfs.VfsLfs2.mkfs(bdev)
    path = "/t%d_%d" % (_n, os.getpid() if hasattr(os, "getpid") else 0)
    vfs.mount(vfs.VfsLfs2(bdev), path)
    return path


def raises(exc, fn, *args):
    """Call fn(*args); return the exception of type exc or fail."""
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)
