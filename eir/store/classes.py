"""The ``class`` table as its writer and readers see it: the IMEIs of one class
(:class:`~eir.model.StoreClass`, e.g. ``duplicate``) as :class:`ClassRow` s, the batch that
makes them the whole of the class and the scope to apply it with.

Only the aggregator writes a class (``store.apply(class_batch(name, rows), Mode.REPLACE,
scope=class_scope(name))``, or the same batch and scope as a list update); no list file does.
An entry of the table: list grey (not used by the decision), source the class, reason the rule
that found it, reference the rule's figures as compact JSON, added the time it was found.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from eir.errors import StoreError
from eir.model import ListName
from eir.store.api import ClassScope, ListStore
from eir.store.batch import Batch, Group
from eir.store.records import MAX_FIELD, Table

#: the list of every class entry (the decision reads the class, never this)
CLASS_LIST = ListName.GREY


class ClassRow(NamedTuple):
    """One IMEI of a class: the rule that found it, its figures (compact JSON, at most 255
    octets) and when it was found (seconds since the epoch; 0: when it is applied)."""

    imei: str
    rule: str
    figures: str
    added: int


def _checked(row: ClassRow) -> ClassRow:
    if len(row.imei) != 14 or not row.imei.isdigit():
        raise StoreError(f"class row {row.imei!r}: not a 14-digit IMEI")
    for name, text in (("rule", row.rule), ("figures", row.figures)):
        if len(text.encode()) > MAX_FIELD:
            raise StoreError(f"class row {row.imei}: {name} longer than {MAX_FIELD} octets")
    if row.added < 0 or row.added >= 1 << 32:
        raise StoreError(f"class row {row.imei}: time {row.added} out of range")
    return row


def class_batch(name: str, rows: Iterable[ClassRow]) -> Batch:
    """The batch holding ``rows`` as the class ``name``: keys sorted, one row per IMEI (the
    first given wins, so rules listed first take precedence)."""
    by_imei: dict[str, ClassRow] = {}
    for row in rows:
        by_imei.setdefault(row.imei, _checked(row))
    keys = sorted(by_imei)
    group = Group(
        Table.CLASS,
        CLASS_LIST,
        str(name),
        [key.encode() for key in keys],
        fields=[(by_imei[k].rule, by_imei[k].figures, by_imei[k].added) for k in keys],
    )
    return Batch(groups=[group] if keys else [], rows=len(keys))


def class_scope(name: str) -> list[tuple[ListName, str]]:
    """The scope to apply a :func:`class_batch` with, in :attr:`~eir.store.api.Mode.REPLACE`:
    the batch becomes the whole class, and no list entry is touched."""
    return [ClassScope(CLASS_LIST, str(name))]


def class_rows(store: ListStore, name: str) -> list[ClassRow]:
    """The IMEIs the store holds in the class ``name``, in IMEI order."""
    return [
        ClassRow(row.imei, row.entry.reason, row.entry.reference, row.entry.added)
        for row in store.export(None, str(name), classes=True)
    ]
