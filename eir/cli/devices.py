"""``eir devices load | lookup | stats | export | sample``: the device database (what the
handset behind a TAC is) and the national approved-models list, in the list store.

``load FILE`` replaces the whole device table with a GSMA TAC database file (17- or 20-column
layout) or a lab CSV, ``load --approved FILE`` the approved-models list: one transaction, all
or nothing (every bad row told as ``file:line: message``), recorded in the load history.
``lookup`` shows a TAC's device (:func:`device_lines` is the hook that says more of it),
``stats`` counts by device type and radio technology, ``export`` writes a table back as CSV,
``sample`` writes a generated sample file (never real GSMA data).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from eir.cli.audit import add_change_options, change_of
from eir.cli.findings import classes_of
from eir.config import Config
from eir.devices.approved import parse_approved
from eir.devices.formats import LAB_COLUMNS, parse_devices
from eir.devices.packing import pack_approved, pack_device, unpack_approved, unpack_device
from eir.devices.record import Device, DeviceIndex, radios
from eir.devices.sample import LAYOUTS, sample_text
from eir.errors import ConfigError, LoadError
from eir.model import ListName
from eir.startup import open_store
from eir.store.api import LoadSummary, Mode
from eir.store.devices import ACTION, APPROVED, DEVICE, DeviceStats
from eir.store.lmdb_store import LmdbStore, MissingStoreError, has_store

Options = Callable[[argparse.ArgumentParser], None]


def add_parsers(sub: Any, store_options: Options) -> None:
    """The parser of ``eir devices`` and its actions."""
    p = sub.add_parser(
        "devices",
        help="the device database (GSMA TAC database, lab CSV) and the approved-models list",
    )
    actions = p.add_subparsers(
        dest="devices_command", required=True, metavar="{load,lookup,stats,export,sample}"
    )
    q = actions.add_parser(
        "load",
        help="replace the device database (or with --approved the approved-models list) "
        "with a file, all or nothing",
    )
    store_options(q)
    q.add_argument("file", metavar="FILE", help="GSMA TAC file, lab CSV; .gz, .zip or - too")
    q.add_argument(
        "--approved", action="store_true", help="FILE is the approved-models list (TACs or models)"
    )
    q.add_argument("--dry-run", action="store_true", help="check and count, change nothing")
    q.add_argument("--encoding", metavar="NAME", help="the file's encoding (default UTF-8)")
    q.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_change_options(q)
    q = actions.add_parser("lookup", help="the device of a TAC (or IMEI), and whether approved")
    store_options(q)
    q.add_argument("tac", metavar="TAC|IMEI", help="8 digits, or an IMEI (14 to 16)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q = actions.add_parser("stats", help="TACs by device type and radio, approved, digest")
    store_options(q)
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q = actions.add_parser("export", help="write the device table (or --approved) as CSV")
    store_options(q)
    q.add_argument("file", nargs="?", default="-", metavar="FILE", help="default: stdout")
    q.add_argument("--approved", action="store_true", help="the approved-models list instead")
    q.add_argument("--format", choices=("csv",), default="csv", help="csv (a lab CSV)")
    q = actions.add_parser("sample", help="write a generated sample file (not GSMA data)")
    q.add_argument("--config", metavar="FILE", help="TOML configuration (not used)")
    q.add_argument("--layout", choices=LAYOUTS, required=True, help="the file's layout")
    q.add_argument("--count", type=int, default=30, metavar="N", help="rows (default 30)")
    q.add_argument("--seed", type=int, default=16, metavar="S", help="random seed (default 16)")


def devices(args: argparse.Namespace, config: Config) -> int:
    """Run ``eir devices ACTION``."""
    action: Callable[[argparse.Namespace, Config], int] = {
        "load": load,
        "lookup": lookup,
        "stats": stats,
        "export": export,
        "sample": sample,
    }[args.devices_command]
    return action(args, config)


# -- load ---------------------------------------------------------------------------------------


class Parsed:
    """A device or approved file read and checked: the table it replaces and its items."""

    def __init__(
        self,
        table: str,
        kind: str,
        name: str,
        items: list[tuple[bytes, bytes]],
        rows: int,
        duplicates: int,
    ) -> None:
        self.table, self.kind, self.name = table, kind, name
        self.items, self.rows, self.duplicates = items, rows, duplicates

    @property
    def source(self) -> str:
        """The file as the store's ``meta`` names it: kind and base name."""
        return f"{self.kind} {os.path.basename(self.name)}"


