"""The MAP side of the EIR, one layer on the other: M3UA DATA -> SCCP -> TCAP/MAP -> back.

`MapNode.on_data` takes what an `AspConnection` delivered and returns the DATA to send back (or
nothing). SCCP answers with the request's own message type (UDT or XUDT) and the parties
swapped; a message for another subsystem, or a segment of a longer one, gets UDTS/XUDTS when its
sender asked for return on error, and is dropped otherwise. Sans-IO, like its layers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eir.sigtran import sccp
from eir.sigtran.asp import DataReceived
from eir.sigtran.m3ua import ProtocolData, encode_data_fast
from eir.sigtran.sccp import ReturnCause, SccpError
from eir.sigtran.tcap import TcapServer

log = logging.getLogger("eir.map")

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


class MapNode:
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
            request = sccp.peek(pd.data)
            ssn = request.called_ssn
        except SccpError as exc:
            self.dropped += 1
            log.info("map %s: SCCP dropped: %s", peer, exc)
            return None
        if request.kind not in (sccp.UDT, sccp.XUDT):
            self.dropped += 1
            return None
        answer: bytes | None
        if ssn is not None and ssn != self.identity.ssn:
            answer = self._returned(request, ReturnCause.UNEQUIPPED_USER)
        elif request.segmented:
            answer = self._returned(request, ReturnCause.CANNOT_REASSEMBLE)
        else:
            tcap_answer = self.tcap.answer(request.data, peer)
            if tcap_answer is None:
                return None
            try:
                answer = sccp.reply(request, tcap_answer, self._calling)
            except SccpError:
                answer = self._returned(request, ReturnCause.ERROR_IN_LOCAL_PROCESSING)
        if answer is None:
            self.dropped += 1
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
        return encode_data_fast(back, event.routing_context, event.network_appearance)

    def _returned(self, request: sccp.RawUnitdata, cause: ReturnCause) -> bytes | None:
        if not request.return_on_error:
            return None
        return sccp.service(request, cause)
