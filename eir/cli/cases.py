"""``eir case open | block | recover | show | list``: theft cases (docs/cases.md).

Each action is one store transaction (:meth:`eir.store.lmdb_store.LmdbStore.restore`): the
case's entries on the IMEI table (source ``cases.source``, reference the case's, reason the
case's), the case record in the ``case`` table (:mod:`eir.store.cases`) and its history
record (the version and audit record: action ``case-open``, ``case-block`` or
``case-recover``). A refused action (a wrong transition, an unknown or reused reference, an
IMEI held by another open case) changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from eir import lifecycle
from eir.cli.handsets import SAY, Handset, parse_handsets
from eir.cli.list_options import check_digit_policy
from eir.config import Config
from eir.errors import ConfigError, IdentityError
from eir.host import node_name
from eir.identity import Imsi, parse_written_imei
from eir.model import CheckRequest, Entry, ListName, utc_text
from eir.policy import decide
from eir.startup import open_store
from eir.store.api import HandsetChange
from eir.store.audit import login
from eir.store.cases import (
    ACTIONS,
    Case,
    CaseError,
    CaseImei,
    CaseState,
    case_key,
    check_reference,
    moved,
    opened,
    pack_case,
    stamped,
    unpack_case,
)
from eir.store.fields import check_text
from eir.store.lmdb_store import LmdbStore
from eir.store.reading import ReadTxn
from eir.store.records import CASES, NO_DIGIT, Table, pack_record, unpack_record
from eir.store.restore import Restore
from eir.store.versions import head_version
from eir.store.writes import WriteTxn

Options = Callable[[argparse.ArgumentParser], None]


def add_parsers(
    sub: Any, store_options: Options, check_digit_option: Options, publish_options: Options
) -> None:
    """The parser of ``eir case`` and its actions (``publish_options``: their ``--publish``)."""
    p = sub.add_parser("case", help="theft cases: open (pending), block, recover, show, list")
    actions = p.add_subparsers(
        dest="case_command", required=True, metavar="{open,block,recover,show,list}"
    )
    q = actions.add_parser("open", help="open a case: its IMEIs answer cases.pending_answer")
    store_options(q)
    q.add_argument("reference", metavar="REF", help="1 to 64 of letters, digits and ._-/")
    q.add_argument(
        "--imei", action="append", required=True, dest="imeis", help="an IMEI (repeatable)"
    )
    q.add_argument(
        "--imsi", action="append", default=[], dest="imsis", help="the owner's IMSI (repeatable)"
    )
    q.add_argument("--reason", required=True, help="why, e.g. stolen, lost")
    _step_options(q)
    check_digit_option(q)
    publish_options(q)
    for name, what in (
        ("block", "block a case: its IMEIs answer black"),
        ("recover", "close a case: its entries removed, the IMEIs answer as before it"),
    ):
        q = actions.add_parser(name, help=what)
        store_options(q)
        q.add_argument("reference", metavar="REF")
        _step_options(q)
        publish_options(q)
    q = actions.add_parser("show", help="a case: state, IMEIs, IMSIs, history, answers now")
    store_options(q)
    q.add_argument("reference", metavar="REF")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q = actions.add_parser("list", help="the cases, oldest first")
    store_options(q)
    q.add_argument("--state", choices=[s.value for s in CaseState], help="only these")
    q.add_argument("--json", action="store_true", help="print one JSON object a line")


def _step_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--by", metavar="NAME", help="the officer (default: the login name)")
    p.add_argument("--note", default="", help="a note kept in the case's history")


def case(args: argparse.Namespace, config: Config) -> int:
    command = args.case_command
    if command == "show":
        return _show(args, config)
    if command == "list":
        return _list(args, config)
    return _act(args, config, command)


# -- actions ----------------------------------------------------------------------------------


def _act(args: argparse.Namespace, config: Config, command: str) -> int:
    try:
        reference = check_reference(args.reference)
    except CaseError as exc:
        raise ConfigError(str(exc)) from None
    by = _text(args.by or login(), "--by")
    note = _text(args.note, "--note", empty=True)
    state = ACTIONS[command]
    prepared = _prepared_open(args, config, by, note) if command == "open" else None
    now = int(lifecycle.now(config))
    made: list[Case] = []

    def make(txn: ReadTxn) -> list[Restore]:
        old = txn.get(CASES, case_key(reference))
        if prepared is not None:
            if old is not None:
                raise CaseError(f"case {reference} exists: {_since(unpack_case(old))}")
            _check_free(txn, prepared)
            new = opened(reference, *prepared, by, note, now)
        elif old is None:
            raise CaseError(f"case {reference}: no such case; nothing was changed")
        else:
            new = moved(unpack_case(old), state, by, note, now)
        made.append(new)
        return _records(txn, new, config, now)

    if args.publish:  # checked here, made on every node (docs/cases.md)
        from eir.cli.case_publish import publish_case

        return publish_case(args, config, lambda txn: (make(txn), made[-1]))
    store = open_store(config, args.db, create=False)

    def inside(txn: WriteTxn) -> None:
        made[0] = stamped(made[0], head_version(txn))  # the version the change just made
        txn.put(CASES, case_key(reference), pack_case(made[0]))

    try:
        change = _change(command, reference, args, by, prepared, store, node_name(config.mqtt))
        written = _list_of(state, config) or _list_before(store, reference, config)
        scope = [] if written is None else [(written, config.cases.source)]
        store.restore(make, change, inside=inside, scope=scope)  # recorded at the wall clock
    finally:
        store.close()
    print(_done_line(made[0], _list_of(state, config), written))
    return 0


def _done_line(done: Case, list_name: ListName | None, written: ListName | None) -> str:
    """What an action says it did: ``case HCM-1: blocked, 2 IMEIs on black (version 7)``
    (``written``: the list its entries are on after the action, or before a recover)."""
    count = f"{len(done.imeis)} IMEI{'s' if len(done.imeis) > 1 else ''}"
    if list_name is not None:
        what = f"{count} on {list_name.value}"
    elif done.state is CaseState.RECOVERED and written is not None:
        what = f"its entries removed from {count}"
    elif done.state is CaseState.RECOVERED:
        what = f"{count} answering as before (the case had no entries to remove)"
    else:
        what = f"{count} answering as before"
    return f"case {done.reference}: {done.state.value}, {what} (version {done.steps[-1].version})"


PreparedOpen = tuple[tuple[CaseImei, ...], tuple[str, ...], str]


def _prepared_open(args: argparse.Namespace, config: Config, by: str, note: str) -> PreparedOpen:
    """The IMEIs, IMSIs and reason of ``eir case open``, checked before the store is opened."""
    handsets: list[Handset] = parse_handsets(args.imeis, policy=check_digit_policy(args, config))
    imsis = []
    for text in args.imsis:
        try:
            imsis.append(Imsi.parse(text).digits)
        except IdentityError as exc:
            raise ConfigError(f"--imsi: {exc}") from None
    if not args.reason.strip():
        raise ConfigError(f"--reason is empty: {SAY['reason']}")
    reason = _text(args.reason, "--reason")
    imeis = tuple(CaseImei(h.written, h.key, h.digit) for h in handsets)
    return imeis, tuple(dict.fromkeys(imsis)), reason


def _change(
    command: str,
    reference: str,
    args: argparse.Namespace,
    by: str,
    prepared: PreparedOpen | None,
    store: LmdbStore,
    node: str,
) -> HandsetChange:
    """The audit of the action, from ``node``: the case's IMEIs (read from the case for block
    and recover)."""
    if prepared is not None:
        imeis, reason = tuple(i.written for i in prepared[0]), prepared[2]
    else:
        raw = store.table_value(CASES, case_key(reference))
        known = None if raw is None else unpack_case(raw)
        imeis = () if known is None else tuple(i.written for i in known.imeis)
        reason = "" if known is None else known.reason
    return HandsetChange(
        f"case-{command}", imeis, by, reason, reference, origin="cli", node=node, case=reference
    )


def _check_free(txn: ReadTxn, prepared: PreparedOpen) -> None:
    """No IMEI of a new case may be held by another case that is not recovered."""
    keys = {i.key: i.written for i in prepared[0]}
    for _, raw in txn.items(CASES):
        other = unpack_case(bytes(raw))
        if other.state is CaseState.RECOVERED:
            continue
        for imei in other.imeis:
            if imei.key in keys:
                raise CaseError(
                    f"IMEI {keys[imei.key]} is in case {other.reference} ({other.state.value}); "
                    "nothing was changed"
                )


def _list_of(state: CaseState, config: Config) -> ListName | None:
    """The list a case's entries are on in ``state`` (None: no entry)."""
    if state is CaseState.BLOCKED:
        return ListName.BLACK
    if state is CaseState.PENDING and config.cases.pending_answer != "unchanged":
        return ListName(config.cases.pending_answer)
    return None


