"""``eir purge``: the entries whose ``expires`` is past deleted from the list store, a step of
``lifecycle.purge_batch`` entries per transaction, each step a version recorded in the history
(action ``purge``, origin ``cli``, by ``--by`` or the login name, reason ``--reason`` or
"expired"). ``--dry-run`` counts them; ``--json``
prints the summary as JSON. The clock is the lifecycle's (:func:`eir.lifecycle.now`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from eir import lifecycle
from eir.cli.audit import add_change_options, change_of
from eir.config import Config
from eir.model import utc_text
from eir.startup import open_store

Options = Callable[[argparse.ArgumentParser], None]


def add_parser(sub: Any, store_options: Options) -> None:
    """The parser of ``purge``."""
    p = sub.add_parser(
        "purge",
        help="delete the entries whose expires is past (each step of lifecycle.purge_batch "
        "entries a version)",
        description="Delete the list entries whose 'expires' is past (an expired entry already "
        "matches no more: a purge frees the space and fixes the counts). A record keeps its "
        "other entries. The daemon does the same every lifecycle.purge_interval_s.",
    )
    store_options(p)
    p.add_argument("--dry-run", action="store_true", help="count them, change nothing")
    p.add_argument("--json", action="store_true", help="the summary as one JSON object")
    add_change_options(p)


def purge(args: argparse.Namespace, config: Config) -> int:
    now = lifecycle.now(config)
    change = change_of(args, "purge", config)
    change = change if change.reason else replace(change, reason="expired")
    store = open_store(config, args.db, create=False)
    versions: list[int] = []
    try:
        summary = store.purge(
            now,
            config.lifecycle.purge_batch,
            change,
            dry_run=args.dry_run,
            versions=versions,
        )
    finally:
        store.close()
    if args.json:
        data = {
            "removed": summary.removed,
            "versions": versions,
            "dry_run": summary.dry_run,
            "clock": utc_text(now),
            "seconds": round(summary.seconds, 3),
        }
        print(json.dumps(data))
    elif args.dry_run:
        print(f"dry run, nothing changed: {summary.removed} entries expired by {utc_text(now)}")
    else:
        print(f"purged {summary.removed} expired entries by {utc_text(now)}{_versions(versions)}")
    return 0


def _versions(versions: list[int]) -> str:
    if not versions:
        return ""
    if len(versions) == 1:
        return f" (version {versions[0]})"
    return f" (versions {versions[0]}-{versions[-1]})"
