"""The audit trail from the command line: the ``--by``, ``--reason`` and ``--reference`` a
change is recorded with (`eir load`, `eir devices load`, `eir pairs grandfather`), and
``eir audit``: the store's history records (one per committed change, append-only: nothing
deletes them), filtered, newest last, one line each or JSON lines."""

from __future__ import annotations

import argparse
import json
import re
from itertools import takewhile
from typing import Any

from eir.config import Config
from eir.errors import ConfigError, IdentityError
from eir.host import node_name
from eir.identity import parse_written_imei
from eir.model import utc_text
from eir.startup import open_store
from eir.store.api import HandsetChange, HistoryRecord, history_dict
from eir.store.audit import ACTIONS, AuditFilter, local_change, maker, select
from eir.store.fields import check_text
from eir.store.key_history import key_changes, table_key
from eir.store.lmdb_store import LmdbStore
from eir.store.records import Table
from eir.store.times import option_time

#: every history record a store holds (the history is never pruned)
ALL = 1 << 62
_VERSION = re.compile(r"v(\d+)")


def add_change_options(p: argparse.ArgumentParser) -> None:
    """``--by``, ``--reason`` and ``--reference``: who made a change and why (its audit)."""
    p.add_argument("--by", metavar="NAME", help="the operator (default: the login name)")
    p.add_argument("--reason", default="", help="why, e.g. monthly police list")
    p.add_argument("--reference", default="", help="the case or ticket, e.g. HCM-2026-1187")


def change_of(
    args: argparse.Namespace, action: str, config: Config, imeis: tuple[str, ...] = ()
) -> HandsetChange:
    """The audit of the change ``args`` ask for: their ``--by`` (else the login name),
    ``--reason`` and ``--reference`` (checked as list fields are), from this node."""
    try:
        by = check_text(args.by or "", "--by")
        reason = check_text(args.reason or "", "--reason")
        reference = check_text(args.reference or "", "--reference")
    except IdentityError as exc:
        raise ConfigError(str(exc)) from None
    return local_change(action, by, reason, reference, imeis, config_node=node_name(config.mqtt))


def add_parser(sub: Any, store_options: Any) -> None:
    """The parser of ``eir audit``."""
    p = sub.add_parser(
        "audit",
        help="who changed what, when, why and from where (the history: append-only)",
        description="The audit trail: one record per committed change (load, block, unblock, "
        "devices, grandfather, case action, purge, rollback, applied update), never deleted. "
        "Newest last.",
    )
    store_options(p)
    p.add_argument("--imei", metavar="IMEI", help="the changes naming it or making its entries")
    p.add_argument("--by", metavar="NAME", help="made by NAME")
    p.add_argument(
        "--since",
        metavar="T",
        help="from T: a date, an ISO time with Z or an offset, or a version v12",
    )
    p.add_argument("--until", metavar="T", help="up to T (as --since)")
    p.add_argument("--action", metavar="A", help="load, block, unblock, devices, case-open...")
    p.add_argument("--case", metavar="REF", help="the changes of a theft case")
    p.add_argument("--limit", type=int, metavar="N", help="the newest N records only")
    p.add_argument("--json", action="store_true", help="one JSON object a line")


def audit(args: argparse.Namespace, config: Config) -> int:
    """``eir audit``: the history records the filters select, newest last."""
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit: give a positive number")
    if args.action is not None and args.action not in ACTIONS:
        raise ConfigError(f"--action: {args.action!r} is none of {', '.join(ACTIONS)}")
    since, since_version = when(args.since, "--since", end=False)
    until, until_version = when(args.until, "--until", end=True)
    if (since and until and since > until) or (
        since_version and until_version and since_version > until_version
    ):
        raise ConfigError(f"--since {args.since} is after --until {args.until}: nothing between")
    store = open_store(config, args.db, create=False)
    try:
        records = store.stats(ALL, digest=False).history
        key = "" if args.imei is None else _imei_key(args.imei)
        makers = frozenset(_makers(store, key, records)) if key else frozenset()
    finally:
        store.close()
    wanted = AuditFilter(
        key, args.by or "", args.action or "", args.case or "", since, until,
        since_version, until_version, makers,
    )  # fmt: skip
    chosen = select(records, wanted)
    if args.limit is not None:
        chosen = chosen[-args.limit :]
    for record in chosen:
        print(json.dumps(audit_dict(record)) if args.json else audit_line(record))
    return 0


