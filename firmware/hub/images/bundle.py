"""The hub's Manufacturer Image: an app bundle (docs/IMAGES.md, section 2).

    magic b"CHAB" | format 1 (1 byte) | manifest length (u32 LE) | manifest JSON | files...

Everything streams through one caller-preallocated buffer: no file is ever
held in RAM, only the manifest (at most MANIFEST_MAX bytes).

    m, files_offset = read_manifest(f, mi_offset, mi_length)
    m = unpack(f, mi_offset, mi_length, "/slots/b", buf)   # manifest.json last
"""

import os
import struct
import hashlib
import binascii

from hub.errors import HubError
from hub.codecs import is_hex, loads

MAGIC = b"CHAB"
FORMAT = 1
PREFIX = 9  # magic 4 + format 1 + manifest length 4
MANIFEST_MAX = 16384
MANIFEST = "manifest.json"
PART = ".part"
TEST_FAULTS = ("crash_at_start", "never_confirm", "boot_loop")
_DIR = 0x4000
rename = os.rename  # module attribute so tests can watch the order of renames


def _bad(what):
    return HubError("bad_format", what)


# ---- manifest ---------------------------------------------------------------


def _version_ok(v):
    if not isinstance(v, str):
        return False
    parts = v.split(".")
    if len(parts) != 3:
        return False
    for p in parts:
        if not (1 <= len(p) <= 3):
            return False
        if not p.isdigit():  # not a loop over its characters: see codecs.is_hex
            return False
        if int(p) > 255:
            return False
    return True


def _path_ok(p):
    """A safe relative path under lib/: no leading '/', no '..', '.', or empty parts."""
    if not isinstance(p, str) or not p.startswith("lib/") or len(p) > 200:
        return False
    if "\\" in p or "\x00" in p:
        return False
    for part in p.split("/"):
        if part in ("", ".", "..") or part.endswith(PART):
            return False
    return True


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_manifest(m):
    """HubError bad_format unless `m` is a well-formed manifest; returns the sum of file sizes."""
    if not isinstance(m, dict):
        raise _bad("manifest is not an object")
    for key in ("version", "min_version"):
        if not _version_ok(m.get(key)):
            raise _bad("manifest %s is not MAJOR.MINOR.PATCH (0-255 each)" % key)
    boards = m.get("boards")
    if not isinstance(boards, list) or not all(isinstance(b, str) for b in boards):
        raise _bad("manifest boards is not a list of strings")
    for key in ("arch", "built", "note"):
        v = m.get(key)
        if v is not None and not isinstance(v, str):
            raise _bad("manifest %s is not a string" % key)
    if "test_fault" in m and m["test_fault"] not in TEST_FAULTS:
        raise _bad("manifest test_fault is not one of %s" % ", ".join(TEST_FAULTS))
    files = m.get("files")
    if not isinstance(files, list):
        raise _bad("manifest files is not a list")
    seen = set()
    total = 0
    for e in files:
        if not isinstance(e, dict):
            raise _bad("manifest file entry is not an object")
        p = e.get("path")
        if not _path_ok(p):
            raise _bad("unsafe file path %r (must be relative, under lib/, no '..')" % (p,))
        if p in seen:
            raise _bad("file %s listed twice" % p)
        seen.add(p)
        size = e.get("size")
        if not _is_int(size) or size < 0:
            raise _bad("file %s size is not an integer >= 0" % p)
        h = e.get("sha256")
        if not is_hex(h, 64, b"0123456789abcdef"):
            raise _bad("file %s sha256 is not 64 lowercase hex digits" % p)
        total += size
    # A path cannot be both a file and a directory ("lib/a" and "lib/a/b").
    for p in seen:
        i = p.find("/", 4)
        while i > 0:
            if p[:i] in seen:
                raise _bad("file %s is also a directory" % p[:i])
            i = p.find("/", i + 1)
    return total


def read_manifest(f, mi_offset, mi_length):
    """(manifest, files_offset) of the bundle at f[mi_offset:mi_offset + mi_length].

    Checks the magic, the format, the manifest (check_manifest), that the file
    sizes add up to exactly the rest of the MI, and that the file holds it all.
    """
    f.seek(0, 2)
    end = f.tell()
    if end < mi_offset + mi_length:
        raise _bad("image truncated: Manufacturer Image ends at %d, file at %d" % (mi_offset + mi_length, end))
    if mi_length < PREFIX:
        raise _bad("Manufacturer Image too short for a bundle")
    f.seek(mi_offset)
    head = f.read(PREFIX)
    if len(head) != PREFIX or head[:4] != MAGIC:
        raise _bad("Manufacturer Image is not an app bundle (magic)")
    if head[4] != FORMAT:
        raise _bad("bundle format %d not supported" % head[4])
    mlen = struct.unpack_from("<I", head, 5)[0]
    if mlen > mi_length - PREFIX:
        raise _bad("manifest length %d beyond the Manufacturer Image" % mlen)
    if mlen > MANIFEST_MAX:
        raise _bad("manifest of %d bytes is over %d" % (mlen, MANIFEST_MAX))
    raw = f.read(mlen)
    if len(raw) != mlen:
        raise _bad("image truncated in the manifest")
    try:
        m = loads(raw)
    except HubError:
        raise _bad("manifest is not valid JSON")
    del raw
    total = check_manifest(m)
    rest = mi_length - PREFIX - mlen
    if total != rest:
        raise _bad("file sizes add up to %d, the bundle holds %d" % (total, rest))
    return m, mi_offset + PREFIX + mlen


