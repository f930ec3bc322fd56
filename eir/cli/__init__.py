"""The ``eir`` command: ``serve | load | publish | lookup | block | unblock | export | stats |
history | observations | check-config``.

Exit codes: 0 ok, 1 bad data (invalid rows, unknown store, unreadable file), 2 bad usage.
Errors go to stderr as ``eir: message`` or ``file:line: message``.

This module is the dispatch: it parses the command line (`eir.cli.parser`), reads the
configuration, runs the command (`eir.cli.lists`: load, lookup, export, stats;
`eir.cli.handsets`: block, unblock; `eir.cli.publish`; `eir.cli.serve`: serve, check-config;
`eir.cli.observations`: history, observations)
and turns errors into exit codes.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

from eir import logs
from eir.cli import (
    devices,
    duplicates,
    handsets,
    lists,
    observations,
    pairs,
    publish,
    serve,
    versions,
)
from eir.cli.overrides import log_overrides
from eir.cli.parser import build_parser
from eir.config import Config, load_config
from eir.errors import ConfigFileError, EirError, LoadError

__all__ = ["COMMANDS", "build_parser", "main"]

#: the commands that run with a configuration (`check-config` is the one that reads its own)
COMMANDS: dict[str, Callable[[argparse.Namespace, Config], int]] = {
    "load": lists.load,
    "lookup": lists.lookup,
    "block": handsets.block,
    "unblock": handsets.unblock,
    "export": lists.export,
    "stats": lists.stats,
    "publish": publish.publish,
    "pairs": pairs.pairs,
    "serve": serve.serve,
    "duplicates": duplicates.duplicates,
    "devices": devices.devices,
    "observe": duplicates.observe,
    "history": observations.history,
    "observations": observations.observations,
    "versions": versions.versions,
    "diff": versions.diff,
    "rollback": versions.rollback,
}


def main(argv: Sequence[str] | None = None) -> int:
    # A file size limit (ulimit -f) must be an error we report, not a signal that kills us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except LoadError as exc:
        _tell(str(exc))  # already "file:line: message" or "file: message"
        return exc.exit_code
    except ConfigFileError as exc:
        for message in exc.messages:  # every error of the file, each on its line
            print(f"eir: {message}", file=sys.stderr)
        return exc.exit_code
    except EirError as exc:
        _tell(f"eir: {exc}")
        return exc.exit_code
    except BrokenPipeError:
        # `eir export | head`: the reader left; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _tell(f"eir: {where}{exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:
        return 130


def _tell(line: str) -> None:
    """Why a command failed: printed as it is, or, once `eir serve` has set up its log, as a
    log line at ERROR (`eir.logs.lifecycle`)."""
    if logs.is_set_up():
        logs.lifecycle(line, logging.ERROR)
    else:
        print(line, file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return serve.check_config(args)
    config = load_config(args.config)
    db = getattr(args, "db", None)
    if db:  # --db names the list store: the observation store's default place follows it
        config = dataclasses.replace(config, store=dataclasses.replace(config.store, path=db))
    if args.command in ("serve", "observe"):  # daemons: they log
        config = log_overrides(args, config)
        logs.setup(config.log.level, config.log.format)
    else:  # a user interface: its messages are printed, not logged (see eir.logs)
        logging.basicConfig(
            level=config.log.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    return COMMANDS[args.command](args, config)