def read_file(
    path: str,
    approved: bool,
    encoding: str | None = None,
    *,
    outcome: str = "nothing was changed",
) -> Parsed:
    """A device file (or an approved-models file) read and checked; every bad row is told on
    stderr and the whole refused (LoadError, ending with ``outcome``)."""
    from eir.store.dialect import as_utf8, encoding_named, mac_line_ends
    from eir.store.formats import read_input

    data, name = read_input(path)
    if encoding is not None:
        try:
            encoding = encoding_named(encoding)
        except ValueError as exc:
            raise ConfigError(f"--encoding: {exc}") from None
    text = mac_line_ends(as_utf8(data, name, encoding))
    if approved:
        listed = parse_approved(text, name)
        items = [pack_approved(e) for e in listed.entries]
        parsed = Parsed(APPROVED, "approved", name, items, listed.rows, listed.duplicates)
        errors = listed.errors
    else:
        found = parse_devices(text, name)
        items = [pack_device(d) for d in found.devices]
        parsed = Parsed(DEVICE, found.kind, name, items, found.rows, found.duplicates)
        errors = found.errors
    if not errors and not parsed.items:
        raise LoadError(
            f"eir: {name} is empty (a device database or approved list never is): {outcome}"
        )
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        rows = "1 bad row" if len(errors) == 1 else f"{len(errors)} bad rows"
        raise LoadError(f"eir: {rows} in {name}: {outcome}")
    return parsed


def summary_line(parsed: Parsed, summary: LoadSummary) -> str:
    """``devices gsma17 from FILE: added ...; N rows in S s (R rows/s)``."""
    prefix = "dry run, nothing changed: " if summary.dry_run else ""
    what = "approved" if parsed.table == APPROVED else f"devices {parsed.kind}"
    return (
        f"{prefix}{what} from {parsed.name}: added {summary.added}, updated {summary.updated}, "
        f"removed {summary.removed}, unchanged {summary.unchanged}, duplicates "
        f"{summary.duplicates}; {summary.rows} rows in {summary.seconds:.2f} s "
        f"({summary.rate:,.0f} rows/s)"
    )


def load(args: argparse.Namespace, config: Config) -> int:
    started = time.perf_counter()
    parsed = read_file(args.file, args.approved, args.encoding)
    store = open_store(config, args.db, create=True)
    try:
        summary = store.replace_devices(
            parsed.table,
            parsed.items,
            source=parsed.source,
            files=[parsed.name],
            rows=parsed.rows,
            duplicates=parsed.duplicates,
            dry_run=args.dry_run,
            change=change_of(args, "devices", config),
        )
    finally:
        store.close()
    summary.seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps(summary.json() | {"table": parsed.table, "kind": parsed.kind}))
    else:
        print(summary_line(parsed, summary))
    warning = allocation_warning(parsed, config)
    if warning:
        print(warning, file=sys.stderr)
    return 0


def allocation_warning(parsed: Parsed, config: Config) -> str:
    """The warning of a 20-column GSMA file when a device rule matches on the allocation date
    (the layout has none: the rule then matches none of its devices); "" otherwise."""
    names = [r.name for r in config.policy.device_rules if r.allocated_before]
    if parsed.kind != "gsma20" or not names:
        return ""
    return (
        f"eir: warning: {parsed.name}: the 20-column layout has no allocation date: "
        f"[[policy.device_rules]] with allocated_before ({', '.join(names)}) match none of its "
        "devices"
    )


