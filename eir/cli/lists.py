"""The operator's list commands on the store: ``eir load`` (list files into the store, all or
nothing), ``eir lookup`` (the answer for one IMEI, and why), ``eir export`` (entries as CSV that
`eir load` reads back) and ``eir stats`` (counts, size, digest, load and update history).

The loader (numpy) is imported only by ``load``, the command that reads list files.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import gzip
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from eir.cli.audit import ALL, change_of
from eir.cli.devices import stats_lines
from eir.cli.explain import Explainer, at_time, case_lookup, change_lookup, explanation_lines
from eir.cli.findings import findings_dict, print_findings, seen_lookup
from eir.cli.list_options import load_options
from eir.config import Config
from eir.errors import ConfigError, IdentityError
from eir.identity import Imei, Imsi, parse_written_imei
from eir.model import CheckRequest, CheckResult, Level, ListName, Match
from eir.policy import Seen, decide
from eir.progress import LoadProgress
from eir.startup import open_store
from eir.store.api import ExportRow, HistoryRecord, Mode, StoreStats, history_dict
from eir.store.lmdb_store import LmdbStore
from eir.store.reading import imei_as, last_as
from eir.store.times import TIME_COLUMNS, time_text

if TYPE_CHECKING:  # the loader (numpy) is imported by the commands that read list files
    from eir.store.diff import DiffFile
    from eir.store.loader import LoadOptions

EXPORT_COLUMNS = ("imei", "imei_last", "imsi", "list", "source", "reason", "reference", "added")
#: the columns of ``eir export --classes``
CLASS_COLUMNS = ("imei", "class", "rule", "figures", "found")


def load(args: argparse.Namespace, config: Config) -> int:
    started = time.perf_counter()
    options = load_options(args, config)
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
    from eir.store.diff import Change
    from eir.store.guard import limit_of
    from eir.store.loader import parse_files

    list_name, source, mode = options.list, options.source, Mode(args.mode)
    limit = limit_of(args.max_remove, config.store.max_remove)
    progress = LoadProgress.of_files(args.files)  # reading, checking, then writing
    batch = parse_files(args.files, options, report, progress)
    batch.change = change_of(args, "load", config)
    own = (list_name, source)
    scope = [own, *sorted({(g.list, g.source) for g in batch.groups} - {own})]
    store, diff = _store_and_diff(args, config)
    progress.writing(sum(len(g.keys) for g in batch.groups))
    changes: dict[str, list[Change]] | None = None if args.diff is None else {}
    try:
        summary = store.apply(
            batch,
            mode,
            scope,
            dry_run=args.dry_run,
            remove_any_source=mode is Mode.REMOVE and args.source is None,
            tick=progress,
            max_remove=limit if mode is Mode.REPLACE and not args.force else None,
            changes=changes,
            max_pairs=config.pairs.max_per_imei,
        )
    except BaseException:
        if diff is not None:
            diff.discard()
        raise
    finally:
        progress.close()
        store.close()
    if diff is not None and changes is not None:
        diff.write(changes)
    summary.seconds = time.perf_counter() - started
    out = sys.stderr if args.diff == "-" else sys.stdout  # the diff has standard output
    if args.json:
        print(json.dumps(summary.json() | {"warnings": batch.warnings}), file=out)
    else:
        print(summary.line(), file=out)
    return 1 if batch.invalid else 0


def _store_and_diff(args: argparse.Namespace, config: Config) -> tuple[LmdbStore, DiffFile | None]:
    """The store, and the ``--diff`` file opened before it: an unwritable path refuses the
    load before anything is changed."""
    from eir.store.diff import DiffFile

    diff = None if args.diff is None else DiffFile(args.diff)
    try:
        return open_store(config, args.db, create=True), diff
    except BaseException:
        if diff is not None:
            diff.discard()
        raise


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
        "classes": [
            _class_dict(m, m.entry.source == result.decided_by_class) for m in result.classes
        ],
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


def _class_dict(match: Match, decided: bool) -> dict[str, object]:
    """A class of the IMEI as `eir lookup` shows it: the class, the rule that found it, its
    figures (as the rule gave them: JSON, else the text), when, and whether it decided."""
    entry = match.entry
    figures: object = entry.reference
    with contextlib.suppress(ValueError):
        figures = json.loads(entry.reference)
    return {
        "class": entry.source,
        "rule": entry.reason,
        "figures": figures,
        "found": _iso(entry.added),
        "decided": decided,
    }


def _iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def lookup(args: argparse.Namespace, config: Config) -> int:
    """One IMEI: the answer as before (pretty JSON with --json). Several, or --file: each
    answered in turn (JSON lines with --json); a bad IMEI gets its own line and exit 1."""
    if args.file is None and len(args.imeis) == 1:
        return _lookup_one(args, config, args.imeis[0])
    if args.file is None and not args.imeis:
        raise ConfigError("lookup: give one or more IMEIs, or --file")
    if args.imsi is not None:
        Imsi.parse(args.imsi)  # refused before the store is opened
    store = open_store(config, args.db, create=False)
    failed = False
    try:
        with seen_lookup(config) as seen:
            failed = _lookup_many(args, config, store, seen)
    finally:
        store.close()
    return 1 if failed else 0


def _lookup_many(
    args: argparse.Namespace, config: Config, store: LmdbStore, seen: Seen | None
) -> bool:
    """Look up every IMEI of the command line and ``--file``; True when one was refused."""
    imsi = None if args.imsi is None else Imsi.parse(args.imsi)
    failed = False
    devices = store.device_index()
    explainer = _explainer(args, config, store)
    for where, text in _lookup_inputs(args.imeis, args.file):
        try:
            imei = parse_written_imei(text)
        except IdentityError as exc:
            failed = True
            _print_refused(where, text, str(exc), as_json=args.json)
            continue
        request = CheckRequest(imei, imsi)
        result = decide(request, store.lookup, config.policy, devices, seen, explainer.clock)
        data = _result_dict(result, imei, imsi) | findings_dict(result, devices, imei.key)
        _explain(data, explainer, store, result, request)
        if args.json:
            print(json.dumps(data))
        else:
            _print_lookup(data)
    return failed


def _lookup_one(args: argparse.Namespace, config: Config, text: str) -> int:
    imei = parse_written_imei(text)
    imsi = None if args.imsi is None else Imsi.parse(args.imsi)
    store = open_store(config, args.db, create=False)
    try:
        devices = store.device_index()
        explainer = _explainer(args, config, store)
        request = CheckRequest(imei, imsi)
        with seen_lookup(config) as seen:
            result = decide(request, store.lookup, config.policy, devices, seen, explainer.clock)
        data = _result_dict(result, imei, imsi) | findings_dict(result, devices, imei.key)
        _explain(data, explainer, store, result, request)
    finally:
        store.close()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    _print_lookup(data)
    return 0


def _explainer(args: argparse.Namespace, config: Config, store: LmdbStore) -> Explainer:
    """The explanation of this lookup's entries: judged at ``--at`` (else now), with the
    store's history (read once)."""

    def history() -> list[HistoryRecord]:
        return store.stats(ALL, digest=False).history

    return Explainer(
        config, history, at_time(args.at, config), case_lookup(store), change_lookup(store)
    )


