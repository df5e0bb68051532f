"""Run the firmware's ZCL codec over vectors a host test built with zigpy (MicroPython only).

    micropython zcl_check.py vectors.json   -> one JSON line: what the codec made of each vector
"""

import json
import sys
from binascii import hexlify, unhexlify

from hub.codecs import zcl


def main(path):
    with open(path) as f:
        v = json.load(f)
    out = {"requests": [], "reports": [], "responses": [], "defaults": []}
    for hx in v["requests"]:
        data = unhexlify(hx)
        h = zcl.decode_header(data)
        out["requests"].append([h.fc, h.manufacturer, h.seq, h.cmd, zcl.decode_read_attributes(data, h.size)])
    for hx in v["reports"]:
        data = unhexlify(hx)
        h = zcl.decode_header(data)
        recs = zcl.decode_attribute_records(data, h.size, False)
        out["reports"].append([h.cmd, [[a, t, val] for a, _s, t, val in recs]])
    for seq, records in v["responses"]:
        hdr = zcl.encode_header(zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP, seq, zcl.READ_ATTRIBUTES_RSP)
        out["responses"].append(hexlify(hdr + zcl.encode_read_attributes_rsp(records)).decode())
    for seq, cmd, status in v["defaults"]:
        hdr = zcl.encode_header(zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP, seq, zcl.DEFAULT_RSP)
        out["defaults"].append(hexlify(hdr + zcl.encode_default_rsp(cmd, status)).decode())
    bad = []
    for hx in v["malformed"]:
        try:
            data = unhexlify(hx)
            h = zcl.decode_header(data)
            zcl.decode_attribute_records(data, h.size, True)
            bad.append("accepted")
        except Exception as e:  # noqa - the structured error is what is checked
            bad.append(getattr(e, "code", type(e).__name__))
    out["malformed"] = bad
    print(json.dumps(out))


main(sys.argv[1])
