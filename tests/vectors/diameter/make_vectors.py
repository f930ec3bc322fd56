"""Regenerate the Diameter vectors: python -m tests.vectors.diameter.make_vectors

Each .hex file holds one message, hex with '#' comments. They are encoded by pycrate (our codec
of record) from the layouts of 3GPP TS 29.272 7.2.19 and RFC 6733 5.3.1 / 5.5.1 / 5.4.1, with
the AVP order and flags seen from MMEs, and every one dissects cleanly in tshark 4.0
(tests/integration/test_diameter_tshark.py). They are checked in so that a codec change that
alters bytes shows up as a diff.
"""

from __future__ import annotations

from pathlib import Path

from eir.diameter import base, codec
from eir.diameter.message import Avp, grouped, octets, unsigned32
from eir.diameter.node import NodeIdentity
from eir.diameter.s13.client import ecr

HERE = Path(__file__).parent
MME = NodeIdentity(
    "mme1.epc.example", "epc.example", host_ip_addresses=("192.0.2.1",), origin_state_id=1700000000
)


def _ecr(imei: str | None, **kw: object) -> bytes:
    args: dict[str, object] = {
        "session_id": "mme1.epc.example;1700000000;42",
        "origin_host": "mme1.epc.example",
        "origin_realm": "epc.example",
        "destination_realm": "test.example",
        "imei": imei,
        "hbh": 0x0A0B0C0D,
        "e2e": 0x01020304,
    }
    args.update(kw)
    return codec.encode_message_pycrate(ecr(**args))  # type: ignore[arg-type]


def vectors() -> dict[str, tuple[str, bytes]]:
    proxy = grouped(284, (octets(280, "dra1.epc.example"), octets(33, b"\x01\x02state")))
    return {
        "ecr_imei14_sv_imsi": (
            "ECR: IMEI 14 digits, Software-Version, User-Name (IMSI)",
            _ecr("49015420323751", software_version="01", imsi="001010123456789"),
        ),
        "ecr_imei15": (
            "ECR: IMEI with its check digit, no Software-Version",
            _ecr("490154203237518"),
        ),
        "ecr_imeisv16": ("ECR: 16-digit IMEISV in the IMEI AVP", _ecr("4901542032375101")),
        "ecr_proxy_route_drmp": (
            "ECR through a DRA: DRMP, Proxy-Info, Route-Record",
            _ecr(
                "35693803564380",
                extra=(
                    Avp(301, 0, 0, (5).to_bytes(4, "big")),
                    proxy,
                    octets(282, "dra1.epc.example"),
                ),
            ),
        ),
        "ecr_meid": (
            "ECR with only a 3GPP2-MEID (7 octets)",
            _ecr(None, meid=bytes.fromhex("A0000012345678")),
        ),
        "cer_mme": (
            "CER from an MME advertising S13",
            codec.encode_message_pycrate(base.cer(MME, 0x11111111, 0x22222222)),
        ),
        "dwr": ("DWR", codec.encode_message_pycrate(base.dwr(MME, 0x11111112, 0x22222223))),
        "dpr": (
            "DPR, Disconnect-Cause REBOOTING",
            codec.encode_message_pycrate(base.dpr(MME, 0, 0x11111113, 0x22222224)),
        ),
        "ecr_msisdn_m_bit": (
            "ECR with MSISDN (701, vendor 10415, V and M bits), outside the ECR grammar",
            _ecr(
                "49015420323751",
                imsi="001010123456789",
                extra=(octets(701, bytes.fromhex("947102000010"), 10415),),
            ),
        ),
        "unknown_m_avp": (
            "ECR with an unknown AVP 99999 carrying the M bit",
            _ecr("49015420323751", extra=(unsigned32(99999, 7),)),
        ),
    }


def main() -> None:
    for name, (title, data) in vectors().items():
        lines = [f"# {title}", "# provenance: tests/vectors/diameter/make_vectors.py"]
        lines += [data[i : i + 16].hex(" ") for i in range(0, len(data), 16)]
        (HERE / f"{name}.hex").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
