"""TCAP/MAP: any bytes give an answer pycrate can decode, or nothing (never a crash); and the
two readers of a Begin (ours and pycrate) extract the same values from 6,000 one-byte mutants."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eir.sigtran import checkimei
from eir.sigtran.checkimei import MistypedError
from eir.sigtran.tcap_scan import INVOKE, scan_begin
from tests.support.sigtran import MSG, WHITE, argument, begin, check_imei, decoded, invoke, server

SERVER = server()
SEEDS = [
    check_imei(1),
    check_imei(2),
    check_imei(3),
    check_imei(3, WHITE),
    begin(2, [invoke(argument(2, WHITE), 5), invoke(argument(2, WHITE), 6, opcode=45)]),
]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _answer(buf: bytes) -> None:
    out = SERVER.answer(buf)
    if out is not None:
        decoded(out)


@FUZZ
@given(st.binary(max_size=120))
def test_any_bytes(buf: bytes) -> None:
    _answer(buf)


@FUZZ
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
)
def test_mutated_begins(seed: bytes, edits: list[tuple[int, int]]) -> None:
    buf = bytearray(seed)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    _answer(bytes(buf))


def _ours(buf: bytes) -> Any:
    scanned = scan_begin(buf)
    if scanned is None:
        return None
    comps = []
    for c in scanned.components:
        if c.tag != INVOKE:
            return None
        param = (
            None
            if c.parameter is None
            else (c.parameter.tag, buf[c.parameter.start : c.parameter.stop])
        )
        comps.append((c.invoke_id, c.opcode, param))
    return (scanned.otid, scanned.acn, comps)


def _theirs(buf: bytes) -> Any:
    try:
        MSG.from_ber(buf, single=True)
        kind, body = MSG.get_val()
    except Exception:  # noqa: BLE001  (pycrate raises any type on bad bytes: not a Begin)
        return None
    if kind != "begin":
        return None
    acn = None
    if "dialoguePortion" in body:
        pdu = body["dialoguePortion"]["encoding"][1][1]
        if pdu[0] != "dialogueRequest":
            return None
        name = pdu[1]["application-context-name"]
        acn = name
    comps = []
    for comp in body.get("components", []):
        ckind, value = comp[1]
        if ckind != "invoke" or value["invokeId"][0] != "present":
            return None
        opcode = value["opcode"][1] if value["opcode"][0] == "local" else None
        arg = value.get("argument")
        try:
            octets = None if arg is None else checkimei.imei_octets(arg)
        except MistypedError:
            octets = b"?"
        comps.append((value["invokeId"][1], opcode, octets))
    return (body["otid"], acn, comps)


def _same(ours: Any, theirs: Any) -> bool:
    otid, acn, comps = ours
    t_otid, t_acn, t_comps = theirs
    if otid != t_otid or len(comps) != len(t_comps):
        return False
    if t_acn is not None and acn is not None:
        version = checkimei.version_of(tuple(t_acn))
        if version is not None and acn != bytes.fromhex("04000001000d") + bytes([version]):
            return False
    for (iid, op, param), (t_iid, t_op, t_octets) in zip(comps, t_comps, strict=True):
        if iid != t_iid or op != t_op:
            return False
        if t_octets not in (None, b"?") and param is not None:
            tag, raw = param
            mine = raw if tag == 0x04 else raw[2:10]
            if mine != t_octets:
                return False
    return True


def test_mutants_both_readers_agree() -> None:
    rng = random.Random(43)
    both = 0
    for i in range(6000):
        buf = bytearray(SEEDS[i % len(SEEDS)])
        pos = rng.randrange(len(buf))
        buf[pos] = rng.choice((rng.randrange(256), buf[pos] ^ (1 << rng.randrange(8))))
        data = bytes(buf)
        ours = _ours(data)
        if ours is None:
            continue
        theirs = _theirs(data)
        if theirs is None:
            continue
        both += 1
        assert _same(ours, theirs), (pos, data.hex(), ours, theirs)
    assert both > 1000, both


def test_one_pass_reader_equals_the_general_one_on_mutants() -> None:
    from eir.sigtran.tcap_scan import scan_begin_general, scan_begin_one_pass

    for seed in SEEDS:
        scan_begin(seed)  # let the general reader see each AARQ once
    rng = random.Random(44)
    fast_hits = 0
    for i in range(6000):
        buf = bytearray(SEEDS[i % len(SEEDS)])
        if i % 3:
            pos = rng.randrange(len(buf))
            buf[pos] = rng.choice((rng.randrange(256), buf[pos] ^ (1 << rng.randrange(8))))
        data = bytes(buf)
        fast = scan_begin_one_pass(data)
        if fast is None:
            continue
        fast_hits += 1
        assert fast == scan_begin_general(data), data.hex()
    assert fast_hits > 1000
