"""How `eir load` and `eir publish` are told the way their list files are written: the options
(`eir.cli.parser`) and the ``[lists]`` configuration made one
:class:`~eir.store.formats.LoadOptions`; and the check digit policy, which `eir block` takes
from them too. The entries' times: ``--grace`` and ``--expires-in`` (load, publish) and
``--effective``, ``--expires``, ``--grace`` (block), counted from the lifecycle's clock
(:func:`eir.lifecycle.now`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from eir import lifecycle
from eir.config import Config
from eir.errors import ConfigError, EirError, IdentityError
from eir.model import ListName, is_expired
from eir.store.fields import check_source
from eir.store.formats import CheckDigit, LoadOptions
from eir.store.times import check_times, days_after, parse_time, time_text

#: the most days a ``--grace`` or ``--expires-in`` may count (about 100 years)
_MOST_DAYS = 36500.0


def load_options(args: argparse.Namespace, config: Config) -> LoadOptions:
    """The LoadOptions of a load or publish: the command line's, else the configuration's."""
    source = args.source or "manual"
    try:
        check_source(source)
    except IdentityError as exc:
        raise ConfigError(f"--source: {exc}") from None
    lists = config.lists
    return LoadOptions(
        list=ListName(args.list),
        source=source,
        skip_invalid=args.skip_invalid,
        delimiter=args.delimiter,
        encoding=args.encoding,
        column_map=tuple(args.column),
        strict_columns=args.strict_columns,
        date_format=args.date_format or lists.date_format or None,
        timezone=args.timezone or lists.timezone,
        check_digit=check_digit_policy(args, config),
        strict=args.strict,
        **load_times(args, config),
    )


def load_times(args: argparse.Namespace, config: Config) -> dict[str, int]:
    """``effective`` and ``expires`` of the rows without their own: the load time (the
    lifecycle's clock, ``now``: rows expiring by then are refused) plus ``--grace`` and
    ``--expires-in`` days."""
    start = lifecycle.now(config)
    effective = days_after(start, args.grace)
    expires = days_after(start, args.expires_in)
    try:
        check_times(effective, expires)
    except IdentityError:
        raise ConfigError(
            f"--expires-in {args.expires_in:g} ends before --grace {args.grace:g} does"
        ) from None
    return {"effective": effective, "expires": expires, "now": int(start)}


class PastError(EirError):
    """An entry refused because it expired already (bad data: exit 1)."""


def block_times(args: argparse.Namespace, config: Config) -> tuple[int, int]:
    """(effective, expires) of ``eir block``: ``--effective`` or now plus ``--grace`` days,
    and ``--expires``; ConfigError when they make no sense together."""
    if args.effective is not None and args.grace is not None:
        raise ConfigError("--effective and --grace both name the due date: give one")
    now = lifecycle.now(config)
    effective = args.effective or days_after(now, args.grace)
    try:
        times = check_times(effective, args.expires or 0)
    except IdentityError as exc:
        raise ConfigError(f"--{exc}") from None
    if is_expired(args.expires or 0, now):
        raise PastError(
            f"--expires {time_text(args.expires)} is past: the entry would never match; "
            "nothing was changed"
        )
    return times


def _days(text: str) -> float:
    """A number of days, more than 0 (fractions allowed)."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 0 < days <= _MOST_DAYS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a number of days above 0, at most {_MOST_DAYS:g}"
        )
    return days


def _time(what: str) -> Callable[[str], int]:
    """An option's type: a time as a list file's ``what`` cell writes it, never empty."""

    def convert(text: str) -> int:
        try:
            seconds = parse_time(text, what)
        except IdentityError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{what}: ")) from None
        if not seconds:
            raise argparse.ArgumentTypeError("empty: give a date (2026-12-15) or leave it out")
        return seconds

    return convert


def add_time_options(p: argparse.ArgumentParser) -> None:
    """``--grace`` and ``--expires-in`` of load and publish."""
    p.add_argument(
        "--grace",
        type=_days,
        metavar="DAYS",
        help="rows without an 'effective' of their own take effect DAYS after the load: a "
        "black entry answers the notice answer (policy.notice, grey) until then",
    )
    p.add_argument(
        "--expires-in",
        type=_days,
        metavar="DAYS",
        help="rows without an 'expires' of their own stop matching DAYS after the load "
        "(then eir purge deletes them)",
    )


def add_block_time_options(p: argparse.ArgumentParser) -> None:
    """``--effective``, ``--expires`` and ``--grace`` of block."""
    p.add_argument(
        "--effective",
        type=_time("effective"),
        metavar="T",
        help="the due date: 2026-12-15 (UTC midnight) or 2026-12-15T08:00:00+07:00; a black "
        "entry answers the notice answer (policy.notice) until then",
    )
    p.add_argument(
        "--expires",
        type=_time("expires"),
        metavar="T",
        help="when the entries stop matching (then eir purge deletes them)",
    )
    p.add_argument(
        "--grace",
        type=_days,
        metavar="DAYS",
        help="the due date DAYS from now (not with --effective)",
    )


def check_digit_policy(args: argparse.Namespace, config: Config) -> CheckDigit:
    """``--check-digit`` of load, publish and block, else ``lists.check_digit``."""
    return CheckDigit(args.check_digit or config.lists.check_digit)
