"""The spec names of what an EIR answers, as a report labels them: Diameter Result-Codes and
Experimental-Result-Codes (``5004 DIAMETER_INVALID_AVP_VALUE``, from
`eir.diameter.results.spec_name`) and Equipment-Status values (``0 WHITELISTED``, from
`eir.model.EquipmentStatus`). MAP outcomes (``result``, ``error:unknownEquipment``) are names
already and are kept as they are."""

from __future__ import annotations

from eir.diameter.dictionary import ResultCode
from eir.diameter.results import spec_name
from eir.model import STATUS_WORDS, EquipmentStatus

#: the simulator's status words (``white``) -> Equipment-Status
_STATUS_OF_WORD = {word: EquipmentStatus(value) for value, word in STATUS_WORDS.items()}
_VALUES = {int(s) for s in EquipmentStatus}


def result_label(result: str) -> str:
    """``"5004"`` -> ``"5004 DIAMETER_INVALID_AVP_VALUE"``; a code eir does not name, or a MAP
    outcome, as it is."""
    if result.isdigit():
        name = spec_name(result)
        return result if name == result else f"{result} {name}"
    if result in ResultCode.__members__:
        return f"{ResultCode[result].value} {result}"
    return result


def status_label(status: str) -> str:
    """``"white"`` (or ``"0"``, ``"WHITELISTED"``) -> ``"0 WHITELISTED"``."""
    known = _STATUS_OF_WORD.get(status)
    if known is None and status.isdigit() and int(status) in _VALUES:
        known = EquipmentStatus(int(status))
    if known is None and status in EquipmentStatus.__members__:
        known = EquipmentStatus[status]
    return status if known is None else f"{known.value} {known.name}"
