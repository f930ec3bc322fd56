"""Any bytes given to the device file readers get records or ``file:line`` messages, never an
exception; any devices written in a GSMA layout and read back are the same devices."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eir.devices.approved import parse_approved
from eir.devices.formats import GSMA20, parse_devices
from eir.devices.record import Device

LINES = st.lists(
    st.one_of(
        st.just("|".join(GSMA20)),
        st.just("tac,brand,model"),
        st.text(alphabet='0123456789|,;"# \tabcTAC-\r', max_size=60),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(LINES)
def test_any_text_is_read_or_told(lines: list[str]) -> None:
    data = "\n".join(lines).encode()
    for parsed in (parse_devices(data, "f"), parse_approved(data, "f")):
        assert all(e.startswith("f:") for e in parsed.errors)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_read_or_told(data: bytes) -> None:
    for parsed in (parse_devices(data, "f"), parse_approved(data, "f")):
        assert all(e.startswith("f:") for e in parsed.errors)


#: line breaks (any a reader may split on), the delimiter, quotes and NUL left out
_NOT_IN_CELLS = '|"\r\n\x00\x1c\x1d\x1e\x85\u2028\u2029\x0b\x0c'
CELL = st.text(
    alphabet=st.characters(blacklist_characters=_NOT_IN_CELLS, blacklist_categories=["Cs"]),
    max_size=12,
).map(str.strip)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.from_regex(r"[0-9]{8}", fullmatch=True), st.tuples(CELL, CELL, CELL)))
def test_gsma20_round_trip(rows: dict[str, tuple[str, str, str]]) -> None:
    lines = ["|".join(GSMA20)]
    for tac, (brand, model, radio) in rows.items():
        cells = [""] * len(GSMA20)
        cells[0], cells[7], cells[8], cells[6] = tac, brand, model, radio
        lines.append("|".join(cells))
    parsed = parse_devices("\n".join(lines).encode(), "f")
    assert parsed.errors == []
    assert parsed.devices == [
        Device(tac, brand, model, radio_interface=radio, source="gsma20")
        for tac, (brand, model, radio) in sorted(rows.items())
    ]