def _explain(
    data: dict[str, object],
    explainer: Explainer,
    store: LmdbStore,
    result: CheckResult,
    request: CheckRequest,
) -> None:
    """Add the explanation to a lookup's ``data``, and to its deciding entry its state,
    times, case and maker."""
    imsi = None if request.imsi is None else request.imsi.digits
    data |= explainer.explain(result, store.lookup(request.imei.key, imsi))
    match, entry = result.match, data["entry"]
    if match is not None and match.level is not Level.CLASS and isinstance(entry, dict):
        entry |= explainer.entry_fields(match)


def _lookup_inputs(imeis: list[str], file: str | None) -> Iterator[tuple[str, str]]:
    """(where, text) of each IMEI: ``eir`` for the command line's, ``FILE:LINE`` for a file's
    (blank lines and ``#`` comments skipped)."""
    for text in imeis:
        yield "eir", text
    if file is None:
        return
    if file == "-":
        lines: Iterable[str] = sys.stdin.read().removeprefix("\ufeff").splitlines()
    else:
        with open(file, encoding="utf-8-sig", errors="replace") as handle:
            lines = handle.read().splitlines()
    name = "<stdin>" if file == "-" else file
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text and not text.startswith("#"):
            yield f"{name}:{number}", text


def _print_refused(where: str, text: str, message: str, *, as_json: bool) -> None:
    """A bad IMEI among several: a JSON line in its place, or ``where: message`` on stderr."""
    sys.stdout.flush()
    if as_json:
        print(json.dumps({"imei": text, "error": message}), flush=True)
    else:
        print(f"{where}: {message}", file=sys.stderr, flush=True)


