"""The ``eir`` command line: one parser, its options declared per command group.

Usage errors exit 2 with ``eir: message`` after the usage line (what argparse does, kept
explicit in `EirParser`). The commands themselves are in `eir.cli.serve`, `eir.cli.publish`,
`eir.cli.lists` and `eir.cli.handsets`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeVar

from eir import __version__
from eir.cli import cases, devices, duplicates, list_options, purge, versions
from eir.cli.audit import add_change_options
from eir.cli.audit import add_parser as add_audit
from eir.config.keys import LOG_FORMATS, LOG_LEVELS, strptime_format
from eir.model import ListName
from eir.store.api import Mode
from eir.store.dates import zone_named
from eir.store.dialect import delimiter_named, encoding_named
from eir.store.formats import CheckDigit, column_mapping

T = TypeVar("T")


class EirParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors print ``prog: message`` and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = EirParser(
        prog="eir", description="Equipment Identity Register: daemon and list tools."
    )
    parser.add_argument("--version", action="version", version=f"eir {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=EirParser)
    _add_serve(sub)
    _add_publish(sub)
    _add_list_commands(sub)
    _add_pairs(sub)
    _add_observation_commands(sub)
    _add_check_config(sub)
    duplicates.add_parsers(sub, _store_options, _mqtt_options, _observations_option)
    devices.add_parsers(sub, _store_options)
    cases.add_parsers(
        sub, _store_options, _check_digit_option, lambda q: publish_options(q, "the case action")
    )
    versions.add_parsers(sub, _store_options)
    purge.add_parser(sub, _store_options)
    add_audit(sub, _store_options)
    publish_options(sub.choices["rollback"], "the rollback")
    return parser


def _add_pairs(sub: argparse._SubParsersAction[EirParser]) -> None:
    """``eir pairs grandfather`` (`eir.cli.pairs`)."""
    p = sub.add_parser("pairs", help="IMEI+IMSI white pairs made from what was observed")
    actions = p.add_subparsers(dest="pairs_command", required=True, parser_class=EirParser)
    g = actions.add_parser(
        "grandfather",
        help="make every pair observed before a date a white pair (source grandfathered)",
        description="Every IMEI-IMSI pair the observation store saw first (on any node) "
        "before DATE becomes a white pair of source `grandfathered`, so that a black IMEI "
        "keeps answering white for the subscribers who used it before; pairs.max_per_imei "
        "is respected (the pairs seen on the most days kept). One atomic add, or with "
        "--publish one list update to every node.",
    )
    _store_options(g)
    g.add_argument(
        "--seen-before",
        required=True,
        metavar="DATE",
        help="the cut-off: a date (2026-01-31, midnight UTC) or an ISO time (UTC by default)",
    )
    g.add_argument(
        "--imei-file", metavar="FILE", help="only these IMEIs (one a line, as `eir load` reads)"
    )
    _observations_option(g)
    g.add_argument("--dry-run", action="store_true", help="count, change and publish nothing")
    g.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_change_options(g)
    g.add_argument(
        "--publish",
        action="store_true",
        help="publish the pairs as a list update to every node instead of loading them here",
    )
    _mqtt_options(g)
    g.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="with --publish: give up after S seconds (default 60)",
    )
    g.add_argument(
        "--wait",
        type=int,
        default=0,
        metavar="N",
        help="with --publish: wait until N nodes report the update applied",
    )


def _observation_options(parser: argparse.ArgumentParser) -> None:
    """Where the configuration and the observation store are (``--db``: the list store, beside
    which the observation store is unless observations.path or ``--observations`` say)."""
    _store_options(parser)
    _observations_option(parser)


def _observations_option(parser: argparse.ArgumentParser) -> None:
    """``--observations PATH``: every command that reads or writes the observation store."""
    parser.add_argument(
        "--observations",
        metavar="PATH",
        help="observation store directory (default: observations.path, else observations.lmdb "
        "beside the list store)",
    )


def _add_observation_commands(sub: argparse._SubParsersAction[EirParser]) -> None:
    """history and observations: who used which handset (the observation store)."""
    p = sub.add_parser("history", help="the IMSIs an IMEI was seen with, or the IMEIs of an IMSI")
    _observation_options(p)
    p.add_argument("imei", nargs="?", metavar="IMEI", help="14, 15 or 16 digits")
    p.add_argument("--imsi", help="the handsets this IMSI was used in, instead")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = sub.add_parser("observations", help="import observations, or say what the store holds")
    actions = p.add_subparsers(dest="action", required=True, parser_class=EirParser)
    q = actions.add_parser(
        "import", help="merge a file of observation deltas (JSON lines), all or nothing"
    )
    _observation_options(q)
    q.add_argument("file", metavar="FILE", help="one delta a line ('-': standard input)")
    q.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    q = actions.add_parser("stats", help="pairs, records, clock and size of the store")
    _observation_options(q)
    q.add_argument("--json", action="store_true", help="print one JSON object")


def _store_options(parser: argparse.ArgumentParser) -> None:
    """Where the configuration and the store are: the options of every command but publish."""
    parser.add_argument(
        "--config", metavar="FILE", help="TOML configuration (default: the embedded defaults)"
    )
    parser.add_argument(
        "--db", metavar="PATH", help="LMDB list store directory (default: store.path, var/eir.lmdb)"
    )


def _add_serve(sub: argparse._SubParsersAction[EirParser]) -> None:
    p = sub.add_parser("serve", help="run the EIR until SIGTERM or SIGINT")
    _store_options(p)
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
    p.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help="the least severe level logged (log.level)",
    )
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="log lines as text or one JSON object each, times in UTC (log.format)",
    )
    _mqtt_options(p)
    p.add_argument(
        "--node",
        metavar="NAME",
        help="this node's name in events and its MQTT client id (mqtt.node)",
    )
    p.add_argument(
        "--create",
        action="store_true",
        help="serve an empty store when there is none at the path (store.create); "
        "otherwise a missing store is refused",
    )


def _add_publish(sub: argparse._SubParsersAction[EirParser]) -> None:
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
    _list_file_options(p, required=False)
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="publish the good rows and report the bad ones (exit 1)",
    )
    devices.add_publish_options(p)
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
    audit_options(p)
    p.add_argument(
        "--snapshot",
        action="store_true",
        help="publish the whole content of --db (a store at the broker's head) as the log's "
        "snapshot, and delete the log's updates up to it: new nodes start from it",
    )
    p.add_argument(
        "--db", metavar="PATH", help="with --snapshot: the store to read (default: store.path)"
    )


def audit_options(p: argparse.ArgumentParser) -> None:
    """``--by``, ``--reason`` and ``--reference`` of a published update (the audit trail)."""
    p.add_argument("--by", help="who publishes (audit trail; default: the login name)")
    p.add_argument("--reason", dest="audit_reason", default="", help="why (audit trail)")
    p.add_argument(
        "--reference", dest="audit_reference", default="", help="a ticket or case (audit trail)"
    )


def publish_options(p: argparse.ArgumentParser, what: str) -> None:
    """``eir rollback V --publish``, ``eir case open|block|recover --publish``: the change
    published as the next list update instead of made in the store."""
    p.add_argument(
        "--publish",
        action="store_true",
        help=f"publish {what} as a list update to every node (the store given must be at "
        "the broker's head) instead of changing this store",
    )
    _mqtt_options(p)
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="with --publish: give up after S seconds (default 60)",
    )
    p.add_argument(
        "--wait", type=int, default=0, metavar="N", help="with --publish: wait for N nodes"
    )


def _add_list_commands(sub: argparse._SubParsersAction[EirParser]) -> None:
    """load, lookup, block, unblock, export and stats: the commands that work on the store."""
    p = sub.add_parser("load", help="load list files into the store, all or nothing")
    _store_options(p)
    _list_file_options(p)
    p.add_argument("--dry-run", action="store_true", help="validate and count, change nothing")
    p.add_argument(
        "--skip-invalid", action="store_true", help="load the good rows and report the bad ones"
    )
    p.add_argument(
        "--max-remove",
        metavar="N|P%",
        help="a replace removes at most N entries, or P%% of the list and source's current "
        "ones, unless --force (default: store.max_remove, 10%%)",
    )
    p.add_argument("--force", action="store_true", help="a replace may remove past --max-remove")
    p.add_argument(
        "--diff",
        metavar="FILE",
        help="write what the load adds, updates and removes to FILE as CSV (-: stdout)",
    )

    add_change_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    p = sub.add_parser("lookup", help="what the EIR answers for IMEIs, and why")
    _store_options(p)
    p.add_argument(
        "imeis",
        nargs="*",
        metavar="IMEI",
        help="14, 15 or 16 digits (spaces, dashes and dots are ignored)",
    )
    p.add_argument(
        "--file", metavar="FILE", help="IMEIs to look up, one a line ('-': standard input)"
    )
    p.add_argument("--imsi", help="the subscriber, for IMEI+IMSI pair entries")
    p.add_argument(
        "--at",
        metavar="T",
        help="judge the entries' times at T (an ISO date, or a time with Z or an offset) "
        "instead of now (the lifecycle clock)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="machine-readable output (JSON lines, one an IMEI, when there are several)",
    )

    _add_handset_commands(sub)

    p = sub.add_parser("export", help="write entries as CSV that `eir load` reads back")
    _store_options(p)
    p.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE",
        help="output file (.gz compresses; default: standard output)",
    )
    p.add_argument("--list", choices=[n.value for n in ListName], help="only this list")
    p.add_argument("--source", help="only this source")
    p.add_argument(
        "--digits",
        type=int,
        choices=(14, 15),
        help="write IMEIs with 14 digits, or 15 (the Luhn check digit computed where none was "
        "loaded); default: as loaded",
    )
    p.add_argument(
        "--classes",
        action="store_true",
        help="write the class table instead (imei,class,rule,figures,found; --source: one class)",
    )

    p = sub.add_parser("stats", help="entries per list and source, size, digest, load history")
    _store_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--history",
        type=int,
        default=10,
        metavar="N",
        help="how many recent loads to show (default 10)",
    )


def _add_handset_commands(sub: argparse._SubParsersAction[EirParser]) -> None:
    """block and unblock: single handsets by hand, each recorded in the load history."""
    p = sub.add_parser(
        "block",
        help="list single handsets (one transaction, recorded in the load history)",
    )
    _store_options(p)
    _handset_options(p)
    p.add_argument(
        "--list",
        required=True,
        choices=[n.value for n in ListName],
        help="the list to put them on",
    )
    p.add_argument("--source", help="who asked for it, e.g. police-hcm (default: manual)")
    _check_digit_option(p)
    list_options.add_block_time_options(p)

    p = sub.add_parser(
        "unblock",
        help="delist single handsets (one transaction, recorded in the load history)",
    )
    _store_options(p)
    _handset_options(p)
    p.add_argument(
        "--list",
        default="black",
        choices=[n.value for n in ListName],
        help="the list to take them off (default: black)",
    )
    p.add_argument("--source", help="only this source's entries (default: any source)")
    p.add_argument(
        "--missing-ok",
        action="store_true",
        help="delist the others when an IMEI is not listed (else nothing changes, exit 1)",
    )


def _handset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "imeis",
        nargs="+",
        metavar="IMEI",
        help="14, 15 or 16 digits (spaces, dashes and dots are ignored)",
    )
    p.add_argument("--reason", required=True, help="why, e.g. stolen")
    p.add_argument("--reference", required=True, help="the case or ticket, e.g. HCM-2026-1187")
    p.add_argument("--by", metavar="NAME", help="the operator (default: the login name)")


def _add_check_config(sub: argparse._SubParsersAction[EirParser]) -> None:
    p = sub.add_parser("check-config", help="validate a configuration and print it in full")
    p.add_argument("file", nargs="?", metavar="FILE", help="default: the embedded defaults")


def _list_file_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    """What `eir load` and `eir publish` both read: the files, their list, source and mode
    (not ``required`` by `eir publish`, which may publish a device database instead)."""
    p.add_argument(
        "files",
        nargs="+" if required else "*",
        metavar="FILE",
        help="CSV with a header, or one IMEI per line; .gz, a .zip of one file or - (stdin) too",
    )
    p.add_argument(
        "--list",
        required=required,
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
    _file_format_options(p)
    list_options.add_time_options(p)


def _file_format_options(p: argparse.ArgumentParser) -> None:
    """How the list files are written, when it is not told by the files themselves."""
    p.add_argument(
        "--delimiter",
        type=_checked(delimiter_named),
        metavar="X",
        help="the CSV field delimiter: , ; | or tab (default: the one the header uses)",
    )
    p.add_argument(
        "--encoding",
        type=_checked(encoding_named),
        metavar="NAME",
        help="the files' text encoding, e.g. cp1252 or latin-1 (default: UTF-8, or UTF-16 "
        "by its byte order mark)",
    )
    p.add_argument(
        "--column",
        action="append",
        default=[],
        type=_checked(column_mapping),
        metavar='"NAME=COLUMN"',
        help='read the file\'s column NAME as a known column, e.g. "Case number=reference" '
        "(repeatable)",
    )
    p.add_argument(
        "--strict-columns",
        action="store_true",
        help="refuse a file with a column neither known nor mapped (default: ignored, "
        "with one warning)",
    )
    p.add_argument(
        "--date-format",
        type=_checked(strptime_format),
        metavar="FORMAT",
        help="strptime format of 'added' dates that are not ISO 8601 or epoch seconds, e.g. "
        "%%m/%%d/%%Y (lists.date_format; default: day-first DD/MM/YYYY)",
    )
    p.add_argument(
        "--timezone",
        type=_checked(_time_zone),
        metavar="ZONE",
        help="IANA time zone of 'added' dates that name none (lists.timezone, default UTC)",
    )
    _check_digit_option(p)
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse the rows that would get a warning (a 14-digit IMEI that lost its leading 0)",
    )


def _check_digit_option(p: argparse.ArgumentParser) -> None:
    """``--check-digit`` of load, publish and block (default: ``lists.check_digit``)."""
    p.add_argument(
        "--check-digit",
        choices=[c.value for c in CheckDigit],
        help="a 15-digit IMEI whose check digit is wrong: refuse it, or list it by its 14 "
        "digits with a warning (lists.check_digit, default refuse)",
    )


def _checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An option's type whose ValueError is the usage error's message."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _time_zone(name: str) -> str:
    zone_named(name)
    return name


def _mqtt_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--broker",
        metavar="mqtt[s]://HOST:PORT",
        help="MQTT broker (mqtt.broker; '' turns MQTT off)",
    )
    p.add_argument(
        "--prefix", metavar="TOPIC", help="topic prefix of this network (mqtt.prefix, default eir)"
    )
