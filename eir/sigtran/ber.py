"""A bounds-checked BER reader (ITU-T X.690) for the TCAP messages we parse ourselves.

`read(buf, pos, end)` returns one TLV: its identifier octet(s) as an int, where its contents
start and stop, and where the next TLV starts. Definite and indefinite lengths are both read;
anything that runs past `end` raises BerError. No recursion limit is needed beyond Python's:
indefinite lengths nest at most as deep as the bytes allow, and TCAP messages are small.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_DEPTH = 32


class BerError(Exception):
    pass


class Tlv(NamedTuple):
    tag: int  # the identifier octets, big-endian (0x62 for a Begin, 0x9F21 for [33]...)
    start: int
    stop: int
    next: int


def read(buf: bytes, pos: int, end: int, depth: int = 0) -> Tlv:
    if depth > MAX_DEPTH:
        raise BerError("nesting too deep")
    if pos >= end:
        raise BerError("no identifier octet")
    tag = buf[pos]
    pos += 1
    if tag & 0x1F == 0x1F:  # high tag number form
        for _ in range(4):
            if pos >= end:
                raise BerError("a truncated tag")
            octet = buf[pos]
            tag = tag << 8 | octet
            pos += 1
            if not octet & 0x80:
                break
        else:
            raise BerError("a tag longer than 5 octets")
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
        if not tag & 0x20 and tag <= 0xFF:
            raise BerError("an indefinite length on a primitive")
        inner = pos
        while True:
            if end - inner >= 2 and buf[inner] == 0 and buf[inner + 1] == 0:
                return Tlv(tag, pos, inner, inner + 2)
            inner = read(buf, inner, end, depth + 1).next
    count = first & 0x7F
    if count > 3 or end - pos < count:
        raise BerError(f"a length of {count} octets")
    size = int.from_bytes(buf[pos : pos + count], "big")
    pos += count
    if pos + size > end:
        raise BerError(f"a length of {size} runs past the end")
    return Tlv(tag, pos, pos + size, pos + size)


def children(buf: bytes, tlv: Tlv, depth: int = 0) -> list[Tlv]:
    out = []
    pos = tlv.start
    while pos < tlv.stop:
        child = read(buf, pos, tlv.stop, depth + 1)
        out.append(child)
        pos = child.next
    return out


def encode_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big") + encode_length(len(content)) \
        + content
