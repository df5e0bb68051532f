#!/usr/bin/env bash
# Run the venv's pytest with the given arguments. Exit status 5 ("no tests
# collected") is a failure here, and said loudly: the suites have tests.
source "$(dirname "$0")/common.sh"
cd "$REPO"
echo "+ .venv/bin/pytest $*"
rc=0
"$VENV/bin/pytest" "$@" || rc=$?
if [ "$rc" = 5 ]; then
    printf '\nerror: pytest collected no tests (exit status 5) for: pytest %s\n' "$*" >&2
    printf 'error: the test suites are expected to have tests; treating this as a failure.\n' >&2
fi
exit "$rc"
