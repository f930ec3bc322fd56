"""Regenerate the MAP vectors: python -m tests.vectors.map.make_vectors

TCAP Begins are encoded by pycrate's TCAP_MAPv2v3 module (our codec of record) with the layout
of ITU-T Q.773 and 3GPP TS 29.002 (checkIMEI, operation 43, equipmentMngtContext v1/v2/v3);
the SCCP and M3UA wrappers by eir's encoders, which the tests hold to pycrate's decoding. All
dissect cleanly in tshark 4.0 (tests/integration/test_map_serve.py).
"""

from __future__ import annotations

from pathlib import Path

from eir.sigtran import m3ua
from eir.sigtran.m3ua import Message, Tag, u32
from tests.support.sigtran import BLACK, WHITE, check_imei, over_sccp

HERE = Path(__file__).parent


def vectors() -> dict[str, tuple[str, bytes]]:
    return {
        "tcap_begin_v1": (
            "TCAP Begin, MAP v1 checkIMEI (no dialogue portion)",
            check_imei(1, BLACK),
        ),
        "tcap_begin_v2": (
            "TCAP Begin, AARQ equipmentMngtContext-v2, checkIMEI(IMEI)",
            check_imei(2, BLACK),
        ),
        "tcap_begin_v3": (
            "TCAP Begin, AARQ equipmentMngtContext-v3, checkIMEI(CheckIMEI-Arg)",
            check_imei(3, WHITE),
        ),
        "m3ua_data_udt_v3": (
            "M3UA DATA (RC 1) / SCCP UDT (GT, SSN 9) / TCAP Begin v3",
            m3ua.encode_data(over_sccp(check_imei(3, BLACK)), 1),
        ),
        "m3ua_aspup": (
            "M3UA ASPUP with ASP Identifier 3",
            m3ua.encode(Message(m3ua.ASPUP, ((Tag.ASP_IDENTIFIER, u32(3)),))),
        ),
        "m3ua_aspac_loadshare": (
            "M3UA ASPAC, loadshare, Routing Context 1",
            m3ua.encode(
                Message(
                    m3ua.ASPAC, ((Tag.TRAFFIC_MODE_TYPE, u32(2)), (Tag.ROUTING_CONTEXT, u32(1)))
                )
            ),
        ),
    }


def main() -> None:
    for name, (title, data) in vectors().items():
        lines = [f"# {title}", "# provenance: tests/vectors/map/make_vectors.py"]
        lines += [data[i : i + 16].hex(" ") for i in range(0, len(data), 16)]
        (HERE / f"{name}.hex").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
