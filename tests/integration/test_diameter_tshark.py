"""Every encoding we send, dissected by tshark: no malformed packet, no expert warning.

`make test` installs tshark (Debian package) when it is missing; where it cannot be had these
tests skip and say so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from eir.config import PolicyConfig
from eir.diameter import base, codec
from eir.diameter.dictionary import DisconnectCause, ResultCode
from eir.diameter.node import NodeIdentity
from tests.support.diameter import (
    BLACK,
    EIR,
    GREY_RANGE_IMEI,
    PAIR_IMEI,
    PAIR_IMSI,
    application,
    make_ecr,
    vector,
)
from tests.support.pcap import tshark, tshark_problems, write_pcap

pytestmark = pytest.mark.skipif(
    tshark() is None, reason="tshark is not installed (make test installs it)"
)

NODE = replace(EIR, host_ip_addresses=("192.0.2.1",), origin_state_id=7)


def _all_answers() -> list[bytes]:
    app = application()
    unknown = application(PolicyConfig(unknown="unknown"))
    realm = application(local=NodeIdentity("eir.a.example", "a.example", frozenset({"a.example"})))
    requests = [
        make_ecr(BLACK),
        make_ecr(PAIR_IMEI, imsi=PAIR_IMSI),
        make_ecr(GREY_RANGE_IMEI),
        make_ecr("1234"),
        make_ecr(None),
        vector("unknown_m_avp"),
        vector("ecr_msisdn_m_bit"),
        vector("ecr_proxy_route_drmp"),
        vector("ecr_meid"),
    ]
    out = [app.answer(r, "t") for r in requests]
    for code in (263, 264, 283, 1401):  # 1401: Terminal-Information (its 5005's Failed-AVP)
        msg = codec.decode_message_pycrate(make_ecr(BLACK))
        out.append(
            app.answer(
                codec.encode_message_pycrate(
                    msg._replace(avps=tuple(a for a in msg.avps if a.code != code))
                ),
                "t",
            )
        )
    out.append(unknown.answer(make_ecr("35209900176148"), "t"))
    out.append(realm.answer(make_ecr(BLACK), "t"))
    bad = bytearray(make_ecr(BLACK))
    bad[8:12] = (16777251).to_bytes(4, "big")
    out.append(app.answer(bytes(bad), "t"))
    out.append(app.busy(make_ecr(BLACK)))
    return out


def _base_messages() -> list[bytes]:
    cer = codec.decode_message_pycrate(vector("cer_mme"))
    return [
        codec.encode_message_pycrate(m)
        for m in (
            base.cer(NODE, 1, 1),
            base.cea(NODE, cer),
            base.dwr(NODE, 2, 2),
            base.dwa(NODE, codec.decode_message_pycrate(vector("dwr"))),
            base.dpr(NODE, DisconnectCause.BUSY, 3, 3),
            base.dpa(NODE, codec.decode_message_pycrate(vector("dpr"))),
            base.cea(NODE, cer, ResultCode.DIAMETER_UNKNOWN_PEER, "not allowed"),
            base.error_answer(
                NODE,
                codec.decode_message_pycrate(vector("dwr")),
                ResultCode.DIAMETER_COMMAND_UNSUPPORTED,
                "no",
            ),
        )
    ]


@pytest.mark.parametrize("name", ["answers", "base", "vectors"])
def test_tshark_dissects_cleanly(tmp_path: Path, name: str) -> None:
    if name == "answers":
        payloads = _all_answers()
    elif name == "base":
        payloads = _base_messages()
    else:
        payloads = [
            vector(v)
            for v in (
                "ecr_imei14_sv_imsi",
                "ecr_imei15",
                "ecr_imeisv16",
                "ecr_proxy_route_drmp",
                "ecr_meid",
                "ecr_msisdn_m_bit",
                "cer_mme",
                "dwr",
                "dpr",
                "unknown_m_avp",
            )
        ]
    path = tmp_path / f"{name}.pcap"
    write_pcap(path, payloads)
    text, problems = tshark_problems(path)
    # The unknown AVP 99999 is the peer's (a test vector, and its echo in Failed-AVP of the 5001
    # answer): tshark rightly cannot name it. Nothing else may be flagged.
    problems = [p for p in problems if "Unknown AVP 99999" not in p]
    assert not problems, "\n".join(problems)
    assert text.count("Diameter Protocol") >= len(payloads)
    if name == "answers":
        assert "Equipment-Status" in text and "BLACKLISTED" in text.upper()
