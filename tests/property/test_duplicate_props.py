"""The merge is idempotent and detect() a function of the merged state only: any order and any
repetition of deltas, merged into a store or into a dict, give the same records and findings.
And a received delta is either decoded or refused with an ObservationError, never anything else.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterable, Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.config.keys import DIRBS_RULE, DuplicateRuleConfig
from eir.observations.delta import decode_delta, encode_delta
from eir.observations.duplicate import detect
from eir.observations.record import DAY, ObservationError, Observed, PairRecord, merge
from eir.observations.store import ObservationStore

IMEIS = ["35209900176148", "49015420323751"]
IMSIS = [f"00101{n:010d}" for n in range(6)]
NODES = ["n1", "n2", "n3"]
D0 = 20_000
RULES = [
    DIRBS_RULE,
    DuplicateRuleConfig(name="quick", kind="daily-average", min_average=1.5, min_days=2),
    DuplicateRuleConfig(name="together", kind="concurrent", min_imsis=2, minutes=30),
]


@st.composite
def records(draw: st.DrawFn) -> PairRecord:
    days = sorted(draw(st.sets(st.integers(D0, D0 + 40), min_size=1, max_size=8)))
    first = days[0] * DAY + draw(st.integers(0, DAY - 1))
    last = days[-1] * DAY + draw(st.integers(0, DAY - 1))
    if len(days) == 1 and last < first:
        first, last = last, first
    return PairRecord(first, last, tuple(days), draw(st.integers(1, 50)))


observed = st.builds(
    Observed, st.sampled_from(IMEIS), st.sampled_from(IMSIS), st.sampled_from(NODES), records()
)
deltas = st.lists(st.lists(observed, min_size=1, max_size=6), min_size=1, max_size=6)


def merged(batches: Iterable[Sequence[Observed]]) -> dict[tuple[str, str, str], PairRecord]:
    state: dict[tuple[str, str, str], PairRecord] = {}
    for batch in batches:
        for o in batch:
            key = (o.imei, o.imsi, o.node)
            state[key] = merge(state[key], o.record) if key in state else o.record
    return state


def findings(state: dict[tuple[str, str, str], PairRecord]) -> list[object]:
    now = max(r.last for r in state.values())
    out: list[object] = []
    for imei in IMEIS:
        pairs = [Observed(*k, r) for k, r in sorted(state.items()) if k[0] == imei]
        out.extend(detect(pairs, now, RULES))
    return out


@given(deltas, st.randoms(use_true_random=False))
def test_any_order_and_repetition_gives_the_same_records_and_findings(
    batches: list[list[Observed]], rnd: object
) -> None:
    reference = merged(batches)
    shuffled = [*batches, *batches[: len(batches) // 2]]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    again = merged(shuffled)
    assert again == reference
    assert findings(again) == findings(reference)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deltas, st.permutations(range(12)))
def test_a_store_merging_deltas_in_any_order_holds_the_same_state(
    batches: list[list[Observed]], order: list[int]
) -> None:
    reference = merged(batches)
    raw = [
        message
        for batch in batches
        for node in NODES
        for message in encode_delta(node, [o for o in batch if o.node == node])
    ]
    twice = raw + raw
    sequence = [twice[i] for i in order if i < len(twice)] + raw[::-1]
    with tempfile.TemporaryDirectory() as tmp:
        store = ObservationStore(f"{tmp}/obs")
        for message in sequence:
            store.merge(decode_delta(message).pairs)
        held = {(o.imei, o.imsi, o.node): o.record for o in store.scan()}
        store.close()
    assert held == reference
    assert findings(held) == findings(reference)


@given(st.binary(max_size=300))
def test_random_bytes_are_decoded_or_refused(raw: bytes) -> None:
    with contextlib.suppress(ObservationError):
        decode_delta(raw)


def mutate(value: object, data: st.DataObject) -> object:
    return data.draw(
        st.sampled_from(
            [None, True, -1, 2**70, 1.5, "", "x" * 300, [], {}, "3520990017614", [1, 2]]
            + ([value] if value is not None else [])
        )
    )


@given(st.lists(observed, min_size=1, max_size=3), st.data())
def test_mutated_deltas_are_decoded_or_refused(pairs: list[Observed], data: st.DataObject) -> None:
    pairs = [o._replace(node="n1") for o in pairs]
    doc = json.loads(next(encode_delta("n1", pairs)))
    where = data.draw(st.sampled_from(["v", "node", "pairs", "row", "field", "extra"]))
    if where in ("v", "node", "pairs"):
        doc[where] = mutate(doc[where], data)
    elif where == "row":
        doc["pairs"][0] = mutate(doc["pairs"][0], data)
    elif where == "field":
        row = doc["pairs"][0]
        index = data.draw(st.integers(0, len(row) - 1))
        row[index] = mutate(row[index], data)
    else:
        doc["more"] = 1
    with contextlib.suppress(ObservationError):
        decode_delta(json.dumps(doc).encode())
