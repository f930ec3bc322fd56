"""ObservationStore.first_seen: when any node first saw an IMEI, with any IMSI (the device
rules' exemption, eir.policy)."""

from __future__ import annotations

from pathlib import Path

from eir.observations.record import Observed, PairRecord, Sighting
from eir.observations.store import ObservationStore

X, Y = "49015420323751", "49015420323752"


def test_first_seen_is_the_earliest_of_every_imsi_and_node(tmp_path: Path) -> None:
    store = ObservationStore(tmp_path / "obs", map_size_mb=8)
    try:
        assert store.first_seen(X) is None
        store.observe("n1", [Sighting(X, "001010000000001", 5_000_000)])
        store.observe("n1", [Sighting(X, "001010000000002", 4_000_000)])
        store.merge(
            [
                Observed(
                    X,
                    "001010000000003",
                    "n2",
                    PairRecord(3_000_000, 3_000_000, (3_000_000 // 86_400,), 1),
                )
            ]
        )
        store.observe("n1", [Sighting(Y, "001010000000001", 1_000_000)])  # the next IMEI
        assert store.first_seen(X) == 3_000_000
        assert store.first_seen(Y) == 1_000_000
        assert store.first_seen("49015420323753") is None
    finally:
        store.close()