def _list_before(store: LmdbStore, reference: str, config: Config) -> ListName | None:
    """The list the case's entries are on before an action that removes them (recover):
    the list its history record names (None: it had none)."""
    raw = store.table_value(CASES, case_key(reference))
    return None if raw is None else _list_of(unpack_case(raw).state, config)


def _records(txn: ReadTxn, case_now: Case, config: Config, now: int) -> list[Restore]:
    """Each IMEI's record with the case's entries as its state asks: the case's earlier
    entries (its source and reference, any list) removed, the new one added; entries from
    other sources untouched."""
    source = config.cases.source
    list_name = _list_of(case_now.state, config)
    out: list[Restore] = []
    for imei in sorted(case_now.imeis, key=lambda i: i.key):
        key = imei.key.encode()
        old = txn.get(Table.IMEI, key)
        entries = [] if old is None else unpack_record(bytes(old))
        kept = [
            e
            for e in entries
            if not (
                e.source == source and (e.reference == case_now.reference or e.list is list_name)
            )
        ]
        if list_name is not None:
            digit = None if imei.digit == NO_DIGIT else imei.digit
            kept.append(Entry(list_name, source, case_now.reason, case_now.reference, now, digit))
        out.append((Table.IMEI, key, pack_record(kept) if kept else None))
    return out


