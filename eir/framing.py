"""How each protocol's messages sit on a byte stream and on SCTP: one definition, shared by the
daemon (`eir.transport`, `eir.service`) and the simulator (`sim`).

A `Framing` holds, per protocol:

* its name, as the listeners announce it;
* the SCTP Payload Protocol Identifier: Diameter 46 (RFC 6733 section 2.1; IANA "SCTP Payload
  Protocol Identifiers"), M3UA 3 (RFC 4666 section 3; same registry);
* the length field that frames it on a byte stream: Diameter, a 3-octet Message Length after the
  Version octet, counting the 20-octet header (RFC 6733 section 3); M3UA, a 4-octet Message
  Length at offset 4, counting the 8-octet common header (RFC 4666 section 3.1);
* the SCTP stream each message goes on (`stream`).

The SCTP stream rule of M3UA (RFC 4666 section 1.4.7 keeps stream 0 for the management of the
association and maps user traffic to other streams): a DATA message (Transfer class 1, type 1)
goes on stream 1, every other message on stream 0. Class and type are both checked: DATA is the
only Transfer message RFC 4666 defines, and a message of class 1 with another type is not user
traffic (the peer answers it with an ERR, a management message), so it belongs on stream 0 with
the rest of the management. The daemon never sends such a message; the simulator's replay may.
Diameter uses one stream, 0, for everything (RFC 6733 section 2.1 requires no more).

`Framing.cut` is the one splitter: bytes in, the complete messages at their head and the rest.
A length under `minimum` (by default the protocol's header length) cannot frame a message: the
cut stops there and says so (`Cut.lost`); the daemon's peers close the connection on it, a
capture reader keeps the rest unframed. `Framing.split` cuts bytes we send into one SCTP message
per protocol message, every byte kept (a length of 0 or a tail cut short goes out as it is).

Sans-IO: no sockets, no asyncio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from eir.diameter.dictionary import HEADER_LEN as DIAMETER_HEADER_LEN
from eir.sigtran.m3ua import DATA
from eir.sigtran.m3ua import HEADER_LEN as M3UA_HEADER_LEN

#: SCTP Payload Protocol Identifier of Diameter (RFC 6733 section 2.1)
PPID_DIAMETER: Final = 46
#: SCTP Payload Protocol Identifier of M3UA (RFC 4666 section 3)
PPID_M3UA: Final = 3

_M3UA_DATA: Final = bytes(DATA)  # class and type octets of a DATA message


class Cut(NamedTuple):
    """What `Framing.cut` found: the complete messages, the bytes after them, and whether it
    stopped at a length that cannot frame a message (else `rest` is an incomplete message)."""

    messages: list[bytes]
    rest: bytes
    lost: bool


def single_stream(message: bytes) -> int:
    """Every message on stream 0 (Diameter)."""
    return 0


def m3ua_stream(message: bytes) -> int:
    """RFC 4666 section 1.4.7: DATA (class 1, type 1) on stream 1, everything else on 0."""
    return 1 if message[2:4] == _M3UA_DATA else 0


@dataclass(frozen=True, slots=True)
class Framing:
    """One protocol's framing on a byte stream and on SCTP (see the module's docstring)."""

    name: str
    ppid: int
    #: where the big-endian message length sits in the header, and its size (octets)
    length_offset: int
    length_size: int
    #: the shortest message: the header the length counts
    header_len: int
    #: the SCTP stream of a message
    stream: Callable[[bytes], int] = single_stream

    @property
    def length_end(self) -> int:
        """Where the length field ends: a message's first `length_end` octets give its length.
        The receive loops read the field inline, `buf[pos + length_offset : pos + length_end]`,
        with both bound once (a call per message would cost them measurably)."""
        return self.length_offset + self.length_size

    def length(self, buf: bytes, pos: int = 0) -> int | None:
        """The length field of the message at `pos`; None if `buf` ends before it."""
        start = pos + self.length_offset
        end = start + self.length_size
        if end > len(buf):
            return None
        return int.from_bytes(buf[start:end], "big")

    def cut(self, buf: bytes, minimum: int | None = None) -> Cut:
        """The complete messages at the head of `buf` and the rest. A length under `minimum`
        (default: the header length) stops the cut there, `lost` set."""
        least = self.header_len if minimum is None else minimum
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        while True:
            length = self.length(buf, pos)
            if length is None:
                return Cut(out, buf[pos:], False)
            if length < least:
                return Cut(out, buf[pos:], True)
            if n - pos < length:
                return Cut(out, buf[pos:], False)
            out.append(buf[pos : pos + length])
            pos += length

    def split(self, data: bytes) -> list[bytes]:
        """Bytes we send, one SCTP message per protocol message; whatever cannot be framed (a
        zero length, a tail cut short) goes out as one last message: no byte is dropped."""
        cut = self.cut(data, minimum=1)
        if cut.rest:
            cut.messages.append(cut.rest)
        return cut.messages


DIAMETER: Final = Framing("diameter", PPID_DIAMETER, 1, 3, DIAMETER_HEADER_LEN)
M3UA: Final = Framing("m3ua", PPID_M3UA, 4, 4, M3UA_HEADER_LEN, m3ua_stream)
