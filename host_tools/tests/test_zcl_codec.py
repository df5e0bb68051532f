"""The firmware's ZCL codec (run on MicroPython) against frames built and parsed by zigpy."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import zigpy.types as t
import zigpy.zcl.foundation as f

from commshub import paths

CMD = f.GeneralCommand
# (zigpy type, ZCL type id, a value generator)
TYPES = [
    (t.uint8_t, 0x20, lambda r: r.randrange(256)),
    (t.uint16_t, 0x21, lambda r: r.randrange(65536)),
    (t.uint32_t, 0x23, lambda r: r.getrandbits(32)),
    (t.int32s, 0x2B, lambda r: r.randrange(-2**31, 2**31)),
    (t.enum8, 0x30, lambda r: r.randrange(256)),
    (t.bitmap8, 0x18, lambda r: r.randrange(256)),
    (t.Bool, 0x10, lambda r: r.randrange(2)),
    (t.CharacterString, 0x42, lambda r: "".join(r.choice("abcXYZ019 -") for _ in range(r.randrange(20)))),
    (t.UTCTime, 0xE2, lambda r: r.getrandbits(32)),
]


def _run_firmware(vectors: dict, tmp_path: Path) -> dict:
    p = tmp_path / "zcl.json"
    p.write_text(json.dumps(vectors))
    env = dict(os.environ, MICROPYPATH=f"{paths.FIRMWARE}:{paths.FIRMWARE / 'tests'}:.frozen")
    out = subprocess.run([paths.micropython(), str(paths.FIRMWARE / "tests" / "zcl_check.py"), str(p)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _header(seq: int, cmd: int, manufacturer: int | None = None, to_client: bool = False) -> f.ZCLHeader:
    h = f.ZCLHeader.general(tsn=seq, command_id=cmd, manufacturer=manufacturer,
                            direction=f.Direction.Server_to_Client if to_client else f.Direction.Client_to_Server)
    return h


def test_zcl_codec_agrees_with_zigpy(tmp_path):
    rng = random.Random(4)
    requests, want_requests = [], []
    for i in range(30):
        ids = [rng.randrange(65536) for _ in range(rng.randrange(1, 8))]
        manuf = rng.choice([None, 0x1234])
        h = _header(i, CMD.Read_Attributes, manuf)
        body = f.GENERAL_COMMANDS[CMD.Read_Attributes].schema(attribute_ids=ids).serialize()
        requests.append((h.serialize() + body).hex())
        want_requests.append([int(h.frame_control.serialize()[0]), manuf, i, 0, ids])
    reports, want_reports = [], []
    for i in range(30):
        recs, want = [], []
        for _ in range(rng.randrange(1, 5)):
            zt, tid, gen = rng.choice(TYPES)
            aid, val = rng.randrange(65536), gen(rng)
            recs.append(f.Attribute(attrid=aid, value=f.TypeValue(type=tid, value=zt(val))))
            want.append([aid, tid, val])
        h = _header(i, CMD.Report_Attributes, to_client=True)
        reports.append((h.serialize() + f.GENERAL_COMMANDS[CMD.Report_Attributes].schema(attribute_reports=recs)
                        .serialize()).hex())
        want_reports.append([CMD.Report_Attributes, want])
    responses = []
    for i in range(30):
        recs = []
        for _ in range(rng.randrange(1, 5)):
            aid = rng.randrange(65536)
            if rng.random() < 0.3:
                recs.append([aid, 0x86, 0, None])
            else:
                _zt, tid, gen = rng.choice(TYPES)
                recs.append([aid, 0, tid, gen(rng)])
        responses.append([i, recs])
    defaults = [[i, rng.randrange(256), rng.choice([0x00, 0x81, 0x82, 0x86])] for i in range(10)]
    malformed = ["18", "0801", "1801010400", "180101040000", "18010104000042", "1801010400004205616263"]
    got = _run_firmware({"requests": requests, "reports": reports, "responses": responses,
                         "defaults": defaults, "malformed": malformed}, tmp_path)

    assert got["requests"] == want_requests
    assert got["reports"] == want_reports
    for (seq, recs), hx in zip(responses, got["responses"], strict=True):
        hdr, rest = f.ZCLHeader.deserialize(bytes.fromhex(hx))
        assert (hdr.tsn, hdr.command_id, hdr.direction) == (seq, CMD.Read_Attributes_rsp, f.Direction.Server_to_Client)
        rsp, rest = f.GENERAL_COMMANDS[CMD.Read_Attributes_rsp].schema.deserialize(rest)
        assert rest == b""
        parsed = [[r.attrid, int(r.status)] + ([r.value.type, r.value.value] if r.status == 0 else [0, None])
                  for r in rsp.status_records]
        assert parsed == recs
    for (seq, cmd, status), hx in zip(defaults, got["defaults"], strict=True):
        hdr = _header(seq, CMD.Default_Response, to_client=True)
        hdr.frame_control = hdr.frame_control.replace(disable_default_response=1)
        body = f.GENERAL_COMMANDS[CMD.Default_Response].schema(command_id=cmd, status=status).serialize()
        assert hx == (hdr.serialize() + body).hex()
    assert got["malformed"] == ["bad_frame"] * len(malformed)
