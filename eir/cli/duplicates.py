"""``eir duplicates``, ``eir duplicates detect`` and ``eir observe``.

``eir duplicates [--json|--csv]`` lists the IMEIs of the ``duplicate`` class as the list store
holds it (so every node answers it alike): IMEI, rule, figures, when detected.
``eir duplicates detect`` judges every IMEI of the observation store now (its clock, never the
wall clock) and applies the class to the list store, or publishes it (``--publish``), or only
says what it would do (``--dry-run``). ``eir observe`` is the aggregating node as a process of
its own (`eir.observations.aggregate`): it serves nothing else.

The stores, asyncio and the MQTT client are imported when a command runs.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eir.cli.overrides import mqtt_overrides
from eir.config import Config, MetricsConfig, parse_metrics_listen
from eir.errors import ConfigError, StoreError
from eir.events import iso_time
from eir.host import node_name
from eir.store.audit import local_change

if TYPE_CHECKING:
    from eir.observations.aggregate import Judged
    from eir.store.classes import ClassRow

Options = Callable[[argparse.ArgumentParser], None]


def add_parsers(
    sub: Any, store_options: Options, mqtt_options: Options, observations_option: Options
) -> None:
    """The parsers of ``duplicates`` and ``observe``."""
    p = sub.add_parser(
        "duplicates",
        help="IMEIs used by more SIMs than one handset can be; 'detect' finds them now",
        description="Without an action: the IMEIs of the duplicate class in the list store. "
        "'detect': judge every IMEI of the observation store by "
        "[[observations.duplicate_rules]] at its clock (the newest observation) and apply "
        "the class to the list store, or publish it to every node with --publish.",
    )
    p.add_argument("action", nargs="?", choices=("detect",), help="find the duplicates now")
    store_options(p)
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="one JSON object per IMEI")
    shown.add_argument("--csv", action="store_true", help="CSV with a header")
    observations_option(p)
    p.add_argument("--dry-run", action="store_true", help="detect: say, change nothing")
    p.add_argument(
        "--publish", action="store_true", help="detect: publish the class as a list update"
    )
    p.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="detect --publish: give up after"
    )
    mqtt_options(p)

    p = sub.add_parser(
        "observe",
        help="aggregate every node's observations and send the duplicate class (MQTT)",
        description="The aggregating node as a process of its own: merges every node's "
        "observation deltas (<prefix>/observations/+) into its observation store, finds "
        "duplicates and publishes the duplicate class as a list update, until SIGTERM.",
    )
    p.add_argument(
        "--config", metavar="FILE", help="TOML configuration (default: the embedded defaults)"
    )
    observations_option(p)
    mqtt_options(p)
    p.add_argument("--node", metavar="NAME", help="this process's name (mqtt.node)")
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="Prometheus endpoint (metrics.listen; '' turns it off; port 0 picks a free port)",
    )
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    p.add_argument("--log-format", choices=("text", "json"))


def duplicates(args: argparse.Namespace, config: Config) -> int:
    if args.action == "detect":
        return detect(args, config)
    if args.dry_run or args.publish:
        raise ConfigError("duplicates: --dry-run and --publish go with 'detect'")
    from eir.model import StoreClass
    from eir.startup import open_store
    from eir.store.classes import class_rows

    store = open_store(config, args.db, create=False)
    try:
        rows = class_rows(store, StoreClass.DUPLICATE)
    finally:
        store.close()
    show(rows, as_json=args.json, as_csv=args.csv)
    return 0


def row_dict(row: ClassRow) -> dict[str, Any]:
    try:
        figures = json.loads(row.figures)
    except ValueError:
        figures = row.figures
    return {"imei": row.imei, "rule": row.rule, "figures": figures, "detected": iso_time(row.added)}


def figures_text(row: ClassRow) -> str:
    data = row_dict(row)["figures"]
    if not isinstance(data, dict):
        return str(data)
    return " ".join(f"{k}={v}" for k, v in data.items())


def show(rows: list[ClassRow], *, as_json: bool, as_csv: bool) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(row_dict(row)))
        return
    if as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["imei", "rule", "detected", "figures"])
        for row in rows:
            out.writerow([row.imei, row.rule, iso_time(row.added), row.figures])
        return
    if not rows:
        print("no duplicate IMEIs")
        return
    width = max(4, *(len(row.rule) for row in rows))
    print(f"{'IMEI':<14}  {'RULE':<{width}}  {'DETECTED':<24}  FIGURES")
    for row in rows:
        detected = iso_time(row.added)
        print(f"{row.imei:<14}  {row.rule:<{width}}  {detected:<24}  {figures_text(row)}")
    print(f"{imeis(len(rows))} duplicate")


def detect(args: argparse.Namespace, config: Config) -> int:
    """A full pass over the observation store; the class applied, published or only told."""
    from eir.observations.aggregate import Detector, known_findings
    from eir.observations.store import observations_path, open_observations
    from eir.startup import open_store
    from eir.store.lmdb_store import has_store

    if args.json or args.csv:
        raise ConfigError("duplicates detect: --json and --csv go with the listing")
    if args.publish:
        config = mqtt_overrides(args, config)
        if config.mqtt.broker is None:
            raise ConfigError("no broker: give --broker mqtt://HOST:PORT or set mqtt.broker")
    path = args.observations or observations_path(config)
    if not Path(path, "data.mdb").is_file():
        raise StoreError(f"{path}: no observation store here")
    lists = None
    if not args.publish or has_store(args.db or config.store.path):
        lists = open_store(config, args.db, create=False)
    try:
        observations = open_observations(config, path)
        try:
            detector = Detector(
                observations, config.observations.duplicate_rules, known_findings(lists)
            )
            judged = detector.full_pass()
            clock = observations.clock()
        finally:
            observations.close()
        print(summary(judged, len(detector.current), clock))
        if args.dry_run:
            print("dry run: nothing applied")
        elif not judged.changed:
            print("the duplicate class is unchanged: nothing to apply")
        else:
            print(send(config, lists, detector.rows(), args))
    finally:
        if lists is not None:
            lists.close()
    return 0


def imeis(count: int) -> str:
    return f"{count} IMEI" if count == 1 else f"{count} IMEIs"


def summary(judged: Judged, count: int, clock: int) -> str:
    at = iso_time(clock) if clock else "no observation"
    return (
        f"duplicates: {imeis(count)} ({len(judged.found)} found, {len(judged.cleared)} cleared) "
        f"at {at}"
    )


def send(config: Config, lists: Any, rows: list[ClassRow], args: argparse.Namespace) -> str:
    """The class applied to ``lists``, or published with ``--publish``; what was done."""
    import asyncio

    from eir.observations.aggregate import DUPLICATES_FOUND, ClassSender

    change = local_change("class", "", DUPLICATES_FOUND, "", config_node=node_name(config.mqtt))
    sender = ClassSender(config, lists, publish=args.publish, timeout=args.timeout, change=change)
    return asyncio.run(sender.send(rows))


def observe(args: argparse.Namespace, config: Config) -> int:
    """``eir observe`` until SIGTERM or SIGINT."""
    from eir.observations.node import run_observer

    config = mqtt_overrides(args, config)
    if args.metrics_listen is not None:
        try:
            listen = parse_metrics_listen(args.metrics_listen)
        except ValueError as exc:
            raise ConfigError(f"--metrics-listen: {exc}") from None
        config = dataclasses.replace(config, metrics=MetricsConfig(listen=listen))
    if config.mqtt.broker is None:
        raise ConfigError("observe: no broker: give --broker mqtt://HOST:PORT or set mqtt.broker")
    return run_observer(config, args.observations)
