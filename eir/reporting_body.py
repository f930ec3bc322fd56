"""Reporting Body Identifiers: the first two digits of a TAC (GSMA TS.06, Appendix A).

A 14-digit IMEI whose first two digits are no allocated identifier most often is a 15-digit
IMEI that lost its leading 0 in a spreadsheet (``013006001234568`` -> ``13006001234568``).

Layer 0: standard library only.
"""

from __future__ import annotations

#: identifiers GSMA TS.06 (v25.0, 2024) lists, in use or no longer allocating: 00 and 02-09
#: test IMEIs, 01 CTIA (PTCRB), 10 DECT, 30 Iridium, 33 DGPT, 35 BABT / TUV SUD, 44 BABT,
#: 45 NTA, 49 BZT/BAPT, 50 BZT ETS, 51 Cetecom ICT, 52 Cetecom, 53 TUV, 54 Phoenix Test Lab,
#: 86 TAF, 91 MSAI, 98 reserved (a few TACs were allocated from it), 99 GHA
ALLOCATED: frozenset[str] = frozenset(
    [f"{n:02d}" for n in range(11)]
    + ["30", "33", "35", "44", "45", "49", "50", "51", "52", "53", "54", "86", "91", "98", "99"]
)


def allocated(digits: str) -> bool:
    """Whether an IMEI's (or TAC's) first two digits are an allocated Reporting Body Identifier."""
    return digits[:2] in ALLOCATED
