"""``pairs.max_per_imei``: the most IMSIs one IMEI may be paired with on the white list.

A load (or a block, a publish, a grandfathering) that would leave an IMEI with more white pairs
than the limit is refused whole, before anything is written: what the store holds of the IMEI
is counted with the batch, as the mode leaves it (an add keeps every stored pair, a replace
drops the stored entries of its scope that the batch does not hold again). A remove only
lowers the count. A node applying a list update does not check: the publisher did, and a node
must never be stuck on an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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


def pair_lines(groups: Iterable[Group], imei: str) -> list[tuple[tuple[int, int], str]]:
    """Where each white pair of ``imei`` in the batch was read, (file index, line), with its
    IMSI, in file order; empty when the groups do not say (not read from files)."""
    prefix = imei.encode()
    out: list[tuple[tuple[int, int], str]] = []
    for group in groups:
        if group.table is not Table.PAIR or group.list is not _WHITE or group.lines is None:
            continue
        for key, where in zip(group.keys, group.lines, strict=True):
            if key.startswith(prefix):
                out.append((where, key[14:].decode()))
    return sorted(out)


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
    """Raise :class:`PairLimitError` (naming the file and line that goes past, when the batch
    was read from files) when the load leaves an IMEI with more than ``limit`` white pairs;
    0: no limit."""
    if not limit or mode is Mode.REMOVE:
        return
    wanted = batch_pairs(batch.groups)
    if not wanted:
        return
    owners = set(scope)
    held = {k for g in batch.groups if g.table is Table.PAIR and g.list is _WHITE for k in g.keys}
    for imei, imsis in sorted(wanted.items()):
        kept = stored_pairs(txn, imei, mode, owners, held)
        count = len(imsis | kept)
        if count > limit:
            where = past_limit(batch, imei, kept - imsis, limit)
            raise PairLimitError(where, imei, count, limit)


def past_limit(batch: Batch, imei: str, kept: set[str], limit: int) -> str:
    """``file:line`` of the batch's row that first takes ``imei`` past ``limit`` white pairs,
    counted after the stored ones the load keeps (``kept``); the first file's name when the
    batch does not say where its rows were read."""
    paired = set(kept)
    for (file, line), imsi in pair_lines(batch.groups, imei):
        paired.add(imsi)
        if len(paired) > limit:
            return f"{batch.files[file]}:{line}"
    return batch.files[0] if batch.files else "eir"


class NoStore:
    """A store holding nothing: what ``eir publish`` counts a file against (the nodes' stores
    are not at hand; each file's own pairs are still bounded)."""

    def get(self, table: str, key: bytes) -> bytes | None:
        return None

    def items(self, table: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        return iter(())
