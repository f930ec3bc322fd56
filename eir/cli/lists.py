"""The operator's list commands on the store: ``eir load`` (list files into the store, all or
nothing), ``eir lookup`` (the answer for one IMEI, and why), ``eir export`` (entries as CSV that
`eir load` reads back) and ``eir stats`` (counts, size, digest, load and update history).

The loader (numpy) is imported only by ``load``, the command that reads list files.
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from eir.config import Config
from eir.errors import ConfigError, IdentityError
from eir.identity import Imei, Imsi
from eir.model import CheckRequest, CheckResult, ListName
from eir.policy import decide
from eir.progress import LoadProgress
from eir.startup import open_store
from eir.store.api import ExportRow, Mode, StoreStats, history_dict
from eir.store.lmdb_store import LmdbStore

if TYPE_CHECKING:  # the loader (numpy) is imported by the commands that read list files
    from eir.store.loader import LoadOptions

EXPORT_COLUMNS = ("imei", "imei_last", "imsi", "list", "source", "reason", "reference", "added")


def load(args: argparse.Namespace, config: Config) -> int:
    from eir.store.fields import check_source
    from eir.store.loader import LoadOptions  # numpy: only where lists are read

    started = time.perf_counter()
    list_name = ListName(args.list)
    source = args.source or "manual"
    try:
        check_source(source)
    except IdentityError as exc:
        raise ConfigError(f"--source: {exc}") from None
    options = LoadOptions(list=list_name, source=source, skip_invalid=args.skip_invalid)
    out = sys.stderr

    def report(message: str) -> None:
        out.write(message + "\n")

    # A load makes millions of small acyclic objects: the cyclic collector would only rescan
    # them again and again (20 % of a load's time), so it rests until the load is over.
    gc.disable()
    try:
        return _load(args, config, options, report, started)
    finally:
        gc.enable()


def _load(
    args: argparse.Namespace,
    config: Config,
    options: LoadOptions,
    report: Callable[[str], None],
    started: float,
) -> int:
    from eir.store.loader import parse_files

    list_name, source, mode = options.list, options.source, Mode(args.mode)
    progress = LoadProgress.of_files(args.files)  # reading, checking, then writing
    batch = parse_files(args.files, options, report, progress)
    own = (list_name, source)
    scope = [own, *sorted({(g.list, g.source) for g in batch.groups} - {own})]
    store = open_store(config, args.db, create=True)
    progress.writing(sum(len(g.keys) for g in batch.groups))
    try:
        summary = store.apply(
            batch,
            mode,
            scope,
            dry_run=args.dry_run,
            remove_any_source=mode is Mode.REMOVE and args.source is None,
            tick=progress,
        )
    finally:
        progress.close()
        store.close()
    summary.seconds = time.perf_counter() - started
    print(summary.line())
    return 1 if batch.invalid else 0


def _result_dict(result: CheckResult, imei: Imei, imsi: Imsi | None) -> dict[str, object]:
    match = result.match
    return {
        "imei": str(imei),
        "key": imei.key,
        "imsi": None if imsi is None else imsi.digits,
        "answer": result.answer,
        "equipment_status": None if result.status is None else int(result.status),
        "rule": result.rule.value,
        "why": result.explain(),
        "anomalies": sorted(a.value for a in result.anomalies),
        "entry": None
        if match is None
        else {
            "level": match.level.value,
            "imei": match.key,
            "imei_last": match.last,
            "imsi": match.imsi,
            "list": match.entry.list.value,
            "source": match.entry.source,
            "reason": match.entry.reason,
            "reference": match.entry.reference,
            "added": _iso(match.entry.added),
        },
    }


def _iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def lookup(args: argparse.Namespace, config: Config) -> int:
    imei = Imei.parse(args.imei)
    imsi = None if args.imsi is None else Imsi.parse(args.imsi)
    store = open_store(config, args.db, create=False)
    try:
        result = decide(CheckRequest(imei, imsi), store.lookup, config.policy)
    finally:
        store.close()
    data = _result_dict(result, imei, imsi)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    _print_lookup(data)
    return 0


def _print_lookup(data: dict[str, object]) -> None:
    """`eir lookup` for a reader: the answer, why, the entry's reason, reference and date."""
    print(f"{data['imei']}: {data['answer']}")
    print(f"  why: {data['why']}")
    entry = data["entry"]
    if isinstance(entry, dict):
        for name in ("reason", "reference", "added"):
            if entry[name]:
                print(f"  {name}: {entry[name]}")
    anomalies = data["anomalies"]
    listed = ", ".join(anomalies) if isinstance(anomalies, list) and anomalies else "none"
    print(f"  anomalies: {listed}")


