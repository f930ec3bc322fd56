"""How `eir load` and `eir publish` are told the way their list files are written: the options
(`eir.cli.parser`) and the ``[lists]`` configuration made one
:class:`~eir.store.formats.LoadOptions`; and the check digit policy, which `eir block` takes
from them too.
"""

from __future__ import annotations

import argparse

from eir.config import Config
from eir.errors import ConfigError, IdentityError
from eir.model import ListName
from eir.store.fields import check_source
from eir.store.formats import CheckDigit, LoadOptions


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
    )


def check_digit_policy(args: argparse.Namespace, config: Config) -> CheckDigit:
    """``--check-digit`` of load, publish and block, else ``lists.check_digit``."""
    return CheckDigit(args.check_digit or config.lists.check_digit)
