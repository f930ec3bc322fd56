"""``eir history`` and ``eir observations import|stats``: what the observation store holds.

``eir history IMEI`` lists the IMSIs the handset was seen with, ``eir history --imsi IMSI``
the handsets the SIM was used in: one row per pair, merged over the nodes that saw it (first
seen the earliest, last seen the latest, the days' union, the checks added up), newest first.
``eir observations import FILE`` merges a file of observation deltas (one JSON object a line,
as nodes publish them: `eir.observations.delta`) into the store, all or nothing; ``eir
observations stats`` says what the store holds.

These are operator commands: they show full IMSIs (the store is personal data,
docs/observations.md), unlike events, which mask them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from eir.config import Config
from eir.errors import ConfigError, LoadError, StoreError
from eir.identity import Imsi, parse_written_imei
from eir.observations.delta import decode_delta
from eir.observations.record import ObservationError, Observed
from eir.observations.store import ObservationStore, observations_path, open_observations


def iso(stamp: int) -> str:
    """UTC, seconds, ``Z``."""
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def _path(args: argparse.Namespace, config: Config) -> str:
    return str(args.observations or observations_path(config))


@contextmanager
def _opened(args: argparse.Namespace, config: Config, *, existing: bool) -> Iterator[Any]:
    """The store; ``existing``: refused when there is none (a read creates nothing). Opened
    for writing either way: LMDB's read-only environments lose the tables' handles between
    transactions (py-lmdb 3.0), and a read never takes the write lock."""
    path = _path(args, config)
    if existing and not (Path(path) / "data.mdb").exists():
        raise StoreError(
            f"{path}: no observation store here (eir serve writes it when "
            "observations.enabled; --observations names another)"
        )
    store = open_observations(config, path)
    try:
        yield store
    finally:
        store.close()


# -- eir history --------------------------------------------------------------------------


def _merged(rows: Sequence[Observed], by: str) -> list[dict[str, Any]]:
    """One row per IMSI (``by`` "imsi") or IMEI, merged over the nodes, newest first."""
    groups: dict[str, list[Observed]] = {}
    for row in rows:
        groups.setdefault(getattr(row, by), []).append(row)
    out = []
    for key, seen in groups.items():
        days = set().union(*(r.record.days for r in seen))
        out.append(
            {
                by: key,
                "first_seen": iso(min(r.record.first for r in seen)),
                "last_seen": iso(max(r.record.last for r in seen)),
                "days": len(days),
                "checks": sum(r.record.checks for r in seen),
                "nodes": sorted({r.node for r in seen}),
            }
        )
    out.sort(key=lambda row: (row["last_seen"], row[by]), reverse=True)
    return out


def history(args: argparse.Namespace, config: Config) -> int:
    if (args.imei is None) == (args.imsi is None):
        raise ConfigError("history: give an IMEI, or --imsi IMSI (one of them)")
    if args.imsi is not None:
        imsi = Imsi.parse(args.imsi).digits
        with _opened(args, config, existing=True) as store:
            rows = _merged(store.by_imsi(imsi), "imei")
        return _print_history({"imsi": imsi, "imeis": rows}, "imei", args.json)
    imei = parse_written_imei(args.imei).key
    with _opened(args, config, existing=True) as store:
        rows = _merged(store.pairs(imei), "imsi")
    return _print_history({"imei": imei, "imsis": rows}, "imsi", args.json)


def _print_history(data: dict[str, Any], column: str, as_json: bool) -> int:
    rows: list[dict[str, Any]] = data["imeis" if column == "imei" else "imsis"]
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    asked = "IMSI" if column == "imei" else "IMEI"
    key = data[asked.lower()]
    if not rows:
        print(f"{asked} {key}: never observed")
        return 0
    what = ("handset" if column == "imei" else "SIM") + ("" if len(rows) == 1 else "s")
    print(f"{asked} {key}: {len(rows)} {what} (newest first)")
    print(f"{column.upper():<16} {'first seen':<20}  {'last seen':<20}  days  checks  nodes")
    for row in rows:
        print(
            f"{row[column]:<16} {row['first_seen']:<20}  {row['last_seen']:<20}  "
            f"{row['days']:>4}  {row['checks']:>6}  {', '.join(row['nodes'])}"
        )
    return 0


# -- eir observations import --------------------------------------------------------------


def _deltas(handle: TextIO, name: str) -> Iterator[tuple[int, list[Observed]]]:
    """(line number, pairs) of each delta; a bad line (or a record last seen after this
    machine's clock: `check_received`) is a ``name:line: message`` LoadError."""
    now = time.time()
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            delta = decode_delta(line.encode(), now=now)
        except ObservationError as exc:
            raise LoadError(f"{name}:{number}: {exc}") from None
        yield number, list(delta.pairs)


def _read_deltas(file: str) -> tuple[int, list[Observed]]:
    """(deltas, their pairs) of ``file`` (``-``: standard input), every line checked."""
    pairs: list[Observed] = []
    count = 0
    if file == "-":
        for _, rows in _deltas(sys.stdin, "<stdin>"):
            count += 1
            pairs.extend(rows)
        return count, pairs
    try:
        with open(file, encoding="utf-8", newline="") as handle:
            for _, rows in _deltas(handle, file):
                count += 1
                pairs.extend(rows)
    except UnicodeDecodeError as exc:
        raise LoadError(f"eir: {file}: not UTF-8 text (octet {exc.start})") from None
    return count, pairs


def import_deltas(args: argparse.Namespace, config: Config) -> int:
    deltas, pairs = _read_deltas(args.file)
    with _opened(args, config, existing=False) as store:
        merged = store.merge(pairs)
        path = store.path
    summary = {
        "store": path,
        "deltas": deltas,
        "pairs": merged.received,
        "changed": merged.changed,
        "imeis": len(merged.imeis),
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(
        f"imported {deltas} deltas: {merged.received} pair records, {merged.changed} changed "
        f"the store, {len(merged.imeis)} IMEIs ({path})"
    )
    return 0


# -- eir observations stats ---------------------------------------------------------------


def stats(args: argparse.Namespace, config: Config) -> int:
    with _opened(args, config, existing=True) as store:
        data = _stats(store)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"observation store: {data['store']}")
    print(f"pairs: {data['pairs']:,} (IMEI-IMSI), {data['records']:,} records (pair and node)")
    print(f"clock: {data['clock'] or 'none'} (the newest sighting)")
    print(f"size: {data['size_bytes']:,} bytes mapped, {data['used_bytes']:,} in use")
    print(f"to publish: {data['outbox']:,} records")
    return 0


def _stats(store: ObservationStore) -> dict[str, Any]:
    figures = store.stats()
    return {
        "store": store.path,
        "pairs": figures.pairs,
        "records": figures.records,
        "clock": iso(figures.clock) if figures.clock else None,
        "size_bytes": figures.size_bytes,
        "used_bytes": figures.used_bytes,
        "outbox": figures.pairs_marked,
    }


def observations(args: argparse.Namespace, config: Config) -> int:
    """``eir observations import|stats``."""
    if args.action == "import":
        return import_deltas(args, config)
    return stats(args, config)
