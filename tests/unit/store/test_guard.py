"""The replace guard (eir.store.guard): a replace removing more than its limit of a (list,
source) is refused with nothing changed; a first load never is."""

from __future__ import annotations

import pytest

from eir.errors import ConfigError
from eir.model import ListName
from eir.store.api import ListStore, Mode
from eir.store.guard import RemoveLimit, ReplaceRefusedError, limit_of
from tests.conftest import BatchOf

B, G = ListName.BLACK, ListName.GREY


def imeis(first: int, count: int) -> str:
    return "".join(f"{35000000000000 + n}\n" for n in range(first, first + count))


def test_parse() -> None:
    assert RemoveLimit.parse("10%").allowed(2_000_000) == 200_000
    assert RemoveLimit.parse("2.5%").allowed(1000) == 25
    assert RemoveLimit.parse("0%").allowed(1000) == 0
    assert RemoveLimit.parse("5000").allowed(10) == 5000
    assert limit_of(None, "3").count == 3
    assert limit_of("7", "3").count == 7
    with pytest.raises(ConfigError, match=r"--max-remove: 'ten' is not a count \(5000\)"):
        RemoveLimit.parse("ten")
    with pytest.raises(ConfigError, match=r"store\.max_remove: .150%. is over 100%"):
        limit_of(None, "150%")


def test_over_the_limit_is_refused_and_nothing_changes(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(imeis(0, 20), source="police"), Mode.ADD, [(B, "police")])
    before = store.stats().digest
    limit = RemoveLimit.parse("10%")
    with pytest.raises(ReplaceRefusedError) as refused:
        store.apply(
            batch_of(imeis(0, 17), source="police"),
            Mode.REPLACE,
            [(B, "police")],
            max_remove=limit,
        )
    assert str(refused.value) == (
        "replace would remove 3 of 20 black/police entries (15.0 %), over --max-remove 10% (2): "
        "nothing changed (check the file, or use --force)"
    )
    assert store.stats().digest == before
    assert len(store.stats().history) == 1
    s = store.apply(  # at the limit: allowed
        batch_of(imeis(0, 18), source="police"), Mode.REPLACE, [(B, "police")], max_remove=limit
    )
    assert s.removed == 2


def test_count_limit_and_other_sources(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(imeis(0, 10), source="police"), Mode.ADD, [(B, "police")])
    store.apply(batch_of(imeis(0, 10), source="other"), Mode.ADD, [(B, "other")])
    with pytest.raises(
        ReplaceRefusedError,
        match=r"remove 9 of 10 black/police entries \(90\.0 %\), over --max-remove 5: ",
    ):
        store.apply(
            batch_of(imeis(0, 1), source="police"),
            Mode.REPLACE,
            [(B, "police")],
            max_remove=RemoveLimit.parse("5"),
        )
    s = store.apply(  # no limit (--force)
        batch_of(imeis(0, 1), source="police"), Mode.REPLACE, [(B, "police")]
    )
    assert (s.removed, s.unchanged) == (9, 1)
    assert store.stats().counts == {"imei/black/other": 10, "imei/black/police": 1}


def test_a_first_load_is_never_refused(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(imeis(0, 10), source="other"), Mode.ADD, [(B, "other")])
    s = store.apply(
        batch_of(imeis(5, 10), source="police"),
        Mode.REPLACE,
        [(B, "police")],
        max_remove=RemoveLimit.parse("0"),
    )
    assert (s.added, s.removed) == (10, 0)


def test_almost_all_removed_is_not_shown_as_100(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(imeis(0, 2000), source="p", list=G), Mode.ADD, [(G, "p")])
    with pytest.raises(ReplaceRefusedError, match=r"remove 1999 of 2000 grey/p entries \(99.9 %\)"):
        store.apply(
            batch_of(imeis(0, 1), source="p", list=G),
            Mode.REPLACE,
            [(G, "p")],
            max_remove=RemoveLimit.parse("10%"),
        )


def test_remove_counts_what_is_not_listed(store: ListStore, batch_of: BatchOf) -> None:
    store.apply(batch_of(imeis(0, 2), source="police"), Mode.ADD, [(B, "police")])
    s = store.apply(batch_of(imeis(1, 3), source="police"), Mode.REMOVE, [(B, "police")])
    assert (s.removed, s.missing, s.unchanged) == (1, 2, 0)
    assert s.line().startswith("added 0, updated 0, removed 1, not listed 2, unchanged 0,")
