#!/usr/bin/env python3
"""Download files and check their sha256 (standard library only).

    scripts/fetch.py URL SHA256 DEST

Skips the download when DEST already has the expected hash; never leaves a
file with the wrong hash in place. Also imported by fetch_mplib.py.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import urllib.request
from pathlib import Path

USER_AGENT = "commshub-setup/1 (+https://pypi.org)"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def get(url: str, tries: int = 3, timeout: float = 60, headers: dict | None = None) -> bytes:
    """GET a URL with a few retries; returns the body."""
    last: Exception | None = None
    for attempt in range(1, tries + 1):
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read()
        except Exception as e:  # network errors, HTTP 5xx, ...
            last = e
            if attempt < tries:
                print(f"    retry {attempt}/{tries - 1} after: {e}", file=sys.stderr)
                time.sleep(2 * attempt)
    raise SystemExit(f"error: cannot download {url}: {last}")


def fetch(url: str, sha256: str, dest: Path) -> Path:
    """Make `dest` the file at `url`, verified against `sha256`."""
    dest = Path(dest)
    if dest.exists() and sha256_of(dest) == sha256:
        print(f"    have {dest} (sha256 ok)")
        return dest
    print(f"    download {url}")
    data = get(url)
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise SystemExit(f"error: sha256 mismatch for {url}\n  expected {sha256}\n  got      {got}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    print(f"    -> {dest} (sha256 ok)")
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    fetch(argv[1], argv[2].lower(), Path(argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
