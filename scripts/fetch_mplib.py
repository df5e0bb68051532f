#!/usr/bin/env python3
"""Fetch the micropython-lib modules listed in scripts/mplib.txt into .cache/mplib/.

Standard library only. For each line it finds the sdist on PyPI's simple index
(by its pinned sha256), downloads it to .cache/downloads/, checks the hash and
extracts the one file the firmware needs. These sdists are not pip-installable
projects, hence no pip here.

    scripts/fetch_mplib.py [--list scripts/mplib.txt] [--dest .cache/mplib]

Environment: MPLIB_INDEX_URL (default https://pypi.org/simple/).
"""

from __future__ import annotations

import argparse
import html.parser
import os
import re
import sys
import tarfile
import urllib.parse
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch import fetch, get, sha256_of  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
INDEX = os.environ.get("MPLIB_INDEX_URL", "https://pypi.org/simple/")


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_url(project: str, version: str, sha256: str) -> str:
    """URL of the file of `project` whose sha256 is the pinned one (PEP 503 index)."""
    page_url = urllib.parse.urljoin(INDEX, normalize(project) + "/")
    page = get(page_url).decode("utf-8", "replace")
    parser = _Links()
    parser.feed(page)
    for href in parser.hrefs:
        url, _, frag = href.partition("#")
        if frag.lower() == f"sha256={sha256}":
            return urllib.parse.urljoin(page_url, url)
    raise SystemExit(
        f"error: no file of {project} {version} with sha256 {sha256} on {page_url}"
    )


def read_list(path: Path) -> list[tuple[str, str, str, str, str]]:
    entries = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) not in (4, 5):
            raise SystemExit(f"{path}:{n}: expected 'project version sha256 path [dest]'")
        project, version, sha256, inner = fields[:4]
        dest = fields[4] if len(fields) == 5 else inner
        entries.append((project, version, sha256.lower(), inner, dest))
    return entries


def extract(archive: Path, inner: str, dest: Path) -> None:
    """Copy `inner` (relative to the sdist's top directory) out of `archive` to `dest`."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            names = {n.split("/", 1)[1]: n for n in z.namelist() if "/" in n}
            if inner not in names:
                raise SystemExit(f"error: {inner} not in {archive.name}")
            data = z.read(names[inner])
    else:
        with tarfile.open(archive) as t:
            members = {m.name.split("/", 1)[1]: m for m in t.getmembers() if "/" in m.name and m.isfile()}
            if inner not in members:
                raise SystemExit(f"error: {inner} not in {archive.name}")
            data = t.extractfile(members[inner]).read()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and dest.read_bytes() == data:
        return
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


def cached(downloads: Path, project: str, version: str, sha256: str) -> Path | None:
    """An already downloaded sdist of project==version with the pinned hash, if any."""
    if downloads.is_dir():
        for f in downloads.glob(f"{project}-{version}.*"):
            if not f.name.endswith(".part") and sha256_of(f) == sha256:
                return f
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", type=Path, default=REPO / "scripts" / "mplib.txt")
    ap.add_argument("--dest", type=Path, default=REPO / ".cache" / "mplib")
    ap.add_argument("--downloads", type=Path, default=REPO / ".cache" / "downloads")
    args = ap.parse_args()
    entries = read_list(args.list)
    # What the list no longer names goes: every file under dest is compiled into the firmware.
    keep = {(args.dest / e[4]).resolve() for e in entries}
    if args.dest.is_dir():
        for f in sorted(args.dest.rglob("*.py")):
            if f.resolve() not in keep:
                print(f"==> micropython-lib: dropping {f} (not in {args.list.name})")
                f.unlink()
    args.dest.mkdir(parents=True, exist_ok=True)
    for project, version, sha256, inner, dest in entries:
        print(f"==> micropython-lib: {project}=={version} -> {args.dest / dest}")
        sdist = cached(args.downloads, project, version, sha256)
        if sdist is None:
            url = find_url(project, version, sha256)
            sdist = args.downloads / Path(urllib.parse.urlparse(url).path).name
            fetch(url, sha256, sdist)
        else:
            print(f"    have {sdist} (sha256 ok)")
        extract(sdist, inner, args.dest / dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
