"""The loader on any input: its fast path agrees with the row path; bytes never crash it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.errors import LoadError
from eir.identity import luhn_digit
from eir.store.loader import LoadOptions, _Parsed, parse_data

bodies = st.text(alphabet="0123456789", min_size=14, max_size=14)
valid = st.one_of(bodies, bodies.map(lambda b: b + luhn_digit(b)))
lines = st.one_of(valid, valid.map(lambda v: v[:-1] + "x"), st.text("0123456789", max_size=17),
                  valid.map(lambda v: v + "1"))


def parse(data: bytes) -> tuple[_Parsed, list[str]]:
    problems: list[str] = []
    return parse_data(data, 0, "f", LoadOptions(), problems.append), problems


def row_path(data: bytes) -> tuple[_Parsed, list[str]]:
    # A comment line first keeps the fast path away and leaves line numbers +1.
    return parse(b"# forced\n" + data)


def keys_of(parsed: _Parsed) -> list[bytes]:
    out = [k for b in parsed.blocks for k in b.digits.view("S14").ravel().tolist()]
    return sorted(out + [r.key for r in parsed.rows])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, min_size=1, max_size=30), st.sampled_from(["\n", "\r\n"]),
       st.booleans(), st.booleans())
def test_fast_path_agrees_with_row_path(rows: list[str], newline: str, final: bool,
                                        header: bool) -> None:
    text = newline.join(rows) + (newline if final else "")
    data = (("imei" + newline) if header else "").encode() + text.encode()
    fast, fast_problems = parse(data)
    slow, slow_problems = row_path(data)
    assert keys_of(fast) == keys_of(slow)
    assert (fast.read, fast.invalid) == (slow.read, slow.invalid)
    assert len(fast_problems) == len(slow_problems)
    if fast.blocks:
        assert fast_problems == []


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_give_rows_problems_or_a_load_error(data: bytes) -> None:
    try:
        parsed, problems = parse(data)
    except LoadError as exc:
        assert str(exc).startswith("f:")
        return
    assert parsed.invalid == len(problems)
    assert all(p.startswith("f:") for p in problems)
