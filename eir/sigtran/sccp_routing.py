"""SCCP routing and return for the EIR's subsystem (ITU-T Q.714 2.3 and 4.2), sans-IO.

`SccpRouter.on_data` takes the M3UA DATA an `AspConnection` delivered (an MTP-TRANSFER
indication, RFC 4666 3.3.1) and returns the DATA to send back, or nothing:

* a message for our subsystem (SSN 9, the EIR, or a called party without an SSN) goes to the
  TCAP server, and its answer is sent with the request's own message type (UDT or XUDT), the
  parties swapped (the caller becomes the called party; we are the calling one, `SccpIdentity`)
  and the routing label reversed;
* a message for another subsystem (unequipped user), a segment of a longer one (we do not
  reassemble) or an answer we cannot encode (error in local processing) is returned as
  UDTS/XUDTS when its sender asked for return on error, and dropped otherwise;
* another service indicator, a message that does not parse or a connection-oriented one is
  dropped (SCCP has no error answer for those).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eir.sigtran import sccp
from eir.sigtran.m3ua import ProtocolData, encode_data
from eir.sigtran.m3ua_asp import DataReceived
from eir.sigtran.sccp import ReturnCause, SccpError, UnitdataScan
from eir.sigtran.tcap import TcapServer

log = logging.getLogger("eir.map")

#: the MTP3 service indicator of SCCP (Q.704 14.2.1)
SI_SCCP = 3


@dataclass(frozen=True)
class SccpIdentity:
    """Our SCCP address: SSN (9, EIR), and optionally a point code and a global title for the
    calling party of our answers (otherwise the address the request called is echoed)."""

    ssn: int = sccp.SSN_EIR
    point_code: int | None = None
    global_title: str = ""

    def calling(self) -> bytes | None:
        if self.point_code is None and not self.global_title:
            return None
        gt = sccp.GlobalTitle(4, self.global_title) if self.global_title else None
        return sccp.Address(gt is None, self.ssn, self.point_code, gt).encode()


class SccpRouter:
    """Routes each SCCP message of a DATA to our subsystem's TCAP server, or returns it."""

    def __init__(self, tcap: TcapServer, identity: SccpIdentity | None = None) -> None:
        self.tcap = tcap
        self.identity = identity or SccpIdentity()
        self._calling = self.identity.calling()
        self.answered = 0
        self.dropped = 0

    def on_data(self, event: DataReceived, peer: str = "") -> bytes | None:
        """The M3UA DATA message answering `event`, or None. Never raises."""
        try:
            return self._on_data(event, peer)
        except Exception:  # our bug: logged with the peer, the association stays up
            self.dropped += 1
            log.exception("map %s: cannot answer a DATA", peer)
            return None

    def _on_data(self, event: DataReceived, peer: str) -> bytes | None:
        pd = event.data
        if pd.si != SI_SCCP:
            self.dropped += 1
            log.info("map %s: DATA for service indicator %d ignored", peer, pd.si)
            return None
        try:
            request = sccp.scan_unitdata(pd.data)
            ssn = request.called_ssn
        except SccpError as exc:
            self.dropped += 1
            log.info("map %s: SCCP dropped: %s", peer, exc)
            return None
        if request.kind not in (sccp.UDT, sccp.XUDT):
            self.dropped += 1
            return None
        answer = self._answer(request, ssn, peer)
        if answer is None:
            return None
        self.answered += 1
        back = ProtocolData(
            pd.dpc if self.identity.point_code is None else self.identity.point_code,
            pd.opc,
            pd.si,
            pd.ni,
            pd.mp,
            pd.sls,
            answer,
        )
        return encode_data(back, event.routing_context, event.network_appearance)

    def _answer(self, request: UnitdataScan, ssn: int | None, peer: str) -> bytes | None:
        """The SCCP answer: TCAP's in a UDT/XUDT, or the request returned; None when there is
        nothing to send (a drop is counted, except when TCAP answers nothing)."""
        if ssn is not None and ssn != self.identity.ssn:
            return self._returned(request, ReturnCause.UNEQUIPPED_USER)
        if request.segmented:
            return self._returned(request, ReturnCause.CANNOT_REASSEMBLE)
        tcap_answer = self.tcap.answer(request.data, peer)
        if tcap_answer is None:
            return None
        try:
            return sccp.reply(request, tcap_answer, self._calling)
        except SccpError:
            return self._returned(request, ReturnCause.ERROR_IN_LOCAL_PROCESSING)

    def _returned(self, request: UnitdataScan, cause: ReturnCause) -> bytes | None:
        """UDTS/XUDTS when the sender asked for return on error (Q.714 4.2), else a drop."""
        if not request.return_on_error:
            self.dropped += 1
            return None
        return sccp.service(request, cause)
