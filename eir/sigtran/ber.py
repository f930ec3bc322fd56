"""A bounds-checked BER reader (ITU-T X.690) for the TCAP messages we parse ourselves.

`read(buf, pos, end)` returns one TLV: its identifier octet(s) as an int, where its contents
start and stop, and where the next TLV starts. Definite and indefinite lengths are both read;
anything that runs past `end` raises BerError. Indefinite lengths are followed to their
end-of-contents at most `MAX_DEPTH` levels deep.

`walk(buf)` checks a whole message, every constructed element down to its leaves, against
`MAX_DEPTH` and `MAX_ELEMENTS` before pycrate's decoder sees it (issue 13: pycrate 0.8.1's BER
decoder measured linear on nested TLVs here, unlike its Diameter one, but the bound is ours).
"""

from __future__ import annotations

from typing import NamedTuple

#: Nesting depth of a TCAP message. The deepest real one, a Begin with a MAP-OpenInfo in the
#: dialogue portion and an extension container in a v3 argument, is about 10 levels.
MAX_DEPTH = 16
#: Elements (TLVs) in one TCAP message: every element takes 2 bytes at least, and SCCP UDT and
#: XUDT carry at most 255 bytes of TCAP, so a real message holds far fewer.
MAX_ELEMENTS = 256


class BerError(Exception):
    pass


class Work:
    """TLV headers read by `read` (the fuzz tests hold it to a bound linear in the length)."""

    reads = 0


class Tlv(NamedTuple):
    tag: int  # the identifier octets, big-endian (0x62 for a Begin, 0x9F21 for [33]...)
    start: int
    stop: int
    next: int


def read(buf: bytes, pos: int, end: int, depth: int = 0) -> Tlv:
    """The TLV at `pos`, which must end by `end` (X.690 8.1)."""
    Work.reads += 1
    if depth > MAX_DEPTH:
        raise BerError("nesting too deep")
    if pos >= end:
        raise BerError("no identifier octet")
    tag = buf[pos]
    pos += 1
    if tag & 0x1F == 0x1F:  # high tag number form
        tag, pos = _high_tag(buf, tag, pos, end)
    if pos >= end:
        raise BerError("no length octet")
    first = buf[pos]
    pos += 1
    if first < 0x80:
        stop = pos + first
        if stop > end:
            raise BerError(f"a length of {first} runs past the end")
        return Tlv(tag, pos, stop, stop)
    if first == 0x80:
        return _indefinite(buf, tag, pos, end, depth)
    count = first & 0x7F
    if count > 3 or end - pos < count:
        raise BerError(f"a length of {count} octets")
    size = int.from_bytes(buf[pos : pos + count], "big")
    pos += count
    if pos + size > end:
        raise BerError(f"a length of {size} runs past the end")
    return Tlv(tag, pos, pos + size, pos + size)


def _high_tag(buf: bytes, tag: int, pos: int, end: int) -> tuple[int, int]:
    """The identifier octets of a tag in the high tag number form (X.690 8.1.2.4), at most 5,
    and where its length starts."""
    for _ in range(4):
        if pos >= end:
            raise BerError("a truncated tag")
        octet = buf[pos]
        tag = tag << 8 | octet
        pos += 1
        if not octet & 0x80:
            return tag, pos
    raise BerError("a tag longer than 5 octets")


def _indefinite(buf: bytes, tag: int, pos: int, end: int, depth: int) -> Tlv:
    """A constructed TLV of indefinite length (X.690 8.1.3.6): its contents run to the
    end-of-contents octets, read one TLV at a time."""
    if not tag & 0x20 and tag <= 0xFF:
        raise BerError("an indefinite length on a primitive")
    inner = pos
    while True:
        if end - inner >= 2 and buf[inner] == 0 and buf[inner + 1] == 0:
            return Tlv(tag, pos, inner, inner + 2)
        inner = read(buf, inner, end, depth + 1).next


def children(buf: bytes, tlv: Tlv, depth: int = 0) -> list[Tlv]:
    out = []
    pos = tlv.start
    while pos < tlv.stop:
        child = read(buf, pos, tlv.stop, depth + 1)
        out.append(child)
        pos = child.next
    return out


def _constructed(tag: int) -> bool:
    while tag > 0xFF:
        tag >>= 8
    return bool(tag & 0x20)


def walk(buf: bytes, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS) -> int:
    """Check that `buf` is exactly one TLV whose every constructed element parses, at most
    `max_depth` levels deep and `max_elements` elements in all; returns the element count."""
    top = read(buf, 0, len(buf))
    if top.next != len(buf):
        raise BerError(f"{len(buf) - top.next} bytes after the message")
    count = 1
    stack = [(top, 1)]
    while stack:
        tlv, depth = stack.pop()
        if not _constructed(tlv.tag):
            continue
        pos = tlv.start
        while pos < tlv.stop:
            if depth >= max_depth:
                raise BerError(f"nested deeper than {max_depth} levels")
            child = read(buf, pos, tlv.stop, depth)
            count += 1
            if count > max_elements:
                raise BerError(f"more than {max_elements} elements")
            stack.append((child, depth + 1))
            pos = child.next
    return count


def encode_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return (
        tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
        + encode_length(len(content))
        + content
    )
