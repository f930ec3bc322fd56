"""pycrate, the codec of record and the reference: Message <-> bytes.

pycrate 0.8.1's stock classes pick an AVP's format by code alone (DRMP 301 then decodes as a
3GPP OctetString, say). These subclasses, defined here and not patched into pycrate, choose by
(code, Vendor-Id) and keep every leaf as raw bytes: pycrate frames headers, padding and Grouped
AVPs, and `eir.diameter.dictionary` gives the types. Call `decode_message_pycrate` only on a
message that `eir.diameter.wire.decode_message` accepted (its Grouped decoding costs time
exponential in the nesting depth), and only from one thread (pycrate objects are not
thread-safe). The daemon decodes what it receives with `eir.diameter.wire` itself; the tests
hold the two to the same values and bytes. The daemon encodes its base protocol messages and
answer templates with pycrate.
"""

from __future__ import annotations

import logging
from typing import Any

from pycrate_core.charpy import Charpy
from pycrate_core.elt import Sequence
from pycrate_diameter.Diameter import AVPGeneric, DiameterGeneric, DiameterHdr

from eir.diameter.dictionary import AVP_M, AVP_P, AVP_V, FLAG_E, FLAG_P, FLAG_R, FLAG_T, GROUPED
from eir.diameter.message import Avp, Message

logging.getLogger("pycrate_core").setLevel(logging.ERROR)


class _Avp(AVPGeneric):  # type: ignore[misc]
    def _from_char(self, char: Charpy) -> None:
        if self.get_trans():
            return
        head = self[0]
        head._from_char(char)
        code = head[0].get_val()
        has_vendor = head[1].get_val()
        vendor = head[6].get_val() if has_vendor else 0
        if (code, vendor) in GROUPED:
            size = head[5].get_val() - (12 if has_vendor else 8)
            self.replace(self[1], _Grouped("AVPData", hier=1))
            saved = char._len_bit
            char._len_bit = char._cur + 8 * size
            self[1]._from_char(char)
            char._len_bit = saved
        else:
            self[1]._from_char(char)
        self[2]._from_char(char)


class _Grouped(Sequence):  # type: ignore[misc]
    _GEN = _Avp()


class _Message(DiameterGeneric):  # type: ignore[misc]
    _GEN = (DiameterHdr(), Sequence("AVPs", GEN=_Avp(), hier=1))


def decode_message_pycrate(buf: bytes) -> Message:
    """Decode one checked message with pycrate into plain values."""
    msg = _Message()
    msg.from_bytes(buf)
    hdr = msg[0].get_val()
    version, _length, r, p, e, t, _res, code, app, hbh, e2e = hdr
    flags = (FLAG_R if r else 0) | (FLAG_P if p else 0) | (FLAG_E if e else 0)
    flags |= FLAG_T if t else 0
    return Message(code, app, flags, hbh, e2e, tuple(_from_pycrate(a) for a in msg[1]), version)


def _from_pycrate(elt: Any) -> Avp:
    head = elt[0].get_val()
    code, v, m, p = head[0], head[1], head[2], head[3]
    vendor = head[6] if v else 0
    flags = (AVP_V if v else 0) | (AVP_M if m else 0) | (AVP_P if p else 0) | head[4]
    body = elt[1]
    if isinstance(body, _Grouped):
        return Avp(code, vendor, flags, b"", tuple(_from_pycrate(c) for c in body))
    return Avp(code, vendor, flags, body.get_val())


def encode_message_pycrate(message: Message) -> bytes:
    """Encode with pycrate; lengths and padding are computed by pycrate."""
    msg = _Message()
    f = message.flags
    msg[0].set_val(
        {
            "Vers": message.version,
            "R": 1 if f & FLAG_R else 0,
            "P": 1 if f & FLAG_P else 0,
            "E": 1 if f & FLAG_E else 0,
            "T": 1 if f & FLAG_T else 0,
            "reserved": f & 0x0F,
            "Cmd": message.code,
            "AppID": message.app,
            "HHID": message.hbh,
            "EEID": message.e2e,
        }
    )
    for avp in message.avps:
        msg[1].append(_to_pycrate(avp))
    out: bytes = msg.to_bytes()
    return out


def encode_avp_pycrate(avp: Avp) -> bytes:
    """One AVP's bytes, padding included."""
    out: bytes = _to_pycrate(avp).to_bytes()
    return out


def _to_pycrate(avp: Avp) -> Any:
    elt = _Avp()
    head: dict[str, int] = {
        "Code": avp.code,
        "V": 1 if avp.flags & AVP_V else 0,
        "M": 1 if avp.flags & AVP_M else 0,
        "P": 1 if avp.flags & AVP_P else 0,
        "reserved": avp.flags & 0x1F,
    }
    if avp.flags & AVP_V:
        head["VendorID"] = avp.vendor
    elt.set_val_hdr(head)
    if avp.group is not None:
        group = _Grouped("AVPData", hier=1)
        elt.replace(elt[1], group)
        for child in avp.group:
            group.append(_to_pycrate(child))
    else:
        elt.set_val_data(avp.data)
    return elt
