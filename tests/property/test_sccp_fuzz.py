"""SCCP: any bytes give a Unitdata or SccpError, and whatever parses can be answered."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.sigtran import sccp
from eir.sigtran.sccp import Address, GlobalTitle, ReturnCause, SccpError

SEED = sccp.encode(
    sccp.XUDT,
    Address(True, 9, None, GlobalTitle(4, "4917")).encode(),
    Address(False, 8, 12, GlobalTitle(1, "123")).encode(),
    b"\x62\x00",
    return_on_error=True,
    optional=b"\x12\x01\x03\x00",
)


def _answer_all(buf: bytes) -> None:
    try:
        msg = sccp.decode(buf)
    except SccpError:
        return
    if msg.kind in (sccp.UDT, sccp.XUDT):
        for out in (sccp.reply(msg, b"\x64\x00"), sccp.service(msg, ReturnCause.UNQUALIFIED)):
            again = sccp.decode(out)
            assert again.called_raw == msg.calling_raw


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=120))
def test_any_bytes(buf: bytes) -> None:
    _answer_all(buf)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4))
def test_mutated_xudt(edits: list[tuple[int, int]]) -> None:
    buf = bytearray(SEED)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    _answer_all(bytes(buf))
