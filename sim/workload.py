"""Workload generation: valid IMEIs with realistic TACs, paired with IMSIs, from a seed.

Vectorised (numpy) so that ten million rows take seconds, and repeatable: the same seed gives
the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Reporting body identifiers seen on real handsets (GSMA TS.06): 35 BABT, 86 TAF (China),
#: 01 CTIA, 45 ... a workload draws its TACs under these.
REPORTING_BODIES = ("35", "86", "01", "45", "49", "52")
_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)
_POW8 = 10 ** np.arange(7, -1, -1, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class ImeiSet:
    """n IMEIs as an (n, 15) array of ASCII digits, with their check digits."""

    digits: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.digits)

    def lines(self, width: int = 15) -> bytes:
        """One IMEI per line, 14 or 15 digits wide."""
        table = np.full((len(self.digits), width + 1), ord("\n"), dtype=np.uint8)
        table[:, :width] = self.digits[:, :width]
        return table.tobytes()

    def as_text(self) -> list[str]:
        return [row.decode() for row in self.digits.view("S15").ravel().tolist()]


def _digits(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = values.copy()
    for column in range(width - 1, -1, -1):
        out[:, column] = rest % 10 + 48
        rest //= 10
    return out


def luhn_digits(body: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Check digits (ASCII) of rows of 14 ASCII digits."""
    values = body.astype(np.int64) - 48
    total = values[:, 0:14:2].sum(axis=1) + _DOUBLED[values[:, 1:14:2]].sum(axis=1)
    digits: npt.NDArray[np.uint8] = ((10 - total % 10) % 10 + 48).astype(np.uint8)
    return digits


def generate_imeis(count: int, seed: int = 1, tacs: int = 2000) -> ImeiSet:
    """``count`` distinct valid IMEIs over ``tacs`` TACs, in random order."""
    rng = np.random.default_rng(seed)
    bodies = [int(b) for b in REPORTING_BODIES]
    tac_values = (np.array(bodies)[rng.integers(0, len(bodies), tacs)] * 10**6
                  + rng.integers(0, 10**6, tacs)).astype(np.int64)
    chosen = np.empty(0, dtype=np.int64)
    while len(chosen) < count:
        need = count - len(chosen)
        extra = (tac_values[rng.integers(0, tacs, need + need // 10 + 16)] * 10**6
                 + rng.integers(0, 10**6, need + need // 10 + 16))
        chosen = np.unique(np.concatenate([chosen, extra]))
    chosen = rng.permutation(chosen)[:count]
    body = _digits(chosen, 14)
    return ImeiSet(np.concatenate([body, luhn_digits(body)[:, None]], axis=1))


def generate_imsis(count: int, seed: int = 1, mcc_mnc: str = "00101") -> list[str]:
    """``count`` IMSIs under one MCC+MNC (00101 is the test network)."""
    rng = np.random.default_rng(seed + 7919)
    msin = rng.integers(0, 10 ** (15 - len(mcc_mnc)), count)
    width = 15 - len(mcc_mnc)
    return [mcc_mnc + str(int(v)).zfill(width) for v in msin]
