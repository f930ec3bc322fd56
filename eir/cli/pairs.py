"""``eir pairs grandfather``: every observed IMEI-IMSI pair first seen before a cut-off made a
white pair (source ``grandfathered``), so that blocking an IMEI later cuts off none of the
subscribers who used it before; ``pairs.max_per_imei`` respected (the pairs seen on the most
days kept). One atomic add to the list store (history action ``grandfather``), or with
``--publish`` one list update to every node (`eir.cli.publish`).

The pairs come from the observation store (every node's records, merged); which of them are
taken is `eir.observations.grandfather`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from eir.cli.audit import change_of
from eir.cli.overrides import mqtt_overrides
from eir.cli.publish import check_broker, publish_batch
from eir.config import Config
from eir.errors import ConfigError, LoadError, StoreError
from eir.model import ListName
from eir.observations.grandfather import Candidate, Grandfathering, grandfather
from eir.observations.record import Observed
from eir.observations.store import observations_path, open_observations
from eir.startup import open_store
from eir.store.api import HandsetChange, LoadSummary, Mode
from eir.store.batch import Batch, Group
from eir.store.lmdb_store import LmdbStore, has_store
from eir.store.pair_limit import stored_pairs
from eir.store.records import Table

#: the source of grandfathered pairs
SOURCE = "grandfathered"
_WHITE = ListName.WHITE
SCOPE = [(_WHITE, SOURCE)]


def pairs(args: argparse.Namespace, config: Config) -> int:
    """``eir pairs SUBCOMMAND``."""
    return grandfather_command(args, config)


def grandfather_command(args: argparse.Namespace, config: Config) -> int:
    before, said = cutoff(args.seen_before)
    imeis = None if args.imei_file is None else read_imeis(args.imei_file)
    if args.publish:
        config = mqtt_overrides(args, config)
        check_broker(args, config)  # before anything is read
    records = _observed(args, config)
    limit = config.pairs.max_per_imei
    store = _list_store(args, config)
    try:
        found = grandfather(records, before, _White(store), limit, imeis)
        batch = grandfather_batch(found.chosen, said, change_of(args, "grandfather", config))
        summary = None
        if store is not None and not args.publish:
            summary = store.apply(batch, Mode.ADD, SCOPE, dry_run=args.dry_run, max_pairs=limit)
    finally:
        if store is not None:
            store.close()
    _tell(args, found, said, limit, summary)
    if args.publish and found.chosen and not args.dry_run:
        publish_batch(args, config, batch, Mode.ADD, SCOPE)
    return 0


def cutoff(text: str) -> tuple[int, str]:
    """``--seen-before``: a date (``2026-01-31``, midnight UTC) or an ISO time (UTC unless it
    says otherwise) as (seconds since the epoch, the words the reason quotes)."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return int(day.timestamp()), day.strftime("%Y-%m-%d")
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--seen-before {text!r}: not a date (2026-01-31) or an ISO time (2026-01-31T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = int(moment.timestamp())
    return stamp, iso(stamp)


def iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def read_imeis(path: str) -> set[str]:
    """``--imei-file``: IMEIs read as ``eir load`` reads a list file (one a line or a CSV with
    an ``imei`` column; blank lines and ``#`` comments skipped), as 14-digit keys. Every bad
    row is told as ``file:line: message``; any refuses the command, nothing changed."""
    from eir.store.loader import LoadOptions, parse_files

    def tell(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        batch = parse_files([path], LoadOptions(skip_invalid=True), tell)
    except LoadError as exc:  # the file itself: missing, unreadable, not a list
        text = str(exc)
        raise LoadError(text if text.startswith("eir: ") else f"eir: {text}") from None
    if batch.invalid:
        raise LoadError(f"eir: {batch.invalid} bad IMEIs in {path}: nothing was changed")
    return {k.decode()[:14] for g in batch.groups if g.table is not Table.RANGE for k in g.keys}


def _observed(args: argparse.Namespace, config: Config) -> list[Observed]:
    """Every node's records of every pair, from one snapshot of the observation store."""
    path = args.observations or observations_path(config)
    if not (Path(path) / "data.mdb").exists():
        raise StoreError(f"{path}: no observation store here")
    observations = open_observations(config, path)
    try:
        return list(observations.scan())
    finally:
        observations.close()


def _list_store(args: argparse.Namespace, config: Config) -> LmdbStore | None:
    """The list store: created for a load; with ``--publish``, the local one when there is
    one (its white pairs count), else none."""
    if args.publish:
        path = args.db or config.store.path
        return open_store(config, args.db, create=False) if has_store(path) else None
    return open_store(config, args.db, create=True)


class _White:
    """The IMSIs an IMEI is paired with on the white list (any source), from the store."""

    def __init__(self, store: LmdbStore | None) -> None:
        self.store = store

    def __call__(self, imei: str) -> Collection[str]:
        if self.store is None:
            return ()
        snapshot = self.store.snapshot()
        try:
            return stored_pairs(snapshot, imei, Mode.ADD, set(), set())
        finally:
            snapshot.release()


def grandfather_batch(chosen: list[Candidate], said: str, change: HandsetChange) -> Batch:
    """The white pairs of ``chosen``: reason ``seen before DATE``, reference the first seen."""
    reason = f"seen before {said}"
    ordered = sorted(chosen, key=lambda c: (c.imei, c.imsi))
    group = Group(
        Table.PAIR,
        _WHITE,
        SOURCE,
        [f"{c.imei}{c.imsi}".encode() for c in ordered],
        fields=[(reason, iso(c.first), 0) for c in ordered],
    )
    if not change.reason:  # the pairs' own reason says why, unless --reason did
        change = replace(change, reason=reason)
    return Batch(groups=[group] if ordered else [], rows=len(ordered), change=change)


def _tell(
    args: argparse.Namespace,
    found: Grandfathering,
    said: str,
    limit: int,
    summary: LoadSummary | None,
) -> None:
    """The summary: what was observed, made white, white already and left out (and why)."""
    if args.json:
        data: dict[str, object] = {
            "seen_before": said,
            "pairs": found.seen,
            "imeis": found.imeis,
            "white": len(found.chosen),
            "already_white": found.already,
            "left_out": found.left_out,
            "max_per_imei": limit,
        }
        if summary is not None:
            data["load"] = summary.json()
        print(json.dumps(data))
        return
    left = f"{found.left_out} left out"
    if found.left_out:
        left += f" (pairs.max_per_imei is {limit}: the pairs seen on the most days kept)"
    print(
        f"seen before {said}: {found.seen} pairs of {found.imeis} IMEIs; "
        f"{len(found.chosen)} to make white, {found.already} white already, {left}"
    )
    if summary is not None:
        print(summary.line())
