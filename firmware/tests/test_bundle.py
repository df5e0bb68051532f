"""App bundle (the hub image's MI): manifest checks, streamed unpack into a slot."""

import binascii
import hashlib
import json
import os
import struct

from hub.errors import HubError
from hub.images import bundle
from util import fresh_fs, raises

HEAD = 60  # bytes before the MI in the test images (like a GBCS header)
TAIL = 66


def _with_fs(fn):
    """Run the test on its own RAM littlefs (root passed in), unmounted afterwards."""

    def run():
        import vfs

        root = fresh_fs()
        try:
            fn(root)
        finally:
            vfs.umount(root)

    return run


def _hex(b):
    return binascii.hexlify(hashlib.sha256(b).digest()).decode()


def _files():
    return [
        ("lib/hub/app.py", b"print('app')\n" * 40),  # 520 bytes: several buffer reads
        ("lib/hub/sub/x.py", b"X = 1\n"),
        ("lib/empty.py", b""),
        ("lib/main.py", bytes(range(256)) * 3),
    ]


def _manifest(files, **over):
    m = {"version": "0.2.0", "min_version": "0.1.0", "boards": ["emulator"], "arch": "x86",
         "note": "test", "files": [{"path": p, "size": len(b), "sha256": _hex(b)} for p, b in files]}
    m.update(over)
    return m


def _mi(files, m=None, magic=b"CHAB", fmt=1, raw=None, mlen=None):
    """Bundle bytes: magic, format, manifest length, manifest, files."""
    if raw is None:
        raw = json.dumps(_manifest(files) if m is None else m).encode()
    n = len(raw) if mlen is None else mlen
    return magic + bytes([fmt]) + struct.pack("<I", n) + raw + b"".join(b for _, b in files)


def _image(root, mi, cut=0):
    """Write HEAD + MI + TAIL to root/img.bin (minus `cut` bytes at the end); return its path."""
    path = root + "/img.bin"
    with open(path, "wb") as f:
        f.write(b"\xaa" * HEAD)
        f.write(mi)
        f.write(b"\x00\x40" + b"\x55" * 64)
    if cut:
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:-cut])
    return path


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _walk(path, out=None):
    out = [] if out is None else out
    for e in os.ilistdir(path):
        p = path + "/" + e[0]
        if e[1] == 0x4000:
            _walk(p, out)
        else:
            out.append(p)
    return out


def _unpack(root, mi, dest=None, cut=0, buf_size=64):
    img = _image(root, mi, cut)
    dest = dest or root + "/slots/b"
    with open(img, "rb") as f:
        return bundle.unpack(f, HEAD, len(mi), dest, bytearray(buf_size)), dest


def _refused(root, mi, dest=None, cut=0, words=None):
    dest = dest or root + "/slots/b"
    e = raises(HubError, _unpack, root, mi, dest, cut)
    assert e.code == "bad_format", (e.code, e.message)
    if words:
        assert words in e.message, e.message
    assert not _exists(dest + "/manifest.json")
    if _exists(dest):
        assert not [p for p in _walk(dest) if p.endswith(".part")], _walk(dest)
    return e


@_with_fs
def test_unpack_writes_files_and_manifest_last(root):
    files = _files()
    mi = _mi(files)
    seen = []
    real = bundle.rename

    def spy(a, b):
        assert a == b + ".part", (a, b)
        seen.append(b)
        real(a, b)

    bundle.rename = spy
    try:
        m, dest = _unpack(root, mi)
    finally:
        bundle.rename = real
    for p, b in files:
        assert _read(dest + "/" + p) == b, p
    assert seen[-1] == dest + "/manifest.json"
    assert len(seen) == len(files) + 1
    on_disk = _read(dest + "/manifest.json")
    assert on_disk == mi[9:9 + len(on_disk)] and len(on_disk) == struct.unpack("<I", mi[5:9])[0]  # its bytes
    assert json.loads(on_disk) == m == _manifest(files)
    assert sorted(_walk(dest)) == sorted([dest + "/" + p for p, _ in files] + [dest + "/manifest.json"])
    assert bundle.check_tree(dest, m, bytearray(64)) == []