def _text(value: str, option: str, *, empty: bool = False) -> str:
    if empty and not value:
        return value
    try:
        return check_text(value, option)
    except IdentityError as exc:
        raise ConfigError(str(exc)) from None


def _since(case_now: Case) -> str:
    step = case_now.steps[-1]
    return f"{case_now.state.value} since {utc_text(step.time)}; nothing was changed"


# -- reading ----------------------------------------------------------------------------------


def _show(args: argparse.Namespace, config: Config) -> int:
    try:
        reference = check_reference(args.reference)
    except CaseError as exc:
        raise ConfigError(str(exc)) from None
    store = open_store(config, args.db, create=False)
    try:
        raw = store.table_value(CASES, case_key(reference))
        if raw is None:
            raise CaseError(f"case {reference}: no such case")
        found = unpack_case(raw)
        answers = _answers(store, config, found)
    finally:
        store.close()
    if args.json:
        print(json.dumps(found.json() | {"answers": answers}, indent=2))
        return 0
    for line in _show_lines(found, answers):
        print(line)
    return 0


def _answers(store: LmdbStore, config: Config, found: Case) -> dict[str, dict[str, str]]:
    """What each IMEI of the case answers now (at the lifecycle clock), and why."""
    devices = store.device_index()
    clock = lifecycle.clock_of(config)
    out = {}
    for imei in found.imeis:
        request = CheckRequest(parse_written_imei(imei.written), None)
        result = decide(request, store.lookup, config.policy, devices, None, clock=clock)
        out[imei.written] = {"answer": result.answer, "why": result.explain()}
    return out


def _show_lines(found: Case, answers: dict[str, dict[str, str]]) -> list[str]:
    lines = [
        f"case {found.reference}: {found.state.value}",
        f"  reason {found.reason}; opened {utc_text(found.opened)} by {found.by}",
    ]
    for written, said in answers.items():
        lines.append(f"  IMEI {written}: {said['answer']} ({said['why']})")
    lines.extend(f"  IMSI {imsi}" for imsi in found.imsis)
    lines.append("  history:")
    for step in found.steps:
        note = f": {step.note}" if step.note else ""
        lines.append(
            f"    {utc_text(step.time)} {step.state.value} by {step.by} "
            f"(version {step.version}){note}"
        )
    return lines


def _list(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config, args.db, create=False)
    try:
        found = [unpack_case(raw) for _, raw in store.table_items(CASES)]
    finally:
        store.close()
    found.sort(key=lambda c: (c.opened, c.reference))
    for item in found:
        if args.state is not None and item.state.value != args.state:
            continue
        if args.json:
            print(json.dumps(item.json()))
            continue
        since = utc_text(item.steps[-1].time)
        imeis = " ".join(i.written for i in item.imeis)
        print(
            f"{item.reference}\t{item.state.value}\tsince {since}\t{item.reason}\t"
            f"by {item.by}\t{imeis}"
        )
    if not found and not args.json:
        print("no cases", file=sys.stderr)
    return 0
