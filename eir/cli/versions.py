"""``eir versions``, ``eir diff V1 V2`` and ``eir rollback V``: the store's versions (every
committed change is one), what changed between two of them, and a new version that makes an
earlier one's content again (:mod:`eir.store.versions`; docs/versions.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from eir.config import Config
from eir.errors import EirError
from eir.host import node_name
from eir.model import Entry, utc_text
from eir.startup import open_store
from eir.store.api import HistoryRecord, history_dict
from eir.store.audit import local_change, login
from eir.store.diff import DIFF_COLUMNS, Change, Row, diff_lines, diff_rows_before
from eir.store.fields import check_text
from eir.store.lmdb_store import LmdbStore
from eir.store.reading import ReadTxn, history
from eir.store.restore import Restore
from eir.store.times import time_text
from eir.store.versions import (
    Kept,
    VersionError,
    check_range,
    compose,
    head_version,
    kept,
    rollback_changes,
)

Options = Callable[[argparse.ArgumentParser], None]


class UsageError(EirError):
    """A command line that asks for something that cannot be (exit 2)."""

    exit_code = 2


def add_parsers(sub: Any, store_options: Options) -> None:
    """The parsers of ``eir versions``, ``eir diff`` and ``eir rollback``."""
    p = sub.add_parser("versions", help="the store's versions: every committed change is one")
    store_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--limit", type=int, default=20, metavar="N", help="the newest N versions (default 20)"
    )
    p = sub.add_parser("diff", help="the entries added, removed and changed between two versions")
    store_options(p)
    p.add_argument("v1", type=int, metavar="V1", help="the earlier version (0: empty)")
    p.add_argument("v2", type=int, metavar="V2", help="the later version")
    p.add_argument("--csv", action="store_true", help="CSV, as `eir load --diff` writes it")
    p = sub.add_parser(
        "rollback",
        help="a new version whose content is exactly version V's",
        description="Puts back, in one transaction, every entry changed since version V as it "
        "was after V: the new version's digest is V's. Needs the change sets of the versions "
        "after V (versions.keep).",
    )
    store_options(p)
    p.add_argument("version", type=int, metavar="V", help="the version to go back to")
    p.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")
    p.add_argument("--by", help="who rolls back (default: the login name)")
    p.add_argument("--reason", default="", help="why (kept in the audit trail)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _kept_text(record: HistoryRecord, span: Kept) -> str:
    return "kept" if span.has(record.seq) else "dropped"


def _version_dict(record: HistoryRecord, span: Kept) -> dict[str, object]:
    return history_dict(record) | {
        "version": record.seq,
        "utc": utc_text(record.time),
        "changes_kept": span.has(record.seq),
    }


def _version_line(record: HistoryRecord, span: Kept) -> str:
    counts = f"+{record.added} ~{record.updated} -{record.removed}"
    came = [f"update {record.update}"] if record.update else []
    came += [f"restores {record.restored}"] if record.restores else []
    return (
        f"{record.seq:>7}  {utc_text(record.time)}  {record.action:<12} "
        f"{record.by or '-':<12} {record.origin or '-':<7} {counts:<20} "
        f"{_kept_text(record, span):<8} {', '.join(came)}"
    ).rstrip()


def versions(args: argparse.Namespace, config: Config) -> int:
    """``eir versions``: the newest versions, newest first."""
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    store = open_store(config, args.db, create=False)
    try:
        view = store.snapshot()
        try:
            records, span = history(view, args.limit)[::-1], kept(view)
        finally:
            view.release()
    finally:
        store.close()
    if args.json:
        data = {
            "head": span.head,
            "changes_kept_from": span.first,
            "keep": config.versions.keep,
            "versions": [_version_dict(r, span) for r in records],
        }
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    print(
        f"{'version':>7}  {'time (UTC)':<20}  {'action':<12} {'by':<12} {'origin':<7} "
        f"{'+added ~updated -removed':<20} changes"
    )
    for record in records:
        print(_version_line(record, span))
    if not records:
        print("no versions: the store never changed")
    return 0


def _composed(store: LmdbStore, base: int, upto: int, keep: int) -> dict[str, list[Change]]:
    view = store.snapshot()
    try:
        check_range(view, base, upto, keep)
        return compose(view, base, upto)
    finally:
        view.release()


def _where(row: Row) -> str:
    _, imei, last, imsi = row[:4]
    if last:
        return f"{imei}-{last}"
    return f"{imei}+{imsi}" if imsi else imei


def _print_rows(rows: Iterable[tuple[Row, Entry | None]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    out = sys.stdout
    for row, was in rows:
        change, _, _, _, list_name, source, reason, reference, effective, expires = row
        counts[change] += 1
        times = _times(effective, expires, was)
        out.write(
            f"{change:<8} {_where(row):<34} {list_name:<5} {source:<16} {reason}"
            f"{' | ' + reference if reference else ''}{times}".rstrip()
            + "\n"
        )
    return counts


def _times(effective: str, expires: str, was: Entry | None) -> str:
    """An entry's times as the readable diff shows them: ``(due T, expires T)``, and for an
    updated entry whose times changed ``(due OLD -> NEW, ...)`` (``none``: no time)."""
    said = []
    for name, now, old in (
        ("due", effective, time_text(was.effective) if was else effective),
        ("expires", expires, time_text(was.expires) if was else expires),
    ):
        if old != now:
            said.append(f"{name} {old or 'none'} -> {now or 'none'}")
        elif now:
            said.append(f"{name} {now}")
    return f" ({', '.join(said)})" if said else ""


def diff(args: argparse.Namespace, config: Config) -> int:
    """``eir diff V1 V2``: the entries added, removed and changed from V1's content to V2's."""
    if args.v1 >= args.v2:
        raise UsageError(f"V1 ({args.v1}) must be older than V2 ({args.v2})")
    store = open_store(config, args.db, create=False)
    try:
        changes = _composed(store, args.v1, args.v2, config.versions.keep)
    finally:
        store.close()
    if args.csv:
        out = sys.stdout.buffer
        out.write((",".join(DIFF_COLUMNS) + "\n").encode())
        for lines in diff_lines(changes):
            out.write(b"".join(lines))
        return 0
    print(f"from version {args.v1} to version {args.v2}:")
    counts = _print_rows(diff_rows_before(changes))
    print(
        f"added {counts['added']}, removed {counts['removed']}, updated {counts['updated']} entries"
    )
    return 0


def _plan(version: int, keep: int) -> Callable[[ReadTxn], list[Restore]]:
    """What the rollback writes, read in its own transaction."""

    def plan(txn: ReadTxn) -> list[Restore]:
        _check_rollback(txn, version, keep)
        return rollback_changes(txn, version, keep)

    return plan


def _check_rollback(txn: ReadTxn, version: int, keep: int) -> None:
    """Refuse a rollback to ``version`` unless it exists, is not the newest and the change
    sets after it are kept (:class:`VersionError`)."""
    head = head_version(txn)
    if version == head:
        raise VersionError(f"version {version} is the newest: nothing to roll back")
    check_range(txn, version, head, keep)


def _checked(store: LmdbStore, version: int, keep: int) -> None:
    """:func:`_check_rollback` on a snapshot of ``store``: before asking for confirmation."""
    view = store.snapshot()
    try:
        _check_rollback(view, version, keep)
    finally:
        view.release()


def _confirmed(args: argparse.Namespace, store: LmdbStore) -> bool:
    """``--yes``, or a yes typed at the terminal; refused when nobody can answer."""
    if args.yes or args.dry_run:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            f"rolling back to version {args.version} changes the lists: add --yes "
            "(or see the changes first with --dry-run)"
        )
    answer = input(f"roll back {store.path} to version {args.version}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def rollback(args: argparse.Namespace, config: Config) -> int:
    """``eir rollback V``: a new version with exactly V's content."""
    if args.version < 0:
        raise UsageError(f"V ({args.version}): give a version, 0 or more")
    by = check_text(args.by or login(), "--by")
    reason = check_text(args.reason, "--reason")
    change = local_change(
        "rollback", by, reason, "", config_node=node_name(config.mqtt), restores=args.version
    )
    if args.publish:
        from eir.cli.publish import publish_rollback

        return publish_rollback(args, config, args.version)
    store = open_store(config, args.db, create=False)
    try:
        keep = config.versions.keep
        _checked(store, args.version, keep)
        if not _confirmed(args, store):
            print("eir: nothing changed", file=sys.stderr)
            return 1
        summary, version = store.restore(
            _plan(args.version, keep),
            change,
            dry_run=args.dry_run,
            keep_sources=store.case_sources,
        )
        digest = "" if args.dry_run else store.stats(history_size=0).digest
    finally:
        store.close()
    counts = (
        f"added {summary.added}, updated {summary.updated}, removed {summary.removed}, "
        f"unchanged {summary.unchanged} keys"
    )
    if args.dry_run:
        print(f"dry run, nothing changed: rolling back to version {args.version}: {counts}")
        return 0
    print(f"version {version}: the content of version {args.version} ({counts})")
    print(f"digest: {digest}")
    return 0
