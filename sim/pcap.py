"""PDUs out of a capture: classic pcap (not pcapng), link types Ethernet (with VLAN tags), Linux
cooked (SLL), raw IP and BSD loopback; IPv4 and IPv6; TCP payloads put together per direction
and cut at the protocol's length fields (`eir.framing`), SCTP DATA chunks one PDU each.

Unfragmented packets only, TCP segments taken in capture order (no retransmission handling):
enough for the captures of a lab, and every rejected file gets a reason.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from eir.framing import Framing

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD_LE = struct.Struct("<IIII")
_RECORD_BE = struct.Struct(">IIII")


class PcapError(ValueError):
    pass


def _frames(data: bytes) -> tuple[int, Iterator[bytes]]:
    if len(data) < 24:
        raise PcapError("too short for a pcap header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        record, linktype = _RECORD_LE, struct.unpack("<I", data[20:24])[0]
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        record, linktype = _RECORD_BE, struct.unpack(">I", data[20:24])[0]
    elif magic == b"\x0a\x0d\x0d\x0a":
        raise PcapError("pcapng is not read; convert with: editcap -F pcap IN OUT")
    else:
        raise PcapError("not a pcap file")

    def frames() -> Iterator[bytes]:
        pos = 24
        while pos + 16 <= len(data):
            _sec, _frac, captured, _length = record.unpack_from(data, pos)
            pos += 16
            if pos + captured > len(data):
                raise PcapError("the last packet is cut short")
            yield data[pos : pos + captured]
            pos += captured

    return linktype & 0xFFFF, frames()


def _network(frame: bytes, linktype: int) -> tuple[int, bytes] | None:
    """(ethertype-like IP version, IP packet) or None."""
    if linktype == 1:  # Ethernet
        pos, ethertype = 12, int.from_bytes(frame[12:14], "big")
        while ethertype in (0x8100, 0x88A8):
            pos += 4
            ethertype = int.from_bytes(frame[pos : pos + 2], "big")
        return ethertype, frame[pos + 2 :]
    if linktype == 113:  # Linux cooked
        return int.from_bytes(frame[14:16], "big"), frame[16:]
    if linktype in (101, 12, 14):  # raw IP
        return (0x0800 if frame[:1] and frame[0] >> 4 == 4 else 0x86DD), frame
    if linktype == 0:  # BSD loopback: 4-byte family
        family = int.from_bytes(frame[:4], "little")
        return (0x0800 if family == 2 else 0x86DD), frame[4:]
    return None


def _transport(ethertype: int, packet: bytes) -> tuple[int, bytes, bytes, bytes] | None:
    """(protocol, source, destination, payload)."""
    if ethertype == 0x0800 and len(packet) >= 20:
        header = (packet[0] & 0x0F) * 4
        total = int.from_bytes(packet[2:4], "big") or len(packet)
        return packet[9], packet[12:16], packet[16:20], packet[header:total]
    if ethertype == 0x86DD and len(packet) >= 40:
        length = int.from_bytes(packet[4:6], "big")
        return packet[6], packet[8:24], packet[24:40], packet[40 : 40 + length]
    return None


def pdus(data: bytes, framing: Framing) -> list[tuple[str, bytes]]:
    """Every PDU of the capture with its direction (``src:port>dst:port``), in order."""
    linktype, frames = _frames(data)
    streams: dict[str, bytes] = {}
    out: list[tuple[str, bytes]] = []
    for frame in frames:
        network = _network(frame, linktype)
        if network is None:
            raise PcapError(f"link type {linktype} is not read (Ethernet, SLL, raw IP, loopback)")
        found = _transport(*network)
        if found is None:
            continue
        proto, src, dst, payload = found
        if len(payload) < 8:
            continue
        sport, dport = int.from_bytes(payload[0:2], "big"), int.from_bytes(payload[2:4], "big")
        way = f"{src.hex()}:{sport}>{dst.hex()}:{dport}"
        if proto == 6:
            streams[way] = _tcp(streams.get(way, b"") + _tcp_body(payload), framing, way, out)
        elif proto == 132:
            out.extend((way, pdu) for pdu in _sctp_data(payload))
    return out


def _tcp_body(segment: bytes) -> bytes:
    """A TCP segment's payload (after its Data Offset)."""
    return segment[(segment[12] >> 4) * 4 :]


def _tcp(buf: bytes, framing: Framing, way: str, out: list[tuple[str, bytes]]) -> bytes:
    """Append the complete PDUs of a direction's bytes to `out`; returns the rest. A length
    shorter than the length field itself is not skipped: the rest of the direction stays
    unread."""
    cut = framing.cut(buf, minimum=framing.length_offset + framing.length_size)
    out.extend((way, pdu) for pdu in cut.messages)
    return cut.rest


def _sctp_data(packet: bytes) -> Iterator[bytes]:
    """The user data of each DATA chunk of an SCTP packet (RFC 9260 section 3.3.1)."""
    pos = 12
    while pos + 4 <= len(packet):
        kind, length = packet[pos], int.from_bytes(packet[pos + 2 : pos + 4], "big")
        if length < 4:
            break
        if kind == 0 and length >= 16:  # DATA
            yield packet[pos + 16 : pos + length]
        pos += (length + 3) & ~3
