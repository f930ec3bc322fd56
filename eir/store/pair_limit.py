"""``pairs.max_per_imei``: the most IMSIs one IMEI may be paired with on the white list.

A load (or a block, a publish, a grandfathering) that would leave an IMEI with more white pairs
than the limit is refused whole, before anything is written: what the store holds of the IMEI
is counted with the batch, as the mode leaves it (an add keeps every stored pair, a replace
drops the stored entries of its scope that the batch does not hold again). A remove only
lowers the count. A node applying a list update does not check: the publisher did, and a node
must never be stuck on an update.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator, Sequence

from eir.errors import LoadError
from eir.model import ListName
from eir.store.api import Mode
from eir.store.batch import Batch, Group
from eir.store.reading import ReadTxn
from eir.store.records import Table, unpack_record

_WHITE = ListName.WHITE


class PairLimitError(LoadError):
    """A load that would pair an IMEI with more IMSIs than ``pairs.max_per_imei``."""

    def __init__(self, where: str, imei: str, count: int, limit: int) -> None:
        super().__init__(
            f"{where}: IMEI {imei} would have {count} white pairs, pairs.max_per_imei is {limit}"
        )
        self.imei, self.count, self.limit = imei, count, limit


def batch_pairs(groups: Iterable[Group]) -> dict[str, set[str]]:
    """The white pairs of the batch's groups: IMEI -> its IMSIs."""
    out: dict[str, set[str]] = {}
    for group in groups:
        if group.table is Table.PAIR and group.list is _WHITE:
            for key in group.keys:
                text = key.decode()
                out.setdefault(text[:14], set()).add(text[14:])
    return out


def stored_pairs(
    txn: ReadTxn, imei: str, mode: Mode, scope: set[tuple[ListName, str]], held: set[bytes]
) -> set[str]:
    """The IMSIs the store pairs with ``imei`` on the white list that the load leaves: every
    one for an add; for a replace, those with a white entry outside ``scope`` or held again by
    the batch (``held``: the batch's pair keys)."""
    prefix = imei.encode()
    out: set[str] = set()
    for key, record in txn.items(Table.PAIR, prefix):
        if not key.startswith(prefix):
            break
        for entry in unpack_record(record):
            if entry.list is not _WHITE:
                continue
            if mode is Mode.REPLACE and (entry.list, entry.source) in scope and key not in held:
                continue
            out.add(bytes(key[14:]).decode())
            break
    return out


def check_pairs(
    txn: ReadTxn,
    batch: Batch,
    mode: Mode,
    scope: Iterable[tuple[ListName, str]],
    limit: int,
) -> None:
    """Raise :class:`PairLimitError` (naming the file and line that goes past, when it can be
    found) when the load leaves an IMEI with more than ``limit`` white pairs; 0: no limit."""
    if not limit or mode is Mode.REMOVE:
        return
    wanted = batch_pairs(batch.groups)
    if not wanted:
        return
    owners = set(scope)
    held = {k for g in batch.groups if g.table is Table.PAIR and g.list is _WHITE for k in g.keys}
    for imei, imsis in sorted(wanted.items()):
        count = len(imsis | stored_pairs(txn, imei, mode, owners, held))
        if count > limit:
            where = locate(batch.files, imei, sorted(imsis))
            raise PairLimitError(where, imei, count, limit)


class NoStore:
    """A store holding nothing: what ``eir publish`` counts a file against (the nodes' stores
    are not at hand; each file's own pairs are still bounded)."""

    def get(self, table: str, key: bytes) -> bytes | None:
        return None

    def items(self, table: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        return iter(())


def locate(files: Sequence[str], imei: str, imsis: Sequence[str]) -> str:
    """``file:line`` of the last row pairing ``imei`` with one of ``imsis`` (the row that goes
    past the limit); the first file's name when the rows cannot be read again (stdin)."""
    found = ""
    for name in files:
        for number, line in _lines(name):
            if imei in line and any(imsi in line for imsi in imsis):
                found = f"{name}:{number}"
    return found or (files[0] if files else "eir")


def _lines(name: str) -> Iterator[tuple[int, str]]:
    if name in ("-", "<stdin>"):
        return
    try:
        with open(name, "rb") as raw:
            packed = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if packed else open
        with opener(name, "rt", encoding="utf-8", errors="replace") as handle:
            yield from enumerate(handle, 1)
    except OSError:
        return
