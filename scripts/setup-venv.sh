#!/usr/bin/env bash
# Create .venv and install the host tools into it: every dependency at the exact
# version in host_tools/requirements.lock, then commshub itself, editable.
# Environment: PYTHON (default python3, must be >= 3.11).
source "$(dirname "$0")/common.sh"
PYTHON=${PYTHON:-python3}
LOCK=$REPO/host_tools/requirements.lock

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=/path/to/python3.11+)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); the host tools need Python >= 3.11 (set PYTHON=...)"

if ! "$VENV/bin/python" -c pass 2>/dev/null; then
    say "creating $VENV ($("$PYTHON" -V 2>&1), python3 -m venv)"
    "$PYTHON" -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)

say "installing pinned dependencies: pip install -r host_tools/requirements.lock"
"${pip[@]}" install -q -r "$LOCK"
say "installing commshub (editable): pip install --no-deps -e host_tools"
"${pip[@]}" install -q --no-deps --no-build-isolation -e "$REPO/host_tools"
"${pip[@]}" check >/dev/null || { "${pip[@]}" check; die "pip check failed"; }
info "$("$VENV/bin/python" -V), $("${pip[@]}" list --format=freeze 2>/dev/null | wc -l) packages"
