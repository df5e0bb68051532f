"""pytest plugin piece: collect `firmware/tests/test_*.py` and run them on MicroPython.

Firmware modules are never imported into CPython. Each test file is run once
(lazily, on its first item) under the project's MicroPython binary by
`firmware/tests/runner.py`, which prints one `@@T {json}` line per test; each
test function becomes one pytest item that passes or fails with the traceback
MicroPython printed.

Use with `-p commshub.mpytest`, or re-export `pytest_collect_file` from the
main plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from . import paths

HEAPSIZE = os.environ.get("COMMSHUB_TEST_HEAPSIZE", "2M")
TIMEOUT_S = float(os.environ.get("COMMSHUB_TEST_TIMEOUT", "120"))
MARK = "@@T "


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(
        [str(paths.FIRMWARE / "tests"), str(paths.FIRMWARE), str(paths.MPLIB), ".frozen"]
    )
    return env


def _run(path: Path, *extra: str) -> tuple[int, str, list[dict]]:
    """Run the runner on one test file; return (returncode, raw output, results)."""
    cmd = [paths.micropython(), "-X", f"heapsize={HEAPSIZE}",
           str(paths.FIRMWARE / "tests" / "runner.py"), path.stem, *extra]
    try:
        proc = subprocess.run(cmd, env=_env(), cwd=str(path.parent), capture_output=True,
                              text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return -1, f"timed out after {TIMEOUT_S} s\n{out}", []
    out = proc.stdout + proc.stderr
    results = []
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            try:
                results.append(json.loads(line[len(MARK):]))
            except ValueError:
                pass
    return proc.returncode, out, results


class MpyFailure(Exception):
    """A firmware test failed on MicroPython; the message is its traceback."""


class MpyFile(pytest.File):
    """One firmware test module, run as a whole under MicroPython."""

    _results: dict[str, dict] | None = None
    _crash: str | None = None

    def collect(self):
        rc, out, listed = _run(self.path, "--list")
        if rc != 0 or not listed:
            # The module does not even import: one item carries the output.
            yield MpyItem.from_parent(self, name="<import>", crash=f"exit {rc}\n{out}")
            return
        for entry in listed:
            yield MpyItem.from_parent(self, name=entry["test"])

    def results(self) -> tuple[dict[str, dict], str | None]:
        if self._results is None:
            rc, out, res = _run(self.path)
            self._results = {r["test"]: r for r in res if "ok" in r}
            # Any nonzero exit is a crash of the file (MemoryError, SystemExit,
            # a segfault): tests that did not report fail with the output.
            self._crash = None if rc == 0 else f"exit {rc}\n{out}"
        return self._results, self._crash


class MpyItem(pytest.Item):
    def __init__(self, *, crash: str | None = None, **kw):
        super().__init__(**kw)
        self._import_crash = crash

    def runtest(self):
        if self._import_crash is not None:
            raise MpyFailure(self._import_crash)
        results, crash = self.parent.results()
        r = results.get(self.name)
        if r is None:
            raise MpyFailure(crash or "test produced no result")
        if not r["ok"]:
            raise MpyFailure(r.get("error") or "failed")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MpyFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::{self.name} (MicroPython)"


class _NotPython(pytest.File):
    """Stands in for pytest's Python module collector on firmware tests."""

    def collect(self):
        return []


def _is_firmware_test(file_path: Path) -> bool:
    return (file_path.suffix == ".py" and file_path.name.startswith("test_")
            and file_path.parent == paths.FIRMWARE / "tests")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent):
    """Keep pytest from importing firmware tests into CPython."""
    if _is_firmware_test(module_path):
        return _NotPython.from_parent(parent, path=module_path)
    return None


def pytest_collect_file(file_path: Path, parent):
    """Collect firmware/tests/test_*.py files as MicroPython test files."""
    if _is_firmware_test(file_path):
        return MpyFile.from_parent(parent, path=file_path)
    return None
