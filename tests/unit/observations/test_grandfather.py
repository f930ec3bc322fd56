"""Which observed pairs grandfathering takes: first seen before the cut-off on any node (the
nodes' records merged), white ones kept, the limit kept by days seen then first seen."""

from __future__ import annotations

from eir.observations.grandfather import Candidate, grandfather, merged
from eir.observations.record import DAY, Observed, PairRecord

X, Y = "49015420323751", "35693803564380"
A, B, C, D = "001010000000001", "001010000000002", "001010000000003", "001010000000004"


def seen(imei: str, imsi: str, node: str, first_day: int, days: int) -> Observed:
    record = PairRecord(
        first_day * DAY, (first_day + days - 1) * DAY, tuple(range(first_day, first_day + days)), 1
    )
    return Observed(imei, imsi, node, record)


def test_the_nodes_records_merge() -> None:
    both = merged([seen(X, A, "n1", 10, 2), seen(X, A, "n2", 8, 1), seen(X, A, "n3", 11, 3)])
    assert both == {(X, A): Candidate(X, A, 8 * DAY, 5)}  # days 8, 10, 11, 12, 13


def test_cut_off_limit_and_white_pairs() -> None:
    records = [
        seen(X, A, "n1", 10, 1),
        seen(X, B, "n1", 10, 3),
        seen(X, C, "n1", 9, 3),  # as many days as B, seen earlier: before B
        seen(X, D, "n1", 20, 5),  # after the cut-off
        seen(Y, A, "n2", 5, 1),
    ]
    white = {Y: {A}}
    found = grandfather(records, 20 * DAY, lambda imei: white.get(imei, ()), 2)
    assert [(c.imei, c.imsi) for c in found.chosen] == [(X, B), (X, C)]
    assert (found.seen, found.imeis, found.already, found.left_out) == (4, 2, 1, 1)
    found = grandfather(records, 20 * DAY, lambda imei: {A, D} if imei == X else (), 2)
    chosen = [(c.imei, c.imsi) for c in found.chosen]
    assert (chosen, found.already, found.left_out) == ([(Y, A)], 1, 2)  # X full already
    found = grandfather(records, 20 * DAY, lambda imei: (), 0, imeis={Y})
    assert [(c.imei, c.imsi) for c in found.chosen] == [(Y, A)]
