"""The observation core: pair records, their merge, the delta codec and the LMDB store."""

from __future__ import annotations

from pathlib import Path

import pytest

from eir.observations.delta import decode_delta, encode_delta
from eir.observations.record import (
    DAY,
    ObservationError,
    Observed,
    PairRecord,
    Sighting,
    add,
    decode,
    encode,
    merge,
    seen_at,
    trim,
)
from eir.observations.store import ObservationStore, PairingChange

IMEI, OTHER = "35209900176148", "49015420323751"
IMSI_A, IMSI_B = "001010123456789", "001010000000002"
T0 = 20_000 * DAY + 3600  # 2024-10-04T01:00:00Z


def test_a_record_round_trips_and_merges_idempotently() -> None:
    a = PairRecord(T0, T0 + 2 * DAY, (20_000, 20_002), 5)
    b = PairRecord(T0 + DAY, T0 + 3 * DAY, (20_001, 20_003), 7)
    assert decode(encode(a)) == a
    both = merge(a, b)
    assert both == PairRecord(T0, T0 + 3 * DAY, (20_000, 20_001, 20_002, 20_003), 7)
    assert merge(both, a) == both == merge(b, merge(a, b))
    assert add(a, seen_at(T0 + 2 * DAY)).checks == 6


def test_damaged_records_are_refused() -> None:
    raw = encode(PairRecord(T0, T0, (20_000,), 1))
    with pytest.raises(ObservationError, match="does not hold 1 days"):
        decode(raw[:-1])
    with pytest.raises(ObservationError, match="do not lie from first to last"):
        decode(encode(PairRecord(T0, T0, (19_999,), 1)))


def test_retention_trims_days_and_drops_old_records() -> None:
    record = PairRecord(T0, T0 + 3 * DAY, (20_000, 20_003), 2)
    assert trim(record, 20_001) == PairRecord(T0, T0 + 3 * DAY, (20_003,), 2)
    assert trim(record, 20_004) is None


def test_a_delta_round_trips_and_bad_ones_are_refused() -> None:
    pairs = [Observed(IMEI, IMSI_A, "n1", PairRecord(T0, T0, (20_000,), 1))]
    (raw,) = encode_delta("n1", pairs)
    assert decode_delta(raw).pairs == tuple(pairs)
    with pytest.raises(ObservationError, match=r"pair 0: IMSI '0010' is not"):
        decode_delta(raw.replace(IMSI_A.encode(), b"0010"))
    with pytest.raises(ObservationError, match="not JSON"):
        decode_delta(b"{")


def test_the_store_records_merges_publishes_and_purges(tmp_path: Path) -> None:
    store = ObservationStore(tmp_path / "obs")
    first = store.observe("n1", [Sighting(IMEI, IMSI_A, T0), Sighting(IMEI, IMSI_A, T0 + 5)])
    assert (first.pairs, first.new, first.changes) == (1, 1, ())
    swap = store.observe("n1", [Sighting(OTHER, IMSI_A, T0 + DAY)])
    assert swap.changes == (PairingChange("handset", OTHER, IMSI_A, (IMEI,), T0 + DAY),)
    (mine,) = store.pairs(IMEI)
    assert mine.record == PairRecord(T0, T0 + 5, (20_000,), 2)
    assert {o.imei for o in store.by_imsi(IMSI_A)} == {IMEI, OTHER}
    assert len(store.outbox(10)) == 2
    assert store.published(store.outbox(10)) == 2
    assert store.outbox(10) == []
    remote = Observed(IMEI, IMSI_B, "n2", PairRecord(T0, T0 + 2 * DAY, (20_000, 20_002), 9))
    assert store.merge([remote, remote]).changed == 1
    assert store.merge([remote]).changed == 0
    assert store.clock() == T0 + 2 * DAY
    assert store.outbox(10) == []
    assert store.purge(20_002) == (2, 1)
    assert [o.imsi for o in store.scan()] == [IMSI_B]
    assert store.by_imsi(IMSI_A) == []
    store.close()


def test_a_resync_request_marks_this_nodes_records_once(tmp_path: Path) -> None:
    store = ObservationStore(tmp_path / "obs")
    try:
        store.observe("n1", [(IMEI, "001010000000001", T0), (OTHER, "001010000000002", T0)])
        store.merge(decode_delta(next(encode_delta("n2", store.pairs(IMEI)))).pairs)
        store.merge(decode_delta(next(encode_delta("n1/x", store.pairs(OTHER)))).pairs)
        store.published(store.outbox(10))
        assert store.outbox(10) == []
        assert store.resend("n1", 100) == 2
        assert sorted(o.imei for o in store.outbox(10)) == [IMEI, OTHER]
        assert {o.node for o in store.outbox(10)} == {"n1"}
        store.published(store.outbox(10))
        assert store.resend("n1", 100) is None  # served already
        assert store.resend("n1", 99) is None
        assert store.outbox(10) == []
    finally:
        store.close()


def test_a_receiver_refuses_records_from_a_wrong_clock() -> None:
    (raw,) = encode_delta("n1", [Observed(IMEI, "001010000000001", "n1", seen_at(T0))])
    assert decode_delta(raw, now=T0 - DAY).pairs[0].record.last == T0
    with pytest.raises(ObservationError, match="later than this node's clock plus 86400 s"):
        decode_delta(raw, now=T0 - DAY - 1)
    (old,) = encode_delta("n1", [Observed(IMEI, "001010000000001", "n1", seen_at(5))])
    assert decode_delta(old).pairs  # no clock given: the simulator's days
    with pytest.raises(ObservationError, match="before 946684800"):
        decode_delta(old, now=T0)