@_with_fs
def test_unpack_empties_dest_first(root):
    dest = root + "/slots/b"
    os.mkdir(root + "/slots")
    os.mkdir(dest)
    os.mkdir(dest + "/lib")
    with open(dest + "/lib/stale.py", "w") as f:
        f.write("old")
    _unpack(root, _mi(_files()), dest)
    assert not _exists(dest + "/lib/stale.py")
    assert _exists(dest + "/manifest.json")


@_with_fs
def test_read_manifest_and_mi_sha256(root):
    files = _files()
    mi = _mi(files)
    img = _image(root, mi)
    with open(img, "rb") as f:
        m, off = bundle.read_manifest(f, HEAD, len(mi))
        assert m == _manifest(files)
        assert off == HEAD + len(mi) - sum(len(b) for _, b in files)
        assert bundle.mi_sha256(f, HEAD, len(mi), bytearray(100)) == hashlib.sha256(mi).digest()
        f.seek(off)
        assert bundle.file_sha256(f, len(files[0][1]), bytearray(7)) == hashlib.sha256(files[0][1]).digest()
        # Asking for more than the file holds is a truncation.
        e = raises(HubError, bundle.mi_sha256, f, HEAD, len(mi) + TAIL + 1, bytearray(64))
        assert e.code == "bad_format"


@_with_fs
def test_tampered_file_refused(root):
    files = _files()
    m = _manifest(files)
    bad = list(files)
    bad[1] = (bad[1][0], b"X = 2\n")  # same size, other content
    _refused(root, _mi(bad, m), words="lib/hub/sub/x.py hash mismatch")


@_with_fs
def test_tampered_first_and_last_file_refused(root):
    files = _files()
    m = _manifest(files)
    for i in (0, 3):
        bad = list(files)
        b = bytearray(bad[i][1])
        b[-1] ^= 1
        bad[i] = (bad[i][0], bytes(b))
        _refused(root, _mi(bad, m), words="hash mismatch")


@_with_fs
def test_failed_unpack_removes_old_manifest(root):
    files = _files()
    _, dest = _unpack(root, _mi(files))
    assert _exists(dest + "/manifest.json")
    bad = list(files)
    bad[3] = (bad[3][0], bytes(len(bad[3][1])))
    _refused(root, _mi(bad, _manifest(files)), dest)


@_with_fs
def test_unsafe_paths_refused(root):
    for p in ("../x", "/x", "/lib/x", "lib/../x", "lib/a/../../x", "lib//x", "lib/./x", "lib/",
              "x.py", "boot.py", "manifest.json", "lib/x.part", "lib\\x", ""):
        files = [(p, b"data")]
        _refused(root, _mi(files), words="path")
        e = raises(HubError, bundle.check_manifest, _manifest(files))
        assert e.code == "bad_format", p
    # A non-string path.
    m = _manifest([("lib/a", b"")])
    m["files"][0]["path"] = 5
    assert raises(HubError, bundle.check_manifest, m).code == "bad_format"


@_with_fs
def test_sizes_must_add_up(root):
    files = _files()
    m = _manifest(files)
    m["files"][1]["size"] += 1  # the bundle holds one byte less than listed
    _refused(root, _mi(files, m), words="add up")
    m = _manifest(files)
    m["files"][0]["size"] -= 1  # one byte more
    _refused(root, _mi(files, m), words="add up")
    # Trailing garbage after the files.
    _refused(root, _mi(files) + b"!", words="add up")


@_with_fs
def test_truncated_mi_refused(root):
    mi = _mi(_files())
    # The image ends inside the MI.
    _refused(root, mi, cut=TAIL + 10, words="truncated")
    # The MI itself is shorter than its manifest says.
    _refused(root, mi[:20])
    _refused(root, mi[:8])
    _refused(root, b"")


@_with_fs
def test_bad_json_refused(root):
    files = _files()
    for raw in (b'{"version": "0.2.0",', b"not json", b'{"a": [1}', b"\xff\xfe", b"[1, 2]", b'"x"', b""):
        _refused(root, _mi(files, raw=raw))


