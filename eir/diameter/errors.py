"""Diameter errors that carry the answer they cause (RFC 6733 section 7)."""

from __future__ import annotations

from eir.diameter.dictionary import ResultCode
from eir.diameter.message import Avp


class DiameterError(Exception):
    """A request we answer with `result_code`, naming the offending AVP in Failed-AVP."""

    def __init__(self, result_code: ResultCode, text: str, failed: Avp | None = None) -> None:
        super().__init__(f"{result_code.name} ({int(result_code)}): {text}")
        self.result_code = result_code
        self.text = text
        self.failed = failed
