"""`eir serve` answering MAP CheckIMEI over M3UA/TCP, as a subprocess, and every layer's
encoding of our answers dissected by tshark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eir.framing import PPID_M3UA
from eir.sigtran import m3ua, sccp
from eir.sigtran.m3ua_asp import DataReceived
from eir.sigtran.sccp_routing import SccpRouter
from eir.sigtran.tcap import TcapServer
from tests.support.diameter import serve
from tests.support.pcap import tshark, tshark_problems, write_pcap
from tests.support.sigtran import (
    BLACK,
    MSC_ADDRESS,
    WHITE,
    Msc,
    check_imei,
    over_sccp,
    server,
)


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
    node = SccpRouter(TcapServer(server().user))
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
    from eir.config import PolicyConfig
    from tests.support.sigtran import argument, begin, invoke

    unknown = SccpRouter(TcapServer(server(PolicyConfig(unknown="unknown")).user))
    odd = [
        begin(None, [invoke(argument(2, BLACK))], (0, 4, 0, 0, 1, 0, 13, 4)),  # U-ABORT
        begin(2, [invoke(argument(2, BLACK), 1, opcode=44)]),  # Reject
        check_imei(2)[:-3],  # P-ABORT
    ]
    for tcap in odd:
        out.append(node.on_data(DataReceived(over_sccp(tcap), None, None)) or b"")
    out.append(
        unknown.on_data(DataReceived(over_sccp(check_imei(3, WHITE)), None, None)) or b""
    )  # returnError unknownEquipment
    assert all(out)
    return out


@pytest.mark.skipif(tshark() is None, reason="tshark is not installed (make test installs it)")
def test_tshark_dissects_the_whole_stack(tmp_path: Path) -> None:
    payloads = _stack_answers()
    path = tmp_path / "map.pcap"
    write_pcap(path, payloads, port=2905, sctp_ppid=PPID_M3UA)
    text, problems = tshark_problems(path, protocol="gsm mobile application")
    assert not problems, "\n".join(problems)
    assert text.count("checkIMEI") >= 6


async def test_eir_connects_to_a_signalling_gateway_as_an_asp(
    demo_db: Path, tmp_path: Path
) -> None:
    """The SG side: accept the EIR's association, see it go ASP-ACTIVE, route a Begin to it
    and get the End back; then drop it and see the EIR come back."""
    import asyncio
    import contextlib
    import os
    import sys
    import time

    from eir.sigtran.m3ua_asp import AspConnection, AspState, M3uaSettings, Side

    sessions: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    accepted: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await sessions.put((reader, writer))

    sg = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = sg.sockets[0].getsockname()[1]
    config = tmp_path / "asp.toml"
    config.write_text(f'[m3ua]\nreconnect_s = 1\npeers = ["tcp://127.0.0.1:{port}"]\n')
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "eir"),
        "serve",
        "--db",
        str(demo_db),
        "--config",
        str(config),
        "--diameter-listen",
        "127.0.0.1:0",
        "--m3ua-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        stderr=asyncio.subprocess.DEVNULL,
        env=dict(os.environ),
    )

    async def session() -> tuple[AspConnection, asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.wait_for(sessions.get(), 30)
        conn = AspConnection(M3uaSettings(), Side.SGP, time.monotonic())
        while conn.state is not AspState.ACTIVE:
            conn.receive_data(await asyncio.wait_for(reader.read(65536), 10), time.monotonic())
            writer.write(conn.data_to_send())
        return conn, reader, writer

    try:
        conn, reader, writer = await session()
        while conn.next_event() is not None:
            pass
        writer.write(m3ua.encode_data(over_sccp(check_imei(2, BLACK))))
        answer = None
        while answer is None:
            conn.receive_data(await asyncio.wait_for(reader.read(65536), 10), time.monotonic())
            while (event := conn.next_event()) is not None:
                if isinstance(event, DataReceived):
                    answer = event.data
        tcap = sccp.decode(answer.data).data
        from tests.support.sigtran import decoded

        assert _status(decoded(tcap)) == "blackListed"
        writer.close()
        await session()  # it comes back after reconnect_s
    finally:
        proc.terminate()
        await proc.wait()
        sg.close()
        await sg.wait_closed()
        for accepted_writer in accepted:
            accepted_writer.close()
            with contextlib.suppress(OSError):
                await accepted_writer.wait_closed()
