"""`eir serve` answering MAP CheckIMEI over M3UA/TCP, as a subprocess, and every layer's
encoding of our answers dissected by tshark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eir.sigtran import m3ua, sccp
from eir.sigtran.asp import DataReceived
from eir.sigtran.node import MapNode
from eir.sigtran.tcap import TcapServer
from tests.diameter_support import serve
from tests.integration.cli_helpers import eir
from tests.pcap_support import tshark, tshark_problems, write_pcap
from tests.sigtran_support import (
    BLACK,
    MSC_ADDRESS,
    WHITE,
    Msc,
    check_imei,
    over_sccp,
    server,
)

DEMO = Path(__file__).resolve().parents[2] / "conf" / "lists" / "demo.csv"


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    db = tmp_path / "db"
    result = eir("load", DEMO, "--list", "black", "--source", "demo", "--db", db)
    assert result.returncode == 0, result.stderr
    return db


def _status(answer: tuple[str, Any]) -> object:
    kind, body = answer
    assert kind == "end"
    ((_, (name, value)),) = body["components"]
    assert name == "returnResult"
    result = value["result"]["result"][1]
    return result["equipmentStatus"] if isinstance(result, dict) else result


def test_serve_answers_check_imei_over_m3ua_tcp(demo_db: Path) -> None:
    with serve(demo_db) as served:
        msc = Msc(served.port("m3ua"))
        for version in (1, 2, 3):
            assert _status(msc.check(version, BLACK)) == "blackListed"
            assert _status(msc.check(version, WHITE)) == "whiteListed"
        # XUDT is answered with XUDT
        answer = msc.exchange(over_sccp(check_imei(2), kind=sccp.XUDT))
        assert sccp.decode(answer.data).kind == sccp.XUDT
        # a message for another subsystem with return on error: UDTS, unequipped user
        other = sccp.Address(True, 6, None, None)
        answer = msc.exchange(over_sccp(check_imei(2), called=other))
        returned = sccp.decode(answer.data)
        assert returned.kind == sccp.UDTS and returned.cause == sccp.ReturnCause.UNEQUIPPED_USER
        assert returned.called == MSC_ADDRESS
        msc.close()
    assert served.proc.returncode == 0


def _stack_answers() -> list[bytes]:
    node = MapNode(TcapServer(server()._check))
    out = []
    for version in (1, 2, 3):
        for imei in (BLACK, WHITE):
            pd = over_sccp(check_imei(version, imei))
            answer = node.on_data(DataReceived(pd, 1, None))
            assert answer is not None
            out.append(answer)
    pd = over_sccp(check_imei(2), kind=sccp.XUDT)
    out.append(node.on_data(DataReceived(pd, None, None)) or b"")
    pd = over_sccp(check_imei(2), called=sccp.Address(True, 6, None, None))
    out.append(node.on_data(DataReceived(pd, None, None)) or b"")
    return out


@pytest.mark.skipif(tshark() is None, reason="tshark is not installed (make test installs it)")
def test_tshark_dissects_the_whole_stack(tmp_path: Path) -> None:
    payloads = _stack_answers()
    path = tmp_path / "map.pcap"
    write_pcap(path, payloads, port=2905, sctp_ppid=m3ua.PPID_M3UA)
    text, problems = tshark_problems(path, protocol="gsm mobile application")
    assert not problems, "\n".join(problems)
    assert text.count("checkIMEI") >= 6
