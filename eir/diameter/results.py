"""The names of S13 results: one definition for eir's metrics label `result`, its check
events and eir-sim's report (`sim.mme_role`).

A result is named by its number as sent, the Result-Code or Experimental-Result-Code
(``2001``, ``5422``, ``5004``): what tshark shows and what peers log. `spec_name` gives the
name RFC 6733 and TS 29.272 use for it (``DIAMETER_INVALID_AVP_VALUE``), for reports.
"""

from __future__ import annotations

from typing import Final

from eir.diameter.dictionary import ResultCode

#: the protocol's name in metrics labels, events and eir-sim's report
PROTOCOL: Final = "s13"


def label(code: int) -> str:
    """The name of a Result-Code or Experimental-Result-Code: its number, ``"5004"``."""
    return str(int(code))


#: a decision: 2001 DIAMETER_SUCCESS with Equipment-Status
SUCCESS: Final = label(ResultCode.DIAMETER_SUCCESS)
#: the policy's unknown answer: 5422 DIAMETER_ERROR_EQUIPMENT_UNKNOWN
EQUIPMENT_UNKNOWN: Final = label(ResultCode.DIAMETER_ERROR_EQUIPMENT_UNKNOWN)


def spec_name(code: int | str) -> str:
    """``DIAMETER_INVALID_AVP_VALUE`` for 5004; the number itself for a code we do not name."""
    try:
        return ResultCode(int(code)).name
    except ValueError:
        return str(code)
