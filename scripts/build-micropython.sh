#!/usr/bin/env bash
# Build the MicroPython Unix port from Debian's pinned `micropython` source
# package (1.25.0+ds-1) in .cache/micropython/, and print the binary's path
# on the last line of stdout. Needs gcc, make, python3 and dpkg-source
# (dpkg-dev, installed with apt-get when missing). About 15-20 s on 2 cores.
#
# The binary is 32-bit (MICROPY_FORCE_32BIT=1, gcc-multilib) wherever that can
# be built: the boards it emulates (ESP32, RP2040) are 32-bit, and a 64-bit VM
# needs about 1.3x the heap for the same objects, which would make the board's
# heap budget a lie. Without multilib it falls back to 64-bit, with a warning.
source "$(dirname "$0")/common.sh"

DEB_VERSION=1.25.0+ds-1
POOL=http://deb.debian.org/debian/pool/main/m/micropython
# file  sha256  (the .dsc lists the other two's hashes too; it is not signature-checked)
FILES=(
    "micropython_1.25.0+ds-1.dsc              8c7c406be88a6f3bc19e694eb0bbc5841112243fdf2b5a296e000d8fdc5f3c34"
    "micropython_1.25.0+ds.orig.tar.xz        7b25be99a502f070b2de81dafc08da7051d992325d6e67daa9045a918fffdbea"
    "micropython_1.25.0+ds-1.debian.tar.xz    87cd89f7900c86b963885dabe25acf3e5348815993f1500278ad8f6464465af4"
)
DL=$CACHE/downloads
WORK=$CACHE/micropython
SRC=$WORK/src-$DEB_VERSION
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

can_m32() { echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null; }
if ! can_m32 && [ -z "${COMMSHUB_64BIT:-}" ]; then
    say "installing gcc-multilib for a 32-bit MicroPython: apt-get install -y gcc-multilib" >&2
    { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
      && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc-multilib; } >&2 \
      || warn "could not install gcc-multilib" 
fi
if can_m32 && [ -z "${COMMSHUB_64BIT:-}" ]; then
    WIDTH=32; BUILDDIR=build-32; WIDTH_FLAGS=(MICROPY_FORCE_32BIT=1 BUILD=build-32)
else
    WIDTH=64; BUILDDIR=build-standard; WIDTH_FLAGS=()
    warn "building a 64-bit MicroPython: heap figures will be about 1.3x a real 32-bit board's (install gcc-multilib for a faithful one)"
fi
OUT=$SRC/ports/unix/$BUILDDIR/micropython
INPUTS=$(vm_build_inputs)

if [ -x "$OUT" ] && [ "$(cat "$OUT.inputs" 2>/dev/null)" = "$INPUTS" ]; then
    say "MicroPython $DEB_VERSION already built: ${OUT#"$REPO"/}" >&2
    echo "$OUT"
    exit 0
fi

for tool in gcc make python3 tar xz patch; do
    command -v "$tool" >/dev/null || die "building MicroPython needs '$tool' (apt-get install build-essential python3 xz-utils)"
done
if ! command -v dpkg-source >/dev/null; then
    say "installing dpkg-dev (for dpkg-source): apt-get install -y dpkg-dev" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dpkg-dev >&2
fi

say "fetching Debian source package micropython $DEB_VERSION from $POOL" >&2
for entry in "${FILES[@]}"; do
    read -r name sha <<<"$entry"
    python3 "$REPO/scripts/fetch.py" "$POOL/$name" "$sha" "$DL/$name" >&2
done

if [ ! -f "$SRC/.extracted" ]; then
    say "unpacking: dpkg-source --no-check -x micropython_$DEB_VERSION.dsc (applies Debian's patches)" >&2
    rm -rf "$SRC" "$SRC.tmp"
    mkdir -p "$WORK"
    (cd "$WORK" && dpkg-source --no-check -x "$DL/micropython_$DEB_VERSION.dsc" "$SRC.tmp") >&2
    rm -f "$WORK"/micropython_*.tar.*   # dpkg-source's copies of the tarballs
    touch "$SRC.tmp/.extracted"
    mv "$SRC.tmp" "$SRC"
fi

MANIFEST=$WORK/manifest.py
printf '# Frozen into the Unix port: asyncio only.\ninclude("$(MPY_DIR)/extmod/asyncio")\n' >"$MANIFEST"
FLAGS=("${WIDTH_FLAGS[@]}" MICROPY_PY_SSL=0 MICROPY_PY_BTREE=0 MICROPY_PY_FFI=0 MICROPY_VFS_LFS2=1 "FROZEN_MANIFEST=$MANIFEST"
       "USER_C_MODULES=$VM_MODULES")

LOG=$WORK/build.log
: >"$LOG"
# Run a build step with its output in $LOG; on failure show the end of it.
logged() {
    "$@" >>"$LOG" 2>&1 || { tail -n 40 "$LOG" >&2; die "build step failed: $* (full log: ${LOG#"$REPO"/})"; }
}

# mpy-cross first: FROZEN_MANIFEST would otherwise leak into the port's
# mpy-cross sub-make and break its link.
say "building mpy-cross: make -j$JOBS -C ${SRC#"$REPO"/}/mpy-cross" >&2
logged make -j"$JOBS" -C "$SRC/mpy-cross"
say "building the $WIDTH-bit Unix port: make -j$JOBS -C ${SRC#"$REPO"/}/ports/unix ${FLAGS[*]}" >&2
logged make -j"$JOBS" -C "$SRC/ports/unix" "${FLAGS[@]}"
info "build log: ${LOG#"$REPO"/}" >&2
[ -x "$OUT" ] || die "build finished but $OUT is missing"
echo "$INPUTS" >"$OUT.inputs"
echo "$OUT"
