"""``eir block`` and ``eir unblock``: single handsets listed or delisted by hand.

Each command is one store transaction, applied as a load is (a :class:`~eir.store.batch.Batch`
through ``store.apply``: ``add`` for block, ``remove`` for unblock, so that a handset blocked
by hand and one loaded from a file are the same entry) and recorded in the load history with
the IMEIs, the operator (``--by``, else the login name), the reason and the reference.
``eir block --effective T --expires T --grace DAYS`` gives the entries it writes times (a due
date, an end).

Unblock is all or nothing: an IMEI that is not listed is named (``eir: IMEI is not listed
(black)``) and nothing changes, unless ``--missing-ok``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from eir.cli.list_options import block_times, check_digit_policy
from eir.config import Config
from eir.errors import ConfigError, IdentityError
from eir.host import node_name
from eir.identity import written_imei
from eir.model import ListName
from eir.startup import open_store
from eir.store.api import HandsetChange, LoadSummary, Mode
from eir.store.audit import local_change, login
from eir.store.batch import Batch, Group
from eir.store.fields import check_source, check_text, parse_imei
from eir.store.formats import CheckDigit
from eir.store.lmdb_store import LmdbStore
from eir.store.records import Table


@dataclass(frozen=True, slots=True)
class Handset:
    """One IMEI of the command line: as written (digits only) and its 14-digit key."""

    written: str
    key: str
    #: the check digit it was written with, else NO_DIGIT (14 digits, an IMEISV)
    digit: int


#: what an empty ``--reason`` or ``--reference`` is told (a usage error)
SAY = {
    "reason": "say why (e.g. stolen)",
    "reference": "name the case or ticket (e.g. HCM-2026-1187)",
}


def require_said(args: argparse.Namespace) -> None:
    """``--reason`` and ``--reference`` are each more than blanks: the history must say why."""
    for name, advice in SAY.items():
        if not getattr(args, name).strip():
            raise ConfigError(f"--{name} is empty: {advice}")


def block(args: argparse.Namespace, config: Config) -> int:
    require_said(args)
    handsets = parse_handsets(args.imeis, policy=check_digit_policy(args, config))
    source = _source(args.source or "manual")
    list_name = ListName(args.list)
    change = _change("block", handsets, args, config)
    ordered = sorted(handsets, key=lambda h: h.key)
    group = Group(
        Table.IMEI,
        list_name,
        source,
        keys=[h.key.encode() for h in ordered],
        fields=[(change.reason, change.reference, 0)] * len(ordered),
        digits=bytes(h.digit for h in ordered),
        times=[block_times(args, config)] * len(ordered),
    )
    batch = _batch(group, len(args.imeis), change)
    store = open_store(config, args.db, create=False)
    try:
        summary = store.apply(batch, Mode.ADD, [(list_name, source)])
    finally:
        store.close()
    print(summary.line())
    return 0


def unblock(args: argparse.Namespace, config: Config) -> int:
    require_said(args)
    handsets = parse_handsets(args.imeis, policy=None)
    source = None if args.source is None else _source(args.source)
    list_name = ListName(args.list)
    change = _change("unblock", handsets, args, config)
    store = open_store(config, args.db, create=False)
    try:
        missing = _not_listed(store, handsets, list_name, source)
        where = list_name.value if source is None else f"{list_name.value}/{source}"
        for handset in missing:
            print(f"eir: {handset.written} is not listed ({where})", file=sys.stderr)
        if missing and not args.missing_ok:
            print("eir: nothing was changed (--missing-ok removes the others)", file=sys.stderr)
            return 1
        summary = _remove(store, handsets, list_name, source, change, len(args.imeis))
    finally:
        store.close()
    print(summary.line())
    return 0


def _remove(
    store: LmdbStore,
    handsets: list[Handset],
    list_name: ListName,
    source: str | None,
    change: HandsetChange,
    rows: int,
) -> LoadSummary:
    """Delist ``handsets`` in one transaction: from ``source``, or from every source."""
    keys = sorted(h.key.encode() for h in handsets)
    group = Group(Table.IMEI, list_name, source or "", keys=keys)
    return store.apply(
        _batch(group, rows, change),
        Mode.REMOVE,
        [(list_name, source or "*")],
        remove_any_source=source is None,
    )


def _not_listed(
    store: LmdbStore, handsets: list[Handset], list_name: ListName, source: str | None
) -> list[Handset]:
    """The handsets that have no entry of their own (not a range, not a pair) on the list."""
    out = []
    for handset in handsets:
        entries = [m.entry for m in store.lookup(handset.key, None).imei]
        if not any(e.list is list_name and (source is None or e.source == source) for e in entries):
            out.append(handset)
    return out


def _batch(group: Group, rows: int, change: HandsetChange) -> Batch:
    return Batch(
        groups=[group],
        rows=rows,
        duplicates=rows - len(group.keys),
        change=change,
    )


def parse_handsets(texts: list[str], *, policy: CheckDigit | None) -> list[Handset]:
    """The command line's IMEIs in its order, without duplicates (the first written wins).
    Every bad one is named before the command gives up, and then nothing changes.

    ``policy``: what a wrong check digit gets; None for an unblock (the 14 digits are what is
    listed: no refusal, no warning)."""
    found: dict[str, Handset] = {}
    errors: list[str] = []
    for text in texts:
        try:
            handset = _handset(text, policy)
        except IdentityError as exc:
            errors.append(str(exc))
            continue
        found.setdefault(handset.key, handset)
    if len(texts) == 1 and errors:
        raise IdentityError(errors[0])
    for message in errors:
        print(f"eir: {message}", file=sys.stderr)
    if errors:
        raise IdentityError(
            f"{len(errors)} of {len(texts)} IMEIs are not valid; nothing was changed"
        )
    return list(found.values())


def _handset(text: str, policy: CheckDigit | None) -> Handset:
    """One IMEI as written, by the rules of a list file's IMEI cell (:func:`parse_imei`, the same
    messages): a wrong check digit refused or listed with a warning, a 14-digit IMEI that seems
    to have lost its leading 0 warned of. An unblock (``policy`` None) takes the 14 digits as
    they are, with no refusal and no warning."""
    listed = parse_imei(text, policy or CheckDigit.LIST)
    if listed.warning is not None and policy is not None:
        print(f"eir: warning: {listed.warning}", file=sys.stderr)
    return Handset(written_imei(text), listed.key, listed.digit)


def _change(
    action: str, handsets: list[Handset], args: argparse.Namespace, config: Config
) -> HandsetChange:
    try:
        reason = check_text(args.reason, "--reason")
        reference = check_text(args.reference, "--reference")
        by = check_text(args.by or login(), "--by")
    except IdentityError as exc:
        raise ConfigError(str(exc)) from None
    imeis = (h.written for h in handsets)
    return local_change(action, by, reason, reference, imeis, config_node=node_name(config.mqtt))


def _source(source: str) -> str:
    try:
        return check_source(source)
    except IdentityError as exc:
        raise ConfigError(f"--source: {exc}") from None
