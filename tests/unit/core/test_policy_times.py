"""eir.policy.decide with entries that have times: due dates (notice), pending and expired
entries, judged at the injected clock."""

from __future__ import annotations

from eir.config import PolicyConfig, parse_config
from eir.identity import Imei
from eir.model import (
    CheckRequest,
    CheckResult,
    Entry,
    EntryState,
    EquipmentStatus,
    Hits,
    Level,
    ListName,
    Match,
    Rule,
    StoreClass,
    entry_state,
    is_expired,
)
from eir.policy import decide

KEY = "49015420323751"
DUE = 1_800_000_000
BEFORE, AFTER = DUE - 1, DUE


def at(hits: Hits, now: float, settings: PolicyConfig | None = None) -> CheckResult:
    return decide(
        CheckRequest(Imei.parse(KEY)),
        lambda key, imsi: hits,
        settings or PolicyConfig(),
        clock=lambda: now,
    )


def imei(list_name: ListName, *, effective: int = 0, expires: int = 0, source: str = "s") -> Match:
    return Match(Level.IMEI, KEY, Entry(list_name, source, effective=effective, expires=expires))


def test_states() -> None:
    black = Entry(ListName.BLACK, "s", effective=DUE, expires=DUE + 10)
    grey = black._replace(list=ListName.GREY)
    assert entry_state(black, BEFORE) is EntryState.NOTICE
    assert entry_state(grey, BEFORE) is EntryState.PENDING
    assert entry_state(black, AFTER) is EntryState.IN_FORCE
    assert entry_state(black, DUE + 10) is EntryState.EXPIRED
    assert entry_state(Entry(ListName.WHITE, "s"), 0) is EntryState.IN_FORCE


def test_a_grace_entry_answers_grey_then_black_at_its_due_date() -> None:
    hits = Hits(imei=(imei(ListName.BLACK, effective=DUE),))
    before = at(hits, BEFORE)
    assert (before.status, before.rule, before.notice) == (
        EquipmentStatus.GREYLISTED,
        Rule.IMEI,
        True,
    )
    assert before.explain().endswith("notice: black from 2027-01-15T08:00:00Z")
    after = at(hits, AFTER)
    assert (after.status, after.rule, after.notice) == (
        EquipmentStatus.BLACKLISTED,
        Rule.IMEI,
        False,
    )


def test_the_notice_answer_is_configured() -> None:
    settings = parse_config({"policy": {"notice": "white"}}).policy
    hits = Hits(imei=(imei(ListName.BLACK, effective=DUE),))
    assert at(hits, BEFORE, settings).status is EquipmentStatus.WHITELISTED


def test_expired_and_pending_entries_let_the_next_level_decide() -> None:
    ranges = (Match(Level.RANGE, KEY, Entry(ListName.GREY, "r"), last=KEY),)
    hits = Hits(imei=(imei(ListName.BLACK, expires=DUE),), ranges=ranges)
    assert at(hits, BEFORE).rule is Rule.IMEI
    assert (at(hits, AFTER).status, at(hits, AFTER).rule) == (
        EquipmentStatus.GREYLISTED,
        Rule.RANGE,
    )
    pending = Hits(imei=(imei(ListName.WHITE, effective=DUE),))
    assert at(pending, BEFORE).rule is Rule.UNKNOWN
    assert at(pending, AFTER).rule is Rule.IMEI


def test_the_answer_paths_inline_expiry_is_model_is_expired() -> None:
    # eir.policy keeps the expiry test inline on the answer path: the same as is_expired
    for expires in (0, DUE):
        hits = Hits(imei=(imei(ListName.BLACK, expires=expires),))
        for now in (DUE - 1, DUE, DUE + 1):
            matched = at(hits, now).rule is Rule.IMEI
            assert matched is not is_expired(expires, now), (expires, now)
            state = entry_state(hits.imei[0].entry, now)
            assert (state is EntryState.EXPIRED) is is_expired(expires, now)


def test_an_entry_in_force_beats_one_in_its_notice_by_precedence() -> None:
    hits = Hits(imei=(imei(ListName.BLACK, effective=DUE, source="a"), imei(ListName.WHITE)))
    result = at(hits, BEFORE)  # the notice entry counts as grey: grey before white
    assert (result.status, result.notice) == (EquipmentStatus.GREYLISTED, True)


def test_a_learnt_class_before_its_due_date_answers_its_notice() -> None:
    settings = parse_config({"policy": {"classes": {"duplicate": "black"}}}).policy
    klass = Match(Level.CLASS, KEY, Entry(ListName.GREY, StoreClass.DUPLICATE.value, effective=DUE))
    hits = Hits(classes=(klass,))
    before = at(hits, BEFORE, settings)
    assert (before.status, before.rule, before.notice) == (
        EquipmentStatus.GREYLISTED,
        Rule.CLASS,
        True,
    )
    after = at(hits, AFTER, settings)
    assert (after.status, after.notice) == (EquipmentStatus.BLACKLISTED, False)


def test_the_clock_is_not_read_for_entries_without_times() -> None:
    def clock() -> float:
        raise AssertionError("read")

    hits = Hits(imei=(imei(ListName.BLACK),))
    result = decide(CheckRequest(Imei.parse(KEY)), lambda k, i: hits, PolicyConfig(), clock=clock)
    assert result.status is EquipmentStatus.BLACKLISTED
