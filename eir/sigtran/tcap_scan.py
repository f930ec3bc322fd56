"""The fast reader of a TCAP Begin (ITU-T Q.773 4.2.1) carrying MAP CheckIMEI, with `ber`.

`scan_begin` returns the transaction id, the application context its AARQ asks for and each
component, or None when the Begin is not in a shape it knows (then `eir.sigtran.tcap` decodes
it with pycrate). It never trusts a length: every TLV is bounds-checked by `eir.sigtran.ber`.
`scan_begin_one_pass` reads the most common Begin in one pass; `scan_begin_general` any
Begin of definite or indefinite lengths (the fuzz tests hold the two equal).
"""

from __future__ import annotations

from typing import NamedTuple

from eir.sigtran import ber
from eir.sigtran.ber import BerError, Tlv

BEGIN = 0x62
OTID = 0x48
DIALOGUE_PORTION = 0x6B
COMPONENTS = 0x6C
EXTERNAL = 0x28
INVOKE = 0xA1
# 0.0.17.773.1.1.1 (dialogue-as-id)
DIALOGUE_AS_OID = bytes.fromhex("00118605010101")
# 0.4.0.0.1.0.13 (equipmentMngtContext), the version follows
EQUIPMENT_MNGT_OID = bytes.fromhex("04000001000d")


#: the application context of each distinct dialogue portion read (an MSC sends the same AARQ
#: bytes every time: each is read once), None when it is not a plain AARQ
_ACN_SEEN: dict[bytes, bytes | None] = {}
#: a one-octet INTEGER's value, by octet
_SIGNED = tuple(b - 256 if b & 0x80 else b for b in range(256))


class ComponentScan(NamedTuple):
    tag: int  # 0xA1 invoke, 0xA2/0xA7 returnResult, 0xA3 returnError, 0xA4 reject
    invoke_id: int | None
    opcode: int | None  # a local opcode; None for a global one or for other components
    parameter: Tlv | None
    trailing: tuple[Tlv, ...]  # elements after the parameter (a vendor's IMSI, say)


class BeginScan(NamedTuple):
    otid: bytes
    dialogue: bool
    acn: bytes | None  # the application-context-name OID contents
    components: tuple[ComponentScan, ...]


def _int(buf: bytes, tlv: Tlv) -> int:
    if not 1 <= tlv.stop - tlv.start <= 4:
        raise BerError("an INTEGER of 0 or more than 4 octets")
    return int.from_bytes(buf[tlv.start : tlv.stop], "big", signed=True)


def _acn(buf: bytes, portion: Tlv) -> bytes | None:
    """The ACN of an AARQ inside a dialogue portion, or None when it is not a plain AARQ."""
    inside = ber.children(buf, portion)
    if len(inside) != 1 or inside[0].tag != EXTERNAL:
        return None
    external = inside[0]
    parts = ber.children(buf, external)
    if len(parts) != 2 or parts[0].tag != 0x06:
        return None
    if buf[parts[0].start : parts[0].stop] != DIALOGUE_AS_OID or parts[1].tag != 0xA0:
        return None
    inner = ber.children(buf, parts[1])
    if len(inner) != 1 or inner[0].tag != 0x60:  # AARQ-apdu [APPLICATION 0]
        return None
    for field in ber.children(buf, inner[0]):
        if field.tag == 0xA1:
            names = ber.children(buf, field)
            if len(names) != 1 or names[0].tag != 0x06:
                return None
            return buf[names[0].start : names[0].stop]
    return None


def scan_begin(buf: bytes) -> BeginScan | None:
    """The Begin's transaction id, context and components, or None (pycrate then decodes it)."""
    found = scan_begin_one_pass(buf)
    return found if found is not None else scan_begin_general(buf)