# -- publish ------------------------------------------------------------------------------------


def add_publish_options(p: argparse.ArgumentParser) -> None:
    """``eir publish --devices FILE`` and ``--approved FILE``."""
    p.add_argument(
        "--devices",
        metavar="FILE",
        help="publish this device database file (GSMA TAC file or lab CSV) instead of lists",
    )
    p.add_argument(
        "--approved",
        metavar="FILE",
        help="publish this approved-models list instead of lists",
    )


def publish_devices(args: argparse.Namespace, config: Config) -> bool:
    """``eir publish --devices FILE`` or ``--approved FILE``: the file read and checked as
    ``eir devices load`` reads it, published as the next list update; False when neither is
    given (a list publish: its files and ``--list`` are then required)."""
    given = [(p, a) for p, a in ((args.devices, False), (args.approved, True)) if p is not None]
    if not given:
        if not args.files or args.list is None:
            raise ConfigError("give list files and --list, or --devices FILE or --approved FILE")
        return False
    if len(given) > 1 or args.files:
        raise ConfigError("publish one thing at a time: list files, --devices or --approved")
    import asyncio

    from eir.cli.publish import NO_BROKER, announce, audit_of
    from eir.publish.publisher import publish_update
    from eir.publish.update import DeviceUpdate
    from eir.store.batch import Batch

    parsed = read_file(given[0][0], given[0][1], args.encoding, outcome="nothing was published")
    broker = config.mqtt.broker
    if broker is None:
        raise ConfigError(NO_BROKER)
    batch = Batch(files=[parsed.name], rows=parsed.rows, duplicates=parsed.duplicates)
    published = asyncio.run(
        publish_update(
            config.mqtt,
            broker,
            batch,
            mode=Mode.REPLACE,
            list_name=ListName.WHITE,
            source=parsed.table,
            scope=[],
            remove_any_source=False,
            timeout=args.timeout,
            wait_nodes=args.wait,
            say=lambda message: print(message, file=sys.stderr, flush=True),
            devices=(DeviceUpdate(parsed.table, parsed.items), parsed.kind),
            audit=audit_of(args, config, ACTION[parsed.table]),
        )
    )
    what = "approved" if parsed.table == APPROVED else f"devices {parsed.kind}"
    announce(args, config, published, f"{what}, {len(parsed.items)} entries")
    return True


# -- lookup -------------------------------------------------------------------------------------


def tac_of(text: str) -> str:
    """The TAC of what the command line says: 8 digits, or an IMEI's first 8."""
    digits = "".join(c for c in text if c not in " -./")
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (8, 14, 15, 16):
        raise ConfigError(f"{text!r} is not a TAC (8 digits) or an IMEI (14 to 16 digits)")
    return digits[:8]


def approved_text(index: DeviceIndex, tac: str) -> str:
    """Whether the TAC's device is approved: yes, no, or no list loaded."""
    if not index.has_approved:
        return "no approved-models list loaded"
    return "yes" if index.approved(tac) else "no"


def device_dict(index: DeviceIndex, tac: str) -> dict[str, object]:
    """``eir devices lookup --json``: the TAC, its device (every field) or null, its radio
    technologies, whether approved. The hook the validity classes extend."""
    device = index.device(tac)
    return {
        "tac": tac,
        "device": None if device is None else device._asdict(),
        "radios": [] if device is None else sorted(radios(device)),
        "approved": None if not index.has_approved else index.approved(tac),
        "database": index.size,
    }


