"""``eir serve`` and ``eir check-config``: the daemon, and the configuration it would run.

`serve` imports the protocol stack only once it knows how many processes to start:
`eir.supervisor` for ``--workers N`` (it loads no protocol stack before its workers start),
`eir.service` for one process. It refuses a store that does not exist unless ``--create`` or
``store.create``. SIGHUP is ignored until the daemon can reload (`eir.reload`), then reloads.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys

from eir.cli.overrides import log_overrides, serve_overrides
from eir.config import Config, load_config, to_toml
from eir.errors import ConfigError
from eir.startup import require_store


def serve(args: argparse.Namespace, config: Config) -> int:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload while starting is not an exit
    serving = serve_overrides(args, config)
    require_store(serving, args.db, create=args.create or serving.store.create)
    again = functools.partial(reread, args)
    if serving.service.workers > 1:
        from eir.supervisor import supervise  # imports no protocol stack: see its docstring

        return supervise(serving, args.db, again)
    from eir.service import run

    return run(serving, args.db, again)


def reread(args: argparse.Namespace) -> Config:
    """The configuration `serve` runs with, read again: the file, then the command line
    (``--log-level`` and ``--log-format`` too, as at start)."""
    return serve_overrides(args, log_overrides(args, load_config(args.config)))


def check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    sys.stdout.write(f"# {config.origin}: valid\n" + to_toml(config))
    return 0