# ---- streaming --------------------------------------------------------------


def _stream(f, size, buf, h, out=None):
    """Feed the next `size` bytes of f to hash `h` (if any) and `out`; bad_format if short."""
    mv = memoryview(buf)
    cap = len(buf)
    while size > 0:
        got = f.readinto(mv if size >= cap else mv[:size])
        if not got:
            raise _bad("image truncated")
        chunk = mv if got == cap else mv[:got]  # no slice object for full chunks
        if h is not None:
            h.update(chunk)
        if out is not None:
            out.write(chunk)
        size -= got


def file_sha256(f, size, buf):
    """SHA-256 (32 bytes) of the next `size` bytes of f, read through `buf`."""
    h = hashlib.sha256()
    _stream(f, size, buf, h)
    return h.digest()


def mi_sha256(f, mi_offset, mi_length, buf):
    """SHA-256 (32 bytes) of the Manufacturer Image, streamed."""
    f.seek(mi_offset)
    return file_sha256(f, mi_length, buf)


def path_sha256(path, buf):
    """Lowercase hex SHA-256 of the file at `path` (OSError if missing)."""
    h = hashlib.sha256()
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            got = f.readinto(buf)
            if not got:
                break
            h.update(mv[:got])
    return binascii.hexlify(h.digest()).decode()


# ---- slot directories -------------------------------------------------------


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _makedirs(path):
    """mkdir -p for an absolute or relative path."""
    if not path or _exists(path):
        return
    i = path.rfind("/")
    if i > 0:
        _makedirs(path[:i])
    try:
        os.mkdir(path)
    except OSError:
        if not _exists(path):
            raise


def remove_tree(path):
    """Remove `path` and everything under it; a missing path is fine."""
    try:
        mode = os.stat(path)[0]
    except OSError:
        return
    if mode & _DIR:
        # Collect names first: removing while iterating is not safe on littlefs.
        names = [e[0] for e in os.ilistdir(path)]
        for n in names:
            remove_tree(path + "/" + n)
        os.rmdir(path)
    else:
        os.remove(path)


def unpack(f, mi_offset, mi_length, dest, buf):
    """Unpack the bundle into directory `dest` (emptied first); return its manifest.

    The bundle's framing and manifest are checked before dest is touched: a
    bundle refused by read_manifest leaves dest as it was.

    Each file goes through `<path>.part` then os.rename, and its SHA-256 is
    checked as it streams (bad_format "file X hash mismatch"). `dest/manifest.json`
    is written last, also through a temp name, so a slot with a manifest is
    complete. On any error dest holds no manifest.json (partial files may stay:
    remove_tree(dest) to reclaim the space).
    """
    m, off = read_manifest(f, mi_offset, mi_length)
    # The manifest goes first: from here on dest is incomplete until the end.
    try:
        os.remove(dest + "/" + MANIFEST)
    except OSError:
        pass
    remove_tree(dest)
    _makedirs(dest)
    f.seek(off)
    made = set()
    for e in m["files"]:
        rel = e["path"]
        i = rel.rfind("/")
        d = dest + "/" + rel[:i]
        if d not in made:
            _makedirs(d)
            made.add(d)
        final = dest + "/" + rel
        tmp = final + PART
        h = hashlib.sha256()
        try:
            with open(tmp, "wb") as out:
                _stream(f, e["size"], buf, h, out)
            if binascii.hexlify(h.digest()).decode() != e["sha256"]:
                raise _bad("file %s hash mismatch" % rel)
        except Exception:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
        rename(tmp, final)
    # The manifest's own bytes, copied through buf: serialising the parsed
    # one would take it twice over in one piece of heap (verify mode's peak).
    final = dest + "/" + MANIFEST
    tmp = final + PART
    f.seek(mi_offset + PREFIX)
    with open(tmp, "wb") as out:
        _stream(f, off - mi_offset - PREFIX, buf, None, out)
    rename(tmp, final)
    return m


def check_tree(dest, m, buf):
    """Paths of manifest `m`'s files that are missing or differ under `dest` ([] if all match)."""
    bad = []
    for e in m["files"]:
        try:
            ok = path_sha256(dest + "/" + e["path"], buf) == e["sha256"]
        except OSError:
            ok = False
        if not ok:
            bad.append(e["path"])
    return bad