@_with_fs
def test_bad_framing_refused(root):
    files = _files()
    _refused(root, _mi(files, magic=b"CHAX"), words="magic")
    _refused(root, _mi(files, fmt=2), words="format")
    _refused(root, _mi(files, mlen=100000), words="manifest length")


def test_check_manifest_fields():
    files = _files()
    ok = _manifest(files)
    assert bundle.check_manifest(ok) == sum(len(b) for _, b in files)
    cases = [
        {"version": "1.2"}, {"version": "1.2.3.4"}, {"version": "1.2.256"}, {"version": "a.b.c"},
        {"version": 1}, {"min_version": "x"}, {"min_version": None},
        {"boards": "emulator"}, {"boards": [1]}, {"boards": None},
        {"files": None}, {"files": {}}, {"files": ["lib/a"]},
        {"arch": 5}, {"note": []}, {"test_fault": "explode"},
    ]
    for over in cases:
        m = dict(ok)
        m.update(over)
        e = raises(HubError, bundle.check_manifest, m)
        assert e.code == "bad_format", over
    for key in ("version", "min_version", "boards", "files"):
        m = dict(ok)
        del m[key]
        assert raises(HubError, bundle.check_manifest, m).code == "bad_format", key
    assert raises(HubError, bundle.check_manifest, [ok]).code == "bad_format"
    m = dict(ok, arch=None, test_fault="boot_loop")
    bundle.check_manifest(m)


def test_check_manifest_file_entries():
    def with_entry(**over):
        m = _manifest([("lib/a.py", b"a")])
        m["files"][0].update(over)
        return m

    for over in ({"size": -1}, {"size": 1.5}, {"size": True}, {"size": "1"},
                 {"sha256": "AB" * 32}, {"sha256": "ab" * 31}, {"sha256": "zz" * 32}, {"sha256": None}):
        e = raises(HubError, bundle.check_manifest, with_entry(**over))
        assert e.code == "bad_format", over
    # Listed twice, and a path that is both a file and a directory.
    m = _manifest([("lib/a.py", b"a"), ("lib/a.py", b"a")])
    assert "twice" in raises(HubError, bundle.check_manifest, m).message
    m = _manifest([("lib/a", b"a"), ("lib/a/b.py", b"b")])
    assert "directory" in raises(HubError, bundle.check_manifest, m).message
    m = _manifest([("lib/a/b/c.py", b"a"), ("lib/a/b", b"b")])
    assert "directory" in raises(HubError, bundle.check_manifest, m).message


@_with_fs
def test_remove_tree(root):
    bundle.remove_tree(root + "/missing")  # tolerated
    _, dest = _unpack(root, _mi(_files()))
    bundle.remove_tree(dest)
    assert not _exists(dest)
    assert _exists(root + "/slots")
    with open(root + "/f", "w") as f:
        f.write("x")
    bundle.remove_tree(root + "/f")
    assert not _exists(root + "/f")


@_with_fs
def test_check_tree_reports_changed_and_missing(root):
    m, dest = _unpack(root, _mi(_files()))
    with open(dest + "/lib/hub/sub/x.py", "w") as f:
        f.write("X = 9\n")
    os.remove(dest + "/lib/main.py")
    assert bundle.check_tree(dest, m, bytearray(64)) == ["lib/hub/sub/x.py", "lib/main.py"]


@_with_fs
def test_empty_bundle(root):
    m, dest = _unpack(root, _mi([]))
    assert m["files"] == []
    assert _walk(dest) == [dest + "/manifest.json"]


@_with_fs
def test_refused_framing_leaves_dest_untouched(root):
    # Checks that need no writing (framing, manifest, sizes, a short file) come
    # before dest is emptied: the slot's previous contents stay complete.
    files = _files()
    m, dest = _unpack(root, _mi(files))
    before = sorted(_walk(dest))
    mi = _mi(files)
    for args in ((mi, TAIL + 10), (_mi(files, magic=b"XXXX"), 0), (_mi(files) + b"!", 0)):
        e = raises(HubError, _unpack, root, args[0], dest, args[1])
        assert e.code == "bad_format"
        assert sorted(_walk(dest)) == before
        assert json.loads(_read(dest + "/manifest.json")) == m
