"""An entry's ``effective`` and ``expires`` as list files, ``eir block`` and ``eir export`` write
them: an ISO date (``2026-12-15``, UTC midnight) or an ISO date-time with ``Z`` or an offset
(``2026-12-15T08:00:00+07:00``); empty: none. Exported as ``2026-12-15T00:00:00Z``.

The one time parser of eir: the same rules (:func:`option_time`) read ``eir lookup --at`` and
``eir audit --since/--until``; a date-time without a zone is refused everywhere (which zone it
meant is a guess).

Layer 2 (the store's list reader); standard library only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from eir.errors import IdentityError
from eir.model import utc_text

#: the list file columns of an entry's times
TIME_COLUMNS = ("effective", "expires")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: a time fits 4 octets of seconds; 0 means "none"
_LAST_SECOND = 2**32 - 1
_WRITTEN = "an ISO date (2026-12-15) or date-time with Z or an offset (2026-12-15T08:00:00Z)"


@lru_cache(maxsize=4096)  # a list file's rows mostly share a few dates
def parse_time(text: str, what: str) -> int:
    """Seconds since the epoch of an ``effective`` or ``expires`` cell (``what``); 0 for an
    empty one. IdentityError (``what: ...``) when it is not one of the accepted forms."""
    text = text.strip()
    if not text:
        return 0
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise IdentityError(f"{what}: {text!r} is not {_WRITTEN}") from None
    if _DATE.fullmatch(text):
        stamp = stamp.replace(tzinfo=UTC)
    elif stamp.tzinfo is None:
        raise IdentityError(f"{what}: {text!r} names no time zone (end it with Z or +HH:MM)")
    seconds = int(stamp.timestamp())
    if not 0 < seconds <= _LAST_SECOND:
        raise IdentityError(f"{what}: {text!r} is not between 1970 and 2106")
    return seconds


def option_time(text: str, option: str, *, end: bool = False) -> int:
    """A time an option gives (``--at``, ``--since``, ``--until``), by :func:`parse_time`'s
    rules: IdentityError ``OPTION: ...``. A date alone with ``end`` is its last second (up to
    the whole day)."""
    seconds = parse_time(text, option)
    if not seconds:
        raise IdentityError(f"{option}: empty: give {_WRITTEN}")
    return seconds + 86399 if end and _DATE.fullmatch(text.strip()) else seconds


def check_times(effective: int, expires: int) -> tuple[int, int]:
    """``(effective, expires)``, refused (IdentityError) when ``expires`` is not after
    ``effective``: such an entry would never hold."""
    if effective and expires and expires <= effective:
        raise IdentityError(
            f"expires: {time_text(expires)} is not after effective {time_text(effective)}"
        )
    return effective, expires


def parse_times(effective: str, expires: str) -> tuple[int, int]:
    """The two cells of a row, read and checked together."""
    return check_times(parse_time(effective, "effective"), parse_time(expires, "expires"))


def time_text(stamp: int) -> str:
    """A time as ``eir export`` writes it (``2026-12-15T00:00:00Z``); "" for 0 (none)."""
    return utc_text(stamp) if stamp else ""


def days_after(start: float, days: float | None) -> int:
    """``start`` plus ``days`` days, in whole seconds; 0 when ``days`` is None."""
    return 0 if days is None else int(start + days * 86400)


def has_time_columns(columns: list[str]) -> bool:
    """Whether a list file's header has an ``effective`` or ``expires`` column."""
    return any(name in TIME_COLUMNS for name in columns)