def _imei_key(text: str) -> str:
    try:
        return parse_written_imei(text).key
    except IdentityError as exc:
        raise ConfigError(f"--imei: {exc}") from None


def _makers(store: LmdbStore, key: str, records: list[HistoryRecord]) -> set[int]:
    """The versions that made the entries ``key`` holds now (exact, range and pair entries),
    and those whose kept change sets changed its exact and pair entries (removals and
    restores included)."""
    hits = store.lookup(key, None)
    imsis = paired_imsis(store, key)
    pairs = [m for imsi in imsis for m in store.lookup(key, imsi).pair]
    found: set[int] = set()
    snapshot = store.snapshot()
    try:
        found.update(key_changes(snapshot, Table.IMEI, key.encode()))
        for imsi in imsis:
            found.update(key_changes(snapshot, Table.PAIR, (key + imsi).encode()))
        for match in (*pairs, *hits.imei, *hits.ranges):
            place = table_key(match)
            changes = key_changes(snapshot, *place) if place else {}
            record = maker(match.entry, records, key, changes)
            if record is not None:
                found.add(record.seq)
    finally:
        snapshot.release()
    return found


def paired_imsis(store: LmdbStore, key: str) -> list[str]:
    """The IMSIs the store has pair entries of ``key`` with (any list)."""
    prefix = key.encode()
    snapshot = store.snapshot()
    try:
        keys = (bytes(k) for k, _ in snapshot.items(Table.PAIR, prefix))
        return [k[14:].decode() for k in takewhile(lambda k: k.startswith(prefix), keys)]
    finally:
        snapshot.release()


def when(text: str | None, option: str, *, end: bool) -> tuple[int, int]:
    """``--since``/``--until``: (epoch seconds, 0) for a date or time
    (:func:`eir.store.times.option_time`), (0, version) for ``v12``; (0, 0) when not given. A
    date alone is its whole day (``end``: up to its last second)."""
    if text is None:
        return 0, 0
    version = _VERSION.fullmatch(text.strip())
    if version:
        return 0, int(version.group(1))
    try:
        return option_time(text, option, end=end), 0
    except IdentityError as exc:
        raise ConfigError(f"{exc} (or a version: v12)") from None


def audit_line(h: HistoryRecord) -> str:
    """One record for a reader: version, time, action, who, from where, what, why."""
    parts = [f"v{h.seq}", utc_text(h.time), h.action, f"by {h.by or '?'}"]
    parts.append(f"from {where_made(h.origin, h.node)}")
    parts.append(_what(h))
    why = _why(h)
    if why:
        parts.append(why)
    return "  ".join(parts)


def where_made(origin: str, node: str) -> str:
    """``origin@node``; ``?`` for what a record written before the audit fields does not say."""
    return f"{origin or '?'}@{node}" if node else origin or "?"


def _what(h: HistoryRecord) -> str:
    counts = f"+{h.added} ~{h.updated} -{h.removed} ={h.unchanged}"
    if h.imeis:
        return f"{' '.join(h.imeis)} {h.list}/{h.source} {counts}"
    where = f"{h.list}/{h.source}" if h.list else h.source
    named = f" {' '.join(h.files)}" if h.files else ""
    return f"{h.mode} {where}{named} {counts}"


def _why(h: HistoryRecord) -> str:
    said = [
        f"{name} {value}"
        for name, value in (
            ("reason", h.reason),
            ("reference", h.reference),
            ("case", h.case),
            ("update", h.update),
            ("restores", h.restored),
        )
        if value
    ]
    return "why: " + ", ".join(said) if said else ""


def audit_dict(h: HistoryRecord) -> dict[str, object]:
    """One record as `eir audit --json` writes it: the history record, its version and its
    time in UTC."""
    return history_dict(h) | {"version": h.seq, "at": utc_text(h.time)}