def device_lines(index: DeviceIndex, tac: str) -> list[str]:
    """``eir devices lookup``'s lines for a TAC: its device, every field, its radio
    technologies, whether approved. The hook the validity classes extend."""
    device = index.device(tac)
    if device is None:
        return [
            f"TAC {tac}: not in the device database ({index.size:,} TACs loaded)",
            f"  approved: {approved_text(index, tac)}",
        ]
    lines = [f"TAC {tac}: {device.brand} {device.model}".rstrip()]
    lines += [f"  {name}: {value}" for name, value in device._asdict().items() if name != "tac"]
    lines.append(f"  radios: {', '.join(sorted(radios(device))) or 'none'}")
    lines.append(f"  approved: {approved_text(index, tac)}")
    return lines


def _existing_store(config: Config, db: str | None) -> LmdbStore:
    """The store ``eir devices lookup``, ``stats`` and ``export`` read: none is created."""
    path = db or config.store.path
    if not has_store(path):
        raise MissingStoreError(path, "create one with `eir devices load`")
    return open_store(config, db, create=False)


def lookup(args: argparse.Namespace, config: Config) -> int:
    tac = tac_of(args.tac)
    store = _existing_store(config, args.db)
    try:
        index = store.device_index()
    finally:
        store.close()
    classes = classes_of(args.tac, index, config.policy)
    if args.json:
        print(json.dumps(device_dict(index, tac) | classes, sort_keys=True))
    else:
        print("\n".join(device_lines(index, tac)))
        print(f"  classes: {', '.join(classes['classes']) or 'none'}")
        print(f"  rules: {', '.join(classes['rules']) or 'none'}")
    return 0


# -- stats --------------------------------------------------------------------------------------


def tallies(items: Iterable[tuple[bytes, bytes]]) -> tuple[Counter[str], Counter[str]]:
    """TACs by device type and by radio technology (a device counts once for each)."""
    types: Counter[str] = Counter()
    technologies: Counter[str] = Counter()
    for key, value in items:
        device = unpack_device(key, value)
        types[device.device_type or "(none)"] += 1
        technologies.update(radios(device) or {"(none)"})
    return types, technologies


def stats_lines(figures: DeviceStats) -> list[str]:
    """The device database's lines of ``eir stats``."""
    return [
        f"devices: {figures.devices:,} TACs ({figures.device_source or 'none loaded'}), "
        f"approved {figures.approved:,} ({figures.approved_source or 'none loaded'})",
        f"devices digest: {figures.digest or '-'}",
    ]


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items())) or "none"


def stats(args: argparse.Namespace, config: Config) -> int:
    store = _existing_store(config, args.db)
    try:
        figures = store.device_stats()
        types, technologies = tallies(store.device_items(DEVICE))
    finally:
        store.close()
    if args.json:
        data = figures.json() | {
            "device_types": dict(types),
            "radios": dict(technologies),
        }
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    print("\n".join(stats_lines(figures)))
    print(f"by device type: {_counts(types)}")
    print(f"by radio: {_counts(technologies)}")
    return 0


# -- export and sample --------------------------------------------------------------------------


def export_text(items: list[tuple[bytes, bytes]], approved: bool) -> str:
    """A table as CSV that ``eir devices load`` reads back (a lab CSV, or TACs and models)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if approved:
        writer.writerow(("tac", "brand", "model"))
        for key, value in items:
            entry = unpack_approved(key, value)
            writer.writerow((entry.tac, entry.brand, entry.model))
    else:
        writer.writerow(LAB_COLUMNS)
        for key, value in items:
            device: Device = unpack_device(key, value)
            writer.writerow(device[: len(LAB_COLUMNS)])
    return out.getvalue()


def export(args: argparse.Namespace, config: Config) -> int:
    store = _existing_store(config, args.db)
    try:
        items = store.device_items(APPROVED if args.approved else DEVICE)
    finally:
        store.close()
    text = export_text(items, args.approved)
    if args.file == "-":
        sys.stdout.write(text)
    else:
        with open(args.file, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return 0


def sample(args: argparse.Namespace, config: Config) -> int:
    if args.count < 1:
        raise ConfigError("--count must be 1 or more")
    sys.stdout.write(sample_text(args.layout, args.count, args.seed))
    return 0
