"""A theft case action as a list update (``eir case open|block|recover --publish``): a restore
update (:mod:`eir.publish.restore_update`, magic ``EIRR1``) whose description's ``action`` is
``case-open``, ``case-block`` or ``case-recover``, ``reference`` the case's reference and
``source`` the publisher's ``cases.source``; its groups: ``imei``, the case's entries of each
of the case's IMEIs (only that source's; a deletion marker: none) and ``case``, the case record
as the publisher's ``case`` table holds it (JSON, checked with :func:`unpack_case` on decode).

A node applies it in one transaction (:func:`write_case`): each IMEI's entries of that source
replaced by the update's, its other sources' entries untouched; the case record as given, its
last history step stamped with the node's own version; one history record (the case action,
origin "update"), naming the list and source the action wrote as a local action's does
(:func:`case_list`: what `eir lookup` finds an entry's maker by when no change set is kept).
"""

from __future__ import annotations

from dataclasses import replace

from eir.model import ListName
from eir.publish.update import UpdateError, UpdateMeta
from eir.store.api import HandsetChange, LoadSummary
from eir.store.cases import ACTIONS, Case, case_key, pack_case, stamped, unpack_case
from eir.store.records import CASES, Table, entries_of, pack_record
from eir.store.restore import Restore, kept_sources
from eir.store.versions import restore_version
from eir.store.writes import WriteTxn

#: (table, key, record or None) as a restore update holds them
Records = list[tuple[str, bytes, bytes | None]]


def is_case_update(meta: UpdateMeta) -> bool:
    """Whether an update is a case action (its description's action ``case-*``)."""
    return meta.action.startswith("case-")


def case_records(records: list[Restore], case: Case, source: str) -> Records:
    """What a case update carries: each of the case's IMEIs with only its entries of
    ``source`` (None: none), then the case record."""
    out: Records = []
    for table, key, record in records:
        own = [e for e in entries_of(record) if e.source == source] if record else []
        out.append((table.value, key, pack_record(own) if own else None))
    out.append((CASES, case_key(case.reference), pack_case(case)))
    return out


def case_of(meta: UpdateMeta, records: Records) -> Case:
    """The case record of a case update, checked against its description and its IMEI
    records (only the case's IMEIs, only entries of the update's source): an
    :class:`UpdateError` else."""
    cases = [r for t, _, r in records if t == CASES]
    if len(cases) != 1 or cases[0] is None:
        raise UpdateError(f"#{meta.seq}: a case update holds {len(cases)} case records, not 1")
    case = unpack_case(cases[0])
    state = ACTIONS.get(meta.action.removeprefix("case-"))
    if case.reference != meta.reference or case.state is not state:
        raise UpdateError(
            f"#{meta.seq}: {meta.action} {meta.reference} holds case {case.reference} "
            f"({case.state.value})"
        )
    keys = {i.key.encode() for i in case.imeis}
    for table, key, record in records:
        if table == CASES:
            continue
        if table != Table.IMEI.value or key not in keys:
            raise UpdateError(f"#{meta.seq}: {table} {key.decode()} is not an IMEI of the case")
        if record and any(e.source != meta.source for e in entries_of(record)):
            raise UpdateError(f"#{meta.seq}: an entry of IMEI {key.decode()} not of {meta.source}")
    return case


def write_case(
    txn: WriteTxn, meta: UpdateMeta, records: Records, change: HandsetChange, keep: int
) -> LoadSummary:
    """Apply a case update in ``txn`` as one version (``change`` its history record, made
    a case action's): the entries of the update's source replaced, the case record put with
    the version stamped on its last step."""
    case = case_of(meta, records)
    take = frozenset({meta.source})
    changes: list[Restore] = []
    before: list[bytes | None] = []
    for table, key, record in records:
        if table == Table.IMEI.value:
            old = txn.get(Table.IMEI, key)
            mine = None if old is None else bytes(old)
            before.append(mine)
            changes.append((Table.IMEI, key, kept_sources(record, mine, take)))
    imeis = tuple(i.written for i in case.imeis)
    made = replace(change, imeis=imeis, case=case.reference)
    written = case_list([r for _, _, r in changes], before, meta.source, case.reference)
    scope = [] if written is None else [(written, meta.source)]
    summary, seq = restore_version(txn, changes, made, meta.time, keep, scope)
    txn.put(CASES, case_key(case.reference), pack_case(stamped(case, seq)))
    return summary


def case_list(
    after: list[bytes | None], before: list[bytes | None], source: str, reference: str
) -> ListName | None:
    """The list a case action's history record names, as a local action's does: the list of
    the case's entries (``source``, the case's ``reference``) it wrote, else of those it
    removed (a recover); None when it wrote and removed none."""
    for records in (after, before):
        for record in records:
            for entry in entries_of(record) if record else ():
                if entry.source == source and entry.reference == reference:
                    return entry.list
    return None
