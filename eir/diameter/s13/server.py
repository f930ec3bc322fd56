"""The S13 server application (3GPP TS 29.272 clause 5.3, the EIR's side of the
ME-Identity-Check): one ECR's bytes in, the answer's bytes out. Never raises.

    scan.scan_ecr --(None)--> wire.decode_message (bounded) + request.decode_ecr
        --> request.to_request --> check (policy + lists)
        --> answer.Answers: ECA from a template (or encoded whole)

It implements `eir.diameter.peer.Application`, through which the peer hands it requests.

Any DiameterError on the way becomes its error answer; any other exception is our bug, logged,
and answered DIAMETER_UNABLE_TO_COMPLY (5012) so that the peer never waits for its timer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from eir.diameter import codec, wire
from eir.diameter.dictionary import APP_COMMON, APP_S13, AvpCode, Command, ResultCode
from eir.diameter.errors import DiameterError
from eir.diameter.message import Message, octets
from eir.diameter.node import NodeIdentity
from eir.diameter.s13.answer import Answers
from eir.diameter.s13.request import EcrFields, MeidOnlyError, decode_ecr, to_request
from eir.diameter.s13.scan import scan_ecr
from eir.diameter.wire import header_only, scan_session_id
from eir.model import CheckRequest, CheckResult, Decide

log = logging.getLogger("eir.diameter")

Observer = Callable[[CheckRequest | None, CheckResult, str], None]


class S13Server:
    """Answers ME-Identity-Check-Requests (the only application request an EIR serves)."""

    def __init__(
        self,
        local: NodeIdentity,
        check: Decide,
        unknown: Callable[[], CheckResult],
        observer: Observer | None = None,
        limits: wire.Limits = wire.LIMITS,
    ) -> None:
        self.local = local
        self.answers = Answers(local)
        self._check = check
        self._unknown = unknown
        self.observer = observer
        self.limits = limits
        self.fast_answers = 0
        self.slow_answers = 0

    def answer(self, buf: bytes, peer: str) -> bytes:
        """The answer to one request (the peer layer has checked it is an S13/324 request or
        an application request it cannot place)."""
        try:
            found = scan_ecr(buf)
            if found is not None:
                fields, session_avp = found
                try:
                    request = to_request(fields, self.local, peer)
                except (DiameterError, MeidOnlyError):
                    return self._slow(buf, peer)
                result = self._check(request)
                if self.observer is not None:
                    self.observer(request, result, peer)
                self.fast_answers += 1
                return self.answers.eca(buf, session_avp, result.status)
            return self._slow(buf, peer)
        except Exception:  # our bug (or the store's): answer 5012, never stay silent
            log.exception("cannot answer a request from %s", peer)
            return self.answers.error(
                header_only(buf),
                DiameterError(ResultCode.DIAMETER_UNABLE_TO_COMPLY, "internal error"),
                scan_session_id(buf),
            )

    def busy(self, buf: bytes) -> bytes:
        """3004 DIAMETER_TOO_BUSY for a request we will not process."""
        session = scan_session_id(buf)
        if session is None:
            return self.answers.error(
                header_only(buf),
                DiameterError(ResultCode.DIAMETER_TOO_BUSY, "too many requests in flight"),
                None,
            )
        avp = codec.encode_avp_pycrate(octets(AvpCode.SESSION_ID, session))
        return self.answers.busy(buf, avp)

    def _slow(self, buf: bytes, peer: str) -> bytes:
        self.slow_answers += 1
        request = header_only(buf)
        session = scan_session_id(buf)
        try:
            msg = wire.decode_message(buf, self.limits)
            if request.app == APP_COMMON:
                raise DiameterError(
                    ResultCode.DIAMETER_COMMAND_UNSUPPORTED,
                    f"command {request.code} of the base protocol is not supported",
                )
            if request.app != APP_S13:
                raise DiameterError(
                    ResultCode.DIAMETER_APPLICATION_UNSUPPORTED,
                    f"application {request.app} is not served (S13 is {APP_S13})",
                )
            if request.code != Command.ME_IDENTITY_CHECK:
                raise DiameterError(
                    ResultCode.DIAMETER_COMMAND_UNSUPPORTED,
                    f"command {request.code} is not an S13 command",
                )
        except DiameterError as err:
            return self.answers.error(request, err, session)
        except Exception:  # our bug: answer, never stay silent
            log.exception("cannot decode a request from %s", peer)
            return self.answers.error(
                request,
                DiameterError(ResultCode.DIAMETER_UNABLE_TO_COMPLY, "internal error"),
                session,
            )
        return self._decoded(msg, peer)

    def _decoded(self, msg: Message, peer: str) -> bytes:
        session = None
        fields: EcrFields | None = None
        try:
            found = msg.find(AvpCode.SESSION_ID)
            session = None if found is None else found.data
            fields = decode_ecr(msg)
            try:
                request = to_request(fields, self.local, peer)
            except MeidOnlyError:
                result = self._unknown()
                if self.observer is not None:
                    self.observer(None, result, peer)
                return self.answers.encode_eca(msg, fields, result.status)
            result = self._check(request)
            if self.observer is not None:
                self.observer(request, result, peer)
            return self.answers.encode_eca(msg, fields, result.status)
        except DiameterError as err:
            proxies = (
                fields.proxy_info if fields is not None else tuple(msg.find_all(AvpCode.PROXY_INFO))
            )
            return self.answers.error(msg, err, session, proxies)
        except Exception:
            log.exception("cannot answer a request from %s", peer)
            return self.answers.error(
                msg,
                DiameterError(ResultCode.DIAMETER_UNABLE_TO_COMPLY, "internal error"),
                session,
                tuple(msg.find_all(AvpCode.PROXY_INFO)),
            )
