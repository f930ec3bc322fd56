"""The ``added`` dates of a list file, as police and regulators write them, to epoch seconds.

Accepted, in this order: epoch seconds (``1764374400``); ISO 8601 with or without a zone
(``2026-11-29T10:00:00+07:00``, ``2026-11-29 10:00``, ``2026-11-29``); then either the
command line's ``--date-format`` (strptime) or a plain day-first date
``29/11/2026``, ``29.11.2026``, ``29-11-2026``, optionally with ``HH:MM[:SS]``. A date that
names no zone is in the load's time zone (``--timezone``, ``lists.timezone``; UTC by default).

Layer 2 (the store's list reader); standard library only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eir.errors import IdentityError

_DAY_FIRST = re.compile(
    r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)
#: what an entry's ``added`` can hold: 4 octets of seconds after 1970 (0 means "not given")
_LAST_SECOND = 2**32 - 1


def zone_named(name: str) -> tzinfo:
    """The time zone an IANA name (``Asia/Ho_Chi_Minh``, ``UTC``) names; ValueError if none."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is no IANA time zone (e.g. UTC, Europe/Paris, Asia/Ho_Chi_Minh)"
        ) from None


class DateReader:
    """Reads ``added`` cells for one load: its ``--date-format`` and ``--timezone``."""

    def __init__(self, date_format: str | None = None, timezone: str = "UTC") -> None:
        self.date_format = date_format
        self.zone = zone_named(timezone)

    def __call__(self, text: str) -> int:
        """Epoch seconds of an ``added`` cell; IdentityError naming the options when it is not
        a date this load reads."""
        if text.isdigit():
            return self._in_range(text, int(text))
        stamp = self._stamp(text)
        if stamp is None:
            raise IdentityError(self._unreadable(text))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=self.zone)
        return self._in_range(text, int(stamp.timestamp()))

    def _stamp(self, text: str) -> datetime | None:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
        if self.date_format is not None:
            try:
                return datetime.strptime(text, self.date_format)
            except ValueError:
                return None
        return _day_first(text)

    def _unreadable(self, text: str) -> str:
        if self.date_format is not None:
            return (
                f"added {text!r} is not ISO 8601, epoch seconds or --date-format "
                f"{self.date_format!r}"
            )
        return (
            f"added {text!r} is not ISO 8601, epoch seconds or DD/MM/YYYY [HH:MM[:SS]] "
            "(name another format with --date-format, e.g. --date-format '%m/%d/%Y')"
        )

    @staticmethod
    def _in_range(text: str, seconds: int) -> int:
        if not 0 <= seconds <= _LAST_SECOND:
            raise IdentityError(f"added {text!r} is not between 1970 and 2106")
        return seconds


def _day_first(text: str) -> datetime | None:
    """``29/11/2026``, ``29.11.2026`` or ``29-11-2026``, optionally ``HH:MM[:SS]``; None when
    it is not so written (or has a month over 12: month first), IdentityError when it names no
    day (``30/02/2026``) or time."""
    match = _DAY_FIRST.fullmatch(text)
    if match is None:
        return None
    day, _, month, year, hour, minute, second = match.groups()
    if int(month) > 12:
        return None  # month first, most likely (11/29/2026): told to name --date-format
    try:
        date = datetime(int(year), int(month), int(day))
    except ValueError:
        raise IdentityError(
            f"added {text!r} is not a date (day {int(day)} of month {int(month)})"
        ) from None
    try:
        return date.replace(hour=int(hour or 0), minute=int(minute or 0), second=int(second or 0))
    except ValueError:
        raise IdentityError(f"added {text!r} is not a time of day") from None