def _export_lines(rows: Iterator[ExportRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        e = row.entry
        writer.writerow(
            (
                row.imei,
                row.last or "",
                row.imsi or "",
                e.list.value,
                e.source,
                e.reason,
                e.reference,
                _iso(e.added),
            )
        )
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config, args.db, create=False)
    try:
        rows = store.export(None if args.list is None else ListName(args.list), args.source)
        if args.file == "-":
            for chunk in _export_lines(rows):
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return 0
        _write_export(args.file, rows)
    finally:
        store.close()
    return 0


def _write_export(path: str, rows: Iterator[ExportRow]) -> None:
    """The CSV into a temporary file beside `path`, renamed over it once complete (gzip when
    `path` ends in .gz): a reader never sees half an export."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".eir-export-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as raw:
            target: TextIO
            if path.endswith(".gz"):
                target = io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="wb"))
            else:
                target = io.TextIOWrapper(raw)
            with target:
                for chunk in _export_lines(rows):
                    target.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _updates(store: LmdbStore) -> dict[str, dict[str, object]]:
    """The last list update applied from each MQTT prefix."""
    from eir.publish.lists import decode_version

    out: dict[str, dict[str, object]] = {}
    for key, raw in store.meta_items(b"update\x00"):
        version = decode_version(raw)
        out[key.split(b"\x00", 1)[1].decode()] = {
            "version": version.seq,
            "id": version.id,
            "published": _iso(version.time),
            "applied": _iso(int(version.applied)),
        }
    return out


def _stats_dict(
    stats: StoreStats, path: str, updates: dict[str, dict[str, object]]
) -> dict[str, object]:
    return {
        "updates": updates,
        "path": path,
        "lists": stats.per_list(),
        "tables": stats.per_table(),
        "entries": stats.counts,
        "generation": stats.generation,
        "size_bytes": stats.size_bytes,
        "used_bytes": stats.used_bytes,
        "digest": stats.digest,
        "history": [history_dict(h) | {"time": _iso(h.time)} for h in stats.history],
    }


def stats(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config, args.db, create=False)
    try:
        figures = store.stats(history_size=max(0, args.history))
        updates = _updates(store)
    finally:
        store.close()
    data = _stats_dict(figures, store.path, updates)
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    _print_stats(figures, store.path, updates)
    return 0


def _print_stats(stats: StoreStats, path: str, updates: dict[str, dict[str, object]]) -> None:
    """`eir stats` for a reader: the store, its list updates, its entries, its recent loads."""
    print(f"store: {path}")
    print(f"size: {stats.size_bytes:,} bytes on disk, {stats.used_bytes:,} in use")
    print(f"digest: {stats.digest}")
    print(f"generation: {stats.generation}")
    for prefix, update in sorted(updates.items()):
        print(
            f"list updates from {prefix}/lists/: version {update['version']} "
            f"(id {update['id']}, published {update['published']}, applied "
            f"{update['applied']})"
        )
    print("entries (table/list/source):")
    for name, count in sorted(stats.counts.items()):
        print(f"  {name:<40} {count:>12,}")
    if not stats.counts:
        print("  none")
    for title, table in (("per list", stats.per_list()), ("per table", stats.per_table())):
        print(f"{title}: " + (", ".join(f"{k} {v:,}" for k, v in sorted(table.items())) or "none"))
    print("recent loads:")
    for h in stats.history:
        print(
            f"  #{h.seq} {_iso(h.time)} {h.mode} {h.list}/{h.source} "
            f"{', '.join(h.files) or '-'}: +{h.added} ~{h.updated} -{h.removed} "
            f"={h.unchanged} invalid {h.invalid} duplicates {h.duplicates}"
        )
    if not stats.history:
        print("  none")