def _print_lookup(data: dict[str, object]) -> None:
    """`eir lookup` for a reader: the answer, why, the entry's reason, reference and date."""
    print(f"{data['imei']}: {data['answer']}")
    print(f"  why: {data['why']}")
    entry = data["entry"]
    if isinstance(entry, dict) and entry["level"] != Level.CLASS:  # a class: its own line
        for name in ("reason", "reference", "added"):
            if entry[name]:
                print(f"  {name}: {entry[name]}")
    for line in explanation_lines(data):
        print(line)
    anomalies = data["anomalies"]
    listed = ", ".join(anomalies) if isinstance(anomalies, list) and anomalies else "none"
    print(f"  anomalies: {listed}")
    classes = data["classes"]
    for held in classes if isinstance(classes, list) else []:
        figures = json.dumps(held["figures"], separators=(",", ":"))
        print(
            f"  class: {held['class']} (rule {held['rule']}, {figures}, found {held['found']})"
            + (", decided" if held["decided"] else "")
        )
    print_findings(data)


def _export_lines(
    rows: Iterator[ExportRow], digits: int | None = None, times: bool = False
) -> Iterator[str]:
    """The CSV of ``rows``, IMEIs written with ``digits`` (14, 15; None: as loaded); with
    ``times``, each entry's ``effective`` and ``expires`` too (a store without times exports
    as it always did)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS + TIME_COLUMNS if times else EXPORT_COLUMNS)
    for row in rows:
        e = row.entry
        imei = imei_as(row.imei, e.digit, digits)
        cells: tuple[str, ...] = (
            imei,
            "" if row.last is None else last_as(row.last, len(imei) == 15),
            row.imsi or "",
            e.list.value,
            e.source,
            e.reason,
            e.reference,
            _iso(e.added),
        )
        if times:
            cells += (time_text(e.effective), time_text(e.expires))
        writer.writerow(cells)
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _class_lines(
    rows: Iterator[ExportRow], digits: int | None = None, times: bool = False
) -> Iterator[str]:
    """The CSV of the class table's ``rows`` (``eir export --classes``): not a list file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CLASS_COLUMNS)
    for row in rows:
        e = row.entry
        writer.writerow(
            (imei_as(row.imei, None, digits), e.source, e.reason, e.reference, _iso(e.added))
        )
    yield buffer.getvalue()


def export(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config, args.db, create=False)
    lines = _class_lines if args.classes else _export_lines
    try:
        chosen = None if args.list is None else ListName(args.list)
        times = not args.classes and store.has_times()
        rows = store.export(chosen, args.source, classes=args.classes)
        if args.file == "-":
            for chunk in lines(rows, args.digits, times):
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return 0
        _write_export(args.file, lines(rows, args.digits, times))
    finally:
        store.close()
    return 0


def _write_export(path: str, chunks: Iterator[str]) -> None:
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
                for chunk in chunks:
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
        "classes": stats.per_class(),
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
        device_figures = store.device_stats()
    finally:
        store.close()
    data = _stats_dict(figures, store.path, updates) | {"devices": device_figures.json()}
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    _print_stats(figures, store.path, updates, stats_lines(device_figures))
    return 0


def _print_stats(
    stats: StoreStats, path: str, updates: dict[str, dict[str, object]], devices: list[str]
) -> None:
    """`eir stats` for a reader: the store, its list updates, its entries, its device database
    (``devices``: its lines), its recent loads (last, as they grow)."""
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
    for title, table in (
        ("per list", stats.per_list()),
        ("per table", stats.per_table()),
        ("per class", stats.per_class()),
    ):
        print(f"{title}: " + (", ".join(f"{k} {v:,}" for k, v in sorted(table.items())) or "none"))
    print("\n".join(devices))
    print("recent loads:")
    for h in stats.history:
        print(_history_line(h))
    if not stats.history:
        print("  none")


def _history_line(h: HistoryRecord) -> str:
    """A load: its mode, list/source, files and counts. A block or unblock: the IMEIs, the
    counts, who, why and the reference."""
    if h.action in ("devices", "approved"):  # eir devices load
        return (
            f"  #{h.seq} {_iso(h.time)} {h.action} ({h.source.split(' ')[0]}) "
            f"{', '.join(h.files)}: "
            f"+{h.added} ~{h.updated} -{h.removed} ={h.unchanged} duplicates {h.duplicates}"
        )
    if h.action == "load":
        return (
            f"  #{h.seq} {_iso(h.time)} {h.mode} {h.list}/{h.source} "
            f"{', '.join(h.files) or '-'}: +{h.added} ~{h.updated} -{h.removed} "
            f"={h.unchanged} invalid {h.invalid} duplicates {h.duplicates}"
        )
    return (
        f"  #{h.seq} {_iso(h.time)} {h.action} {h.list}/{h.source} {' '.join(h.imeis)}: "
        f"+{h.added} ~{h.updated} -{h.removed} ={h.unchanged}; by {h.by}, reason "
        f"{h.reason!r}, reference {h.reference!r}"
    )
