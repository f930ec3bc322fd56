"""``pairs.max_per_imei``: a load leaving an IMEI with more white pairs than the limit is
refused whole (stored pairs counted as the mode leaves them); a remove, never."""

from __future__ import annotations

import pytest

from eir.model import ListName
from eir.store.api import ListStore, Mode
from eir.store.pair_limit import NoStore, PairLimitError, check_pairs
from tests.conftest import BatchOf

W, B = ListName.WHITE, ListName.BLACK
IMEI = "49015420323751"
IMSIS = [f"00101000000000{n}" for n in range(6)]


def pairs(*imsis: str, imei: str = IMEI) -> str:
    return "imei,imsi\n" + "".join(f"{imei},{imsi}\n" for imsi in imsis)


def test_add_counts_what_is_stored(store: ListStore, batch_of: BatchOf) -> None:
    crm = batch_of(pairs(*IMSIS[:2]), list=W, source="crm")
    store.apply(crm, Mode.ADD, [(W, "crm")], max_pairs=3)
    more = batch_of(pairs(*IMSIS[2:4]), list=W, source="shop")
    before = store.stats().digest
    with pytest.raises(
        PairLimitError,
        match=r":3: IMEI 49015420323751 would have 4 white pairs, pairs.max_per_imei is 3$",
    ):
        store.apply(more, Mode.ADD, [(W, "shop")], max_pairs=3)
    assert store.stats().digest == before  # refused whole
    with pytest.raises(PairLimitError):  # a dry run says so too
        store.apply(more, Mode.ADD, [(W, "shop")], max_pairs=3, dry_run=True)
    assert store.apply(more, Mode.ADD, [(W, "shop")], max_pairs=4).added == 2
    assert store.apply(more, Mode.ADD, [(W, "shop")], max_pairs=0).unchanged == 2  # 0: none


def test_replace_counts_only_what_remains(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(pairs(*IMSIS[:3]), list=W, source="crm"), Mode.ADD, [(W, "crm")])
    swap = batch_of(pairs(*IMSIS[3:6]), list=W, source="crm")
    s = store.apply(swap, Mode.REPLACE, [(W, "crm")], max_pairs=3)
    assert (s.added, s.removed) == (3, 3)
    other = batch_of(pairs(IMSIS[0]), list=W, source="shop")
    with pytest.raises(PairLimitError, match="would have 4 white pairs"):
        store.apply(other, Mode.REPLACE, [(W, "shop")], max_pairs=3)


def test_black_pairs_and_removes_are_not_counted(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(pairs(*IMSIS[:2]), list=W, source="crm"), Mode.ADD, [(W, "crm")])
    black = batch_of(pairs(*IMSIS[2:6]), list=B, source="police")
    assert store.apply(black, Mode.ADD, [(B, "police")], max_pairs=2).added == 4
    gone = batch_of(pairs(*IMSIS[:2]), list=W, source="crm")
    assert store.apply(gone, Mode.REMOVE, [(W, "crm")], max_pairs=1).removed == 2


def test_a_file_alone_is_bounded(batch_of: BatchOf) -> None:
    batch = batch_of(pairs(*IMSIS[:3]), list=W, source="crm")
    check_pairs(NoStore(), batch, Mode.ADD, [(W, "crm")], 3)
    with pytest.raises(PairLimitError, match=r"list\d+\.csv:4: IMEI .* would have 3 white pairs"):
        check_pairs(NoStore(), batch, Mode.ADD, [(W, "crm")], 2)
