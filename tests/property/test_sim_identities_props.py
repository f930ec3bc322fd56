"""For any IMEIs, IMSIs, observations and list entries, the answer the simulator expects (its
store: the lists, and the duplicate class it derives from the deltas, repeated and shuffled)
equals `eir.policy.decide` over the store the daemon ends with (the class of
`eir.observations.duplicate.detect` over each IMEI's records, merged once, applied as
`eir.store.classes` rows), over S13 and MAP v2."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from eir.config import PolicyConfig
from eir.config.keys import DIRBS_RULE, DuplicateRuleConfig
from eir.identity import Imei, Imsi
from eir.model import CheckRequest, Entry, ListName, StoreClass
from eir.observations.delta import decode_delta, encode_delta
from eir.observations.duplicate import detect
from eir.observations.record import DAY, Observed, PairRecord
from eir.policy import decide
from eir.store.api import Mode
from eir.store.batch import Batch, Group
from eir.store.classes import ClassRow, class_batch, class_scope
from eir.store.memory import MemoryStore
from eir.store.records import Table
from sim import mme_role as s13_role
from sim import msc_role as map_role
from sim.classes import DUPLICATE, clock, finding_rows, findings
from sim.workload import Draw, Lists

START = 20454
#: the DIRBS rule, and looser ones so that many examples hold duplicates
RULES = (
    DIRBS_RULE,
    DuplicateRuleConfig(
        name="loose", kind="daily-average", window_days=41, min_average=1.5, min_days=2
    ),
    DuplicateRuleConfig(name="same-day", kind="concurrent", window_days=41, minutes=1440),
)
IMEIS = st.lists(st.from_regex(r"[0-9]{14}", fullmatch=True), min_size=1, max_size=3, unique=True)
IMSIS = st.lists(st.from_regex(r"[0-9]{15}", fullmatch=True), min_size=1, max_size=6, unique=True)


@st.composite
def records(draw: st.DrawFn, imeis: list[str], imsis: list[str]) -> list[Observed]:
    out = []
    for imei in imeis:
        for imsi in draw(st.lists(st.sampled_from(imsis), max_size=6, unique=True)):
            for node in draw(st.lists(st.sampled_from(("n1", "n2")), min_size=1, unique=True)):
                days = draw(st.lists(st.integers(0, 40), min_size=1, max_size=12, unique=True))
                days.sort()
                first = (START + days[0]) * DAY + draw(st.integers(0, DAY - 1))
                last = max(first, (START + days[-1]) * DAY + draw(st.integers(0, DAY - 1)))
                record = PairRecord(
                    first, last, tuple(START + d for d in days), draw(st.integers(1, 50))
                )
                out.append(Observed(imei, imsi, node, record))
    return out


def _lists_batch(black: list[str], pairs: list[tuple[str, str]]) -> Batch:
    groups = []
    if black:
        groups.append(Group(Table.IMEI, ListName.BLACK, "sim", [i.encode() for i in sorted(black)]))
    if pairs:
        keys = sorted(f"{imei}{imsi}".encode() for imei, imsi in pairs)
        groups.append(Group(Table.PAIR, ListName.WHITE, "sim", keys))
    return Batch(groups=groups, rows=len(black) + len(pairs))


def _daemon_store(observed: list[Observed], lists: Batch) -> MemoryStore:
    """The store the daemon holds: each record once per node, each IMEI judged at the clock."""
    store = MemoryStore()
    store.apply(lists, Mode.ADD, [(ListName.BLACK, "sim"), (ListName.WHITE, "sim")], now=1)
    by_imei: dict[str, list[Observed]] = defaultdict(list)
    for o in observed:
        by_imei[o.imei].append(o)
    now = max(o.record.last for o in observed) if observed else 0
    rows = [
        ClassRow(f.imei, f.rule, f.figures_json(), f.time)
        for imei in sorted(by_imei)
        for f in detect(by_imei[imei], now, RULES)
    ]
    store.apply(
        class_batch(StoreClass.DUPLICATE, rows),
        Mode.REPLACE,
        class_scope(StoreClass.DUPLICATE),
        now=now,
    )
    return store


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), IMEIS, IMSIS, st.sampled_from(("white", "grey", "black", "ignore")))
def test_the_sims_expectation_is_the_daemons_decision(
    data: st.DataObject, imeis: list[str], imsis: list[str], duplicate: str
) -> None:
    observed = data.draw(records(imeis, imsis))
    black = data.draw(st.lists(st.sampled_from(imeis), unique=True))
    pairs = data.draw(
        st.lists(st.tuples(st.sampled_from(imeis), st.sampled_from(imsis)), unique=True)
    )
    # the deltas as a node publishes them, received twice and out of order
    sent = [o for node in ("n1", "n2") for o in observed if o.node == node]
    received = [
        p
        for node in ("n1", "n2")
        for raw in encode_delta(node, [o for o in sent if o.node == node], most=2)
        for p in decode_delta(raw).pairs
    ]
    received = data.draw(st.permutations(received + received))
    policy = PolicyConfig(classes={StoreClass.DUPLICATE: duplicate})
    sim_lists = Lists(MemoryStore(), [])
    sim_lists.store.apply(
        _lists_batch(black, pairs),
        Mode.ADD,
        [(ListName.BLACK, "sim"), (ListName.WHITE, "sim")],
        now=1,
    )
    found = findings(received, RULES)
    event(f"duplicates found: {bool(found)}")
    sim_lists.classify(DUPLICATE, finding_rows(found), clock(received))
    daemon = _daemon_store(observed, _lists_batch(black, pairs))
    for imei in imeis:
        for imsi in imsis:
            request = CheckRequest(Imei(imei), Imsi.trusted(imsi), "s13")
            answer = decide(request, daemon.lookup, policy)
            status = None if answer.status is None else int(answer.status)
            draw = Draw("shared", imei, imsi, "")
            s13_probe, _ = s13_role.probe(draw, policy, sim_lists.lookup)
            assert s13_probe.expected == s13_role.expected(status)
            map_probe, _ = map_role.probe(
                draw, map_role.MapOptions(version=2), policy, sim_lists.lookup
            )
            assert map_probe.imsi == imsi
            assert map_probe.expected == map_role.expected(status)


def test_an_entry_is_what_the_lists_batch_holds() -> None:
    store = MemoryStore()
    store.apply(
        _lists_batch(["01234567890123"], [("01234567890123", "001010000000001")]),
        Mode.ADD,
        [(ListName.BLACK, "sim"), (ListName.WHITE, "sim")],
        now=1,
    )
    hits = store.lookup("01234567890123", "001010000000001")
    assert hits.imei[0].entry == Entry(ListName.BLACK, "sim", added=1)
    assert hits.pair[0].entry.list is ListName.WHITE