def scan_begin_one_pass(buf: bytes) -> BeginScan | None:
    """The most common Begin in one pass: short lengths, a dialogue portion seen before (or
    none), one Invoke with a local opcode and an OCTET STRING or SEQUENCE parameter. Returns
    exactly what `scan_begin_general` would, or None to let it decide."""
    n = len(buf)
    if n < 12 or buf[0] != BEGIN or buf[1] >= 0x80 or buf[1] + 2 != n or buf[2] != OTID:
        return None
    size = buf[3]
    if not 1 <= size <= 4:
        return None
    pos = 4 + size
    otid = buf[4:pos]
    acn = None
    dialogue = False
    if pos + 2 <= n and buf[pos] == DIALOGUE_PORTION:
        end = pos + 2 + buf[pos + 1]
        if buf[pos + 1] >= 0x80 or end > n:
            return None
        acn = _ACN_SEEN.get(buf[pos + 2 : end])  # None: not seen, or not a plain AARQ
        if acn is None:
            return None
        dialogue = True
        pos = end
    if (
        pos + 4 > n
        or buf[pos] != COMPONENTS
        or buf[pos + 1] >= 0x80
        or pos + 2 + buf[pos + 1] != n
        or buf[pos + 2] != INVOKE
        or buf[pos + 3] >= 0x80
        or pos + 4 + buf[pos + 3] != n
    ):
        return None
    p = pos + 4
    if p + 6 > n or buf[p : p + 2] != b"\x02\x01" or buf[p + 3 : p + 5] != b"\x02\x01":
        return None
    invoke_id = _SIGNED[buf[p + 2]]
    opcode = _SIGNED[buf[p + 5]]
    p += 6
    parameter = None
    if p < n:
        if p + 2 > n or buf[p] not in (0x04, 0x30) or buf[p + 1] >= 0x80 or p + 2 + buf[p + 1] != n:
            return None
        parameter = Tlv(buf[p], p + 2, n, n)
    return BeginScan(
        otid, dialogue, acn, (ComponentScan(INVOKE, invoke_id, opcode, parameter, ()),)
    )


def _seen_acn(buf: bytes, portion: Tlv) -> bytes | None:
    """`_acn` of a dialogue portion, read once per distinct portion (`_ACN_SEEN`)."""
    raw = buf[portion.start : portion.stop]
    if raw in _ACN_SEEN:
        return _ACN_SEEN[raw]
    acn = _acn(buf, portion)
    if len(_ACN_SEEN) < 1024:
        _ACN_SEEN[raw] = acn
    return acn


def scan_begin_general(buf: bytes) -> BeginScan | None:
    """Any Begin our reader knows (definite or indefinite lengths, several components), or
    None when pycrate must decide."""
    try:
        top = ber.read(buf, 0, len(buf))
        if top.tag != BEGIN or top.next != len(buf):
            return None
        parts = ber.children(buf, top)
        if not parts or parts[0].tag != OTID or not 1 <= parts[0].stop - parts[0].start <= 4:
            return None
        otid = buf[parts[0].start : parts[0].stop]
        acn = None
        dialogue = False
        components: list[ComponentScan] = []
        for part in parts[1:]:
            if part.tag == DIALOGUE_PORTION and not dialogue and not components:
                dialogue = True
                acn = _seen_acn(buf, part)
                if acn is None:
                    return None
            elif part.tag == COMPONENTS and not components:
                for comp in ber.children(buf, part):
                    components.append(_component(buf, comp))
            else:
                return None
        return BeginScan(otid, dialogue, acn, tuple(components))
    except BerError:
        return None


def _component(buf: bytes, comp: Tlv) -> ComponentScan:
    fields = ber.children(buf, comp)
    if comp.tag != INVOKE:
        invoke_id = _int(buf, fields[0]) if fields and fields[0].tag == 0x02 else None
        return ComponentScan(comp.tag, invoke_id, None, None, ())
    if len(fields) < 2 or fields[0].tag != 0x02:
        raise BerError("an Invoke without its invokeId")
    invoke_id = _int(buf, fields[0])
    rest = fields[1:]
    if rest and rest[0].tag == 0x80:  # linkedId
        rest = rest[1:]
    if not rest:
        raise BerError("an Invoke without its operation code")
    opcode = _int(buf, rest[0]) if rest[0].tag == 0x02 else None
    parameter = rest[1] if len(rest) > 1 else None
    return ComponentScan(INVOKE, invoke_id, opcode, parameter, tuple(rest[2:]))
