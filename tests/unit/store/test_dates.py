"""``added`` dates as list files write them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eir.errors import IdentityError
from eir.store.dates import DateReader, zone_named

MIDNIGHT = int(datetime(2026, 11, 29, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-11-29T00:00:00Z", MIDNIGHT),
        ("2026-11-29T07:00:00+07:00", MIDNIGHT),
        ("2026-11-29", MIDNIGHT),
        ("2026-11-29 00:00", MIDNIGHT),
        (str(MIDNIGHT), MIDNIGHT),
        ("29/11/2026", MIDNIGHT),
        ("29.11.2026", MIDNIGHT),
        ("29-11-2026", MIDNIGHT),
        ("9/1/2026 8:05", int(datetime(2026, 1, 9, 8, 5, tzinfo=UTC).timestamp())),
        ("29.11.2026 01:02:03", MIDNIGHT + 3723),
    ],
)
def test_forms(text: str, seconds: int) -> None:
    assert DateReader()(text) == seconds


def test_time_zone_of_dates_that_name_none() -> None:
    hcm = DateReader(timezone="Asia/Ho_Chi_Minh")
    assert hcm("29/11/2026") == hcm("2026-11-29") == MIDNIGHT - 7 * 3600
    assert hcm("2026-11-29T00:00:00Z") == MIDNIGHT  # a written zone wins
    paris = DateReader(timezone="Europe/Paris")
    assert paris("2026-07-01") - DateReader()("2026-07-01") == -2 * 3600  # summer time


def test_date_format() -> None:
    us = DateReader("%m/%d/%Y")
    assert us("11/29/2026") == us("2026-11-29") == MIDNIGHT
    with pytest.raises(IdentityError, match=r"--date-format '%m/%d/%Y'$"):
        us("29/11/2026")


@pytest.mark.parametrize("text", ["yesterday", "11/29/2026", "29/11/26", "2026-13-01"])
def test_unreadable(text: str) -> None:
    with pytest.raises(IdentityError, match=f"added '{text}' is not ISO 8601, epoch seconds"):
        DateReader()(text)


def test_no_such_day() -> None:
    with pytest.raises(IdentityError, match=r"^added '31/02/2026' is not a date \(day 31 of"):
        DateReader()("31/02/2026")


def test_out_of_range() -> None:
    with pytest.raises(IdentityError, match="is not between 1970 and 2106"):
        DateReader()("1969-12-31")
    with pytest.raises(IdentityError, match="is not between 1970 and 2106"):
        DateReader()(str(2**32))


def test_zone_names() -> None:
    assert zone_named("utc") is UTC
    with pytest.raises(ValueError, match="no IANA time zone"):
        zone_named("Mars/Olympus")


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_day_first_and_iso_agree(moment: datetime) -> None:
    """The two readers of a zoneless date, day-first and ISO 8601, give the same second."""
    moment = moment.replace(microsecond=0)
    reader = DateReader(timezone="Asia/Ho_Chi_Minh")
    day_first = moment.strftime("%d/%m/%Y %H:%M:%S")
    assert reader(day_first) == reader(moment.isoformat())
