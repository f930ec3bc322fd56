"""The ``eir`` command: ``serve | load | publish | lookup | export | stats | check-config``.

Exit codes: 0 ok, 1 bad data (invalid rows, unknown store, unreadable file), 2 bad usage.
Errors go to stderr as ``eir: message`` or ``file:line: message``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gc
import gzip
import io
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from eir import __version__
from eir.config import (
    NODE_RE,
    PREFIX_RE,
    Config,
    Endpoint,
    MetricsConfig,
    load_config,
    parse_broker,
    parse_endpoint,
    parse_metrics_listen,
    to_toml,
)
from eir.errors import ConfigError, EirError, IdentityError, LoadError
from eir.identity import Imei, Imsi
from eir.model import CheckRequest, CheckResult, ListName
from eir.policy import decide
from eir.progress import ProgressLine
from eir.store.api import ExportRow, Mode, StoreStats, history_dict
from eir.store.lmdb_store import LmdbStore

if TYPE_CHECKING:  # the loader (numpy) is imported by the commands that read list files
    from eir.store.loader import LoadOptions

EXPORT_COLUMNS = ("imei", "imei_last", "imsi", "list", "source", "reason", "reference", "added")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="TOML configuration (default: the embedded defaults)"
    )
    parser.add_argument(
        "--db", metavar="PATH", help="LMDB list store directory (default: store.path, var/eir.lmdb)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eir", description="Equipment Identity Register: daemon and list tools.")
    parser.add_argument("--version", action="version", version=f"eir {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_serve(sub)
    _add_publish(sub)
    _add_store_commands(sub)
    p = sub.add_parser("check-config", help="validate a configuration and print it in full")
    p.add_argument("file", nargs="?", metavar="FILE", help="default: the embedded defaults")
    return parser


def _add_serve(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser("serve", help="run the EIR until SIGTERM or SIGINT")
    _common(p)
    p.add_argument(
        "--diameter-listen",
        action="append",
        metavar="[tcp://|sctp://]HOST:PORT",
        help="accept Diameter S13 here (repeatable; replaces diameter.listen; "
        "port 0 picks a free port)",
    )
    p.add_argument(
        "--m3ua-listen",
        action="append",
        metavar="[tcp://|sctp://]HOST:PORT",
        help="accept M3UA (MAP CheckIMEI) here (repeatable; replaces m3ua.listen; "
        "port 0 picks a free port)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes sharing the ports and the store (service.workers)",
    )
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="Prometheus endpoint (metrics.listen; '' turns it off; port 0 picks a free port)",
    )
    _mqtt_options(p)
    p.add_argument(
        "--node",
        metavar="NAME",
        help="this node's name in events and its MQTT client id (mqtt.node)",
    )


def _add_publish(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "publish",
        help="publish list files as a versioned update to every EIR node (MQTT)",
        description="Validate list files exactly as `eir load` does and publish them as the "
        "next list update under <prefix>/lists/. Every `eir serve` connected to "
        "the broker applies it to its own store, in order, once. Nothing is "
        "published when a file is invalid. Credentials come from "
        "mqtt.username_file/password_file or EIR_MQTT_USERNAME/EIR_MQTT_PASSWORD.",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="TOML configuration with the [mqtt] section (default: embedded)",
    )
    _list_files(p)
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="publish the good rows and report the bad ones (exit 1)",
    )
    _mqtt_options(p)
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="give up when the broker cannot be reached or confirm within S seconds (default 60)",
    )
    p.add_argument(
        "--wait",
        type=int,
        default=0,
        metavar="N",
        help="wait until N nodes report the update applied",
    )


def _add_store_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    """load, lookup, export and stats: the commands that work on the store."""
    p = sub.add_parser("load", help="load list files into the store, all or nothing")
    _common(p)
    _list_files(p)
    p.add_argument("--dry-run", action="store_true", help="validate and count, change nothing")
    p.add_argument(
        "--skip-invalid", action="store_true", help="load the good rows and report the bad ones"
    )

    p = sub.add_parser("lookup", help="what the EIR answers for an IMEI, and why")
    _common(p)
    p.add_argument("imei", help="14, 15 or 16 digits")
    p.add_argument("--imsi", help="the subscriber, for IMEI+IMSI pair entries")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("export", help="write entries as CSV that `eir load` reads back")
    _common(p)
    p.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE",
        help="output file (.gz compresses; default: standard output)",
    )
    p.add_argument("--list", choices=[n.value for n in ListName], help="only this list")
    p.add_argument("--source", help="only this source")

    p = sub.add_parser("stats", help="entries per list and source, size, digest, load history")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--history",
        type=int,
        default=10,
        metavar="N",
        help="how many recent loads to show (default 10)",
    )


def _list_files(p: argparse.ArgumentParser) -> None:
    """What `eir load` and `eir publish` both read: the files, their list, source and mode."""
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="CSV with a header, or one IMEI per line; .gz or - (stdin) too",
    )
    p.add_argument(
        "--list",
        required=True,
        choices=[n.value for n in ListName],
        help="list for rows without a list column",
    )
    p.add_argument(
        "--source", default=None, help="who supplied the list, e.g. police-hcm (default: manual)"
    )
    p.add_argument(
        "--mode",
        default="add",
        choices=[m.value for m in Mode],
        help="add or update (default); replace this list+source; remove entries",
    )


def _mqtt_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--broker",
        metavar="mqtt[s]://HOST:PORT",
        help="MQTT broker (mqtt.broker; '' turns MQTT off)",
    )
    p.add_argument(
        "--prefix", metavar="TOPIC", help="topic prefix of this network (mqtt.prefix, default eir)"
    )


def _mqtt_overrides(args: argparse.Namespace, config: Config) -> Config:
    mqtt = config.mqtt
    try:
        if args.broker is not None:
            mqtt = dataclasses.replace(
                mqtt, broker=parse_broker(args.broker) if args.broker else None
            )
    except ValueError as exc:
        raise ConfigError(f"--broker: {exc}") from None
    if args.prefix is not None:
        if not PREFIX_RE.fullmatch(args.prefix):
            raise ConfigError(f"--prefix: {args.prefix!r} is not a topic prefix")
        mqtt = dataclasses.replace(mqtt, prefix=args.prefix)
    if getattr(args, "node", None) is not None:
        if not NODE_RE.fullmatch(args.node):
            raise ConfigError(f"--node: {args.node!r} is not 1 to 64 of letters, digits, ._-")
        mqtt = dataclasses.replace(mqtt, node=args.node)
    return dataclasses.replace(config, mqtt=mqtt)


def _open_store(config: Config, db: str | None, *, create: bool) -> LmdbStore:
    s = config.store
    return LmdbStore(
        db or s.path,
        map_size_mb=s.map_size_mb,
        max_map_size_mb=s.max_map_size_mb,
        sync=s.sync,
        create=create,
        read_snapshot_ms=s.read_snapshot_ms,
    )


def _endpoints(values: list[str], default_port: int, option: str) -> tuple[Endpoint, ...]:
    try:
        return tuple(parse_endpoint(text, default_port) for text in values)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _serve_overrides(args: argparse.Namespace, config: Config) -> Config:
    diameter = config.diameter
    if args.diameter_listen:
        diameter = dataclasses.replace(
            diameter, listen=_endpoints(args.diameter_listen, 3868, "--diameter-listen")
        )
    m3ua = config.m3ua
    if args.m3ua_listen:
        m3ua = dataclasses.replace(m3ua, listen=_endpoints(args.m3ua_listen, 2905, "--m3ua-listen"))
    service = config.service
    if args.workers is not None:
        if not 1 <= args.workers <= 256:
            raise ConfigError("--workers: must be 1 to 256")
        service = dataclasses.replace(service, workers=args.workers)
    metrics = config.metrics
    if args.metrics_listen is not None:
        try:
            metrics = MetricsConfig(listen=parse_metrics_listen(args.metrics_listen))
        except ValueError as exc:
            raise ConfigError(f"--metrics-listen: {exc}") from None
    config = _mqtt_overrides(args, config)
    return dataclasses.replace(
        config, diameter=diameter, service=service, m3ua=m3ua, metrics=metrics
    )


def _cmd_publish(args: argparse.Namespace, config: Config) -> int:
    import asyncio

    from eir.publish.publisher import publish_update
    from eir.store.fields import check_source
    from eir.store.loader import LoadOptions, parse_files

    config = _mqtt_overrides(args, config)
    broker = config.mqtt.broker
    if broker is None:
        raise ConfigError("no broker: give --broker mqtt://HOST:PORT or set mqtt.broker")
    if args.wait < 0 or args.timeout <= 0:
        raise ConfigError("--wait must be 0 or more and --timeout more than 0")
    list_name, source, mode = ListName(args.list), args.source or "manual", Mode(args.mode)
    try:
        check_source(source)
    except IdentityError as exc:
        raise ConfigError(f"--source: {exc}") from None
    options = LoadOptions(list=list_name, source=source, skip_invalid=args.skip_invalid)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    gc.disable()
    try:
        batch = parse_files(args.files, options, say)
    finally:
        gc.enable()
    own = (list_name, source)
    scope = [own, *sorted({(g.list, g.source) for g in batch.groups} - {own})]
    entries = sum(len(g.keys) for g in batch.groups)
    published = asyncio.run(
        publish_update(
            config.mqtt,
            broker,
            batch,
            mode=mode,
            list_name=list_name,
            source=source,
            scope=scope,
            remove_any_source=mode is Mode.REMOVE and args.source is None,
            timeout=args.timeout,
            wait_nodes=args.wait,
            say=say,
        )
    )
    head = published.head
    print(
        f"published update #{head.seq} ({mode.value} {list_name.value}/{source}, "
        f"{entries} entries, {published.bytes:,} bytes in {head.parts} parts) to {broker} "
        f"under {config.mqtt.prefix}/lists/ in {published.seconds:.2f} s"
    )
    if args.wait:
        print(f"applied on {len(published.applied_on)} nodes: {', '.join(published.applied_on)}")
    return 1 if batch.invalid else 0


def _cmd_load(args: argparse.Namespace, config: Config) -> int:
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
    batch = parse_files(args.files, options, report)
    own = (list_name, source)
    scope = [own, *sorted({(g.list, g.source) for g in batch.groups} - {own})]
    store = _open_store(config, args.db, create=True)
    progress = ProgressLine("writing", sum(len(g.keys) for g in batch.groups))
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


def _cmd_lookup(args: argparse.Namespace, config: Config) -> int:
    imei = Imei.parse(args.imei)
    imsi = None if args.imsi is None else Imsi.parse(args.imsi)
    store = _open_store(config, args.db, create=False)
    try:
        result = decide(CheckRequest(imei, imsi), store.lookup, config.policy)
    finally:
        store.close()
    data = _result_dict(result, imei, imsi)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
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
    return 0


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


def _cmd_export(args: argparse.Namespace, config: Config) -> int:
    store = _open_store(config, args.db, create=False)
    try:
        rows = store.export(None if args.list is None else ListName(args.list), args.source)
        if args.file == "-":
            for chunk in _export_lines(rows):
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return 0
        folder = os.path.dirname(os.path.abspath(args.file))
        handle, temporary = tempfile.mkstemp(prefix=".eir-export-", dir=folder)
        try:
            with os.fdopen(handle, "wb") as raw:
                target: TextIO
                if args.file.endswith(".gz"):
                    target = io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="wb"))
                else:
                    target = io.TextIOWrapper(raw)
                with target:
                    for chunk in _export_lines(rows):
                        target.write(chunk)
            os.replace(temporary, args.file)
        except BaseException:
            os.unlink(temporary)
            raise
    finally:
        store.close()
    return 0


def _updates(store: LmdbStore) -> dict[str, dict[str, object]]:
    """The last list update applied from each MQTT prefix."""
    from eir.publish.lists import parse_version

    out: dict[str, dict[str, object]] = {}
    for key, raw in store.meta_items(b"update\x00"):
        version = parse_version(raw)
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


def _cmd_stats(args: argparse.Namespace, config: Config) -> int:
    store = _open_store(config, args.db, create=False)
    try:
        stats = store.stats(history_size=max(0, args.history))
        updates = _updates(store)
    finally:
        store.close()
    data = _stats_dict(stats, store.path, updates)
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    print(f"store: {store.path}")
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
    return 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    sys.stdout.write(f"# {config.origin}: valid\n" + to_toml(config))
    return 0


def _cmd_serve(args: argparse.Namespace, config: Config) -> int:
    serving = _serve_overrides(args, config)
    if serving.service.workers > 1:
        from eir.supervisor import supervise  # imports no protocol stack: see its docstring

        return supervise(serving, args.db)
    from eir.service import run

    return run(serving, args.db)


_COMMANDS: dict[str, Callable[[argparse.Namespace, Config], int]] = {
    "load": _cmd_load,
    "lookup": _cmd_lookup,
    "export": _cmd_export,
    "stats": _cmd_stats,
    "publish": _cmd_publish,
    "serve": _cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    # A file size limit (ulimit -f) must be an error we report, not a signal that kills us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check-config":
            return _cmd_check_config(args)
        config = load_config(args.config)
        logging.basicConfig(
            level=config.log.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        return _COMMANDS[args.command](args, config)
    except LoadError as exc:
        print(exc, file=sys.stderr)  # already "file:line: message" or "file: message"
        return exc.exit_code
    except EirError as exc:
        print(f"eir: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `eir export | head`: the reader left; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"eir: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
