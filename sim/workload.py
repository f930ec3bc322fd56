"""Workloads: valid IMEIs with realistic TACs paired with IMSIs, and draws of requests by kind
from the lists the EIR under test holds.

Vectorised (numpy) so that ten million rows take seconds, and repeatable: the same seed gives
the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eir.errors import LoadError
from eir.model import Hits, ListName
from eir.store.api import Mode
from eir.store.classes import ClassRow, class_batch, class_scope
from eir.store.loader import LoadOptions, parse_files
from eir.store.memory import MemoryStore
from sim.device_kinds import DeviceKinds, why_not_without_devices
from sim.groups import GROUPS, Member
from sim.probes import rule_name

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


def generate_imeis(
    count: int, seed: int = 1, tacs: int = 2000, from_tacs: Sequence[str] | None = None
) -> ImeiSet:
    """``count`` distinct valid IMEIs over ``tacs`` TACs, in random order; with ``from_tacs``
    (a device database's TACs, `sim.device_db`), each IMEI's TAC is one of those, drawn
    uniformly (every TAC as likely as another)."""
    rng = np.random.default_rng(seed)
    if from_tacs is not None:
        tac_values = np.array([int(t) for t in from_tacs], dtype=np.int64)
        if count > capacity(len(tac_values)):
            raise ValueError(
                f"{len(tac_values)} TACs hold at most {capacity(len(tac_values))} distinct "
                f"IMEIs in a reasonable time, not {count}"
            )
    else:
        bodies = [int(b) for b in REPORTING_BODIES]
        tac_values = (
            np.array(bodies)[rng.integers(0, len(bodies), tacs)] * 10**6
            + rng.integers(0, 10**6, tacs)
        ).astype(np.int64)
    tacs = len(tac_values)
    chosen = np.empty(0, dtype=np.int64)
    while len(chosen) < count:
        need = count - len(chosen)
        extra = tac_values[rng.integers(0, tacs, need + need // 10 + 16)] * 10**6 + rng.integers(
            0, 10**6, need + need // 10 + 16
        )
        chosen = np.unique(np.concatenate([chosen, extra]))
    chosen = rng.permutation(chosen)[:count]
    body = _digits(chosen, 14)
    return ImeiSet(np.concatenate([body, luhn_digits(body)[:, None]], axis=1))


def capacity(tacs: int) -> int:
    """How many distinct IMEIs `generate_imeis` draws over ``tacs`` TACs: half of their serial
    numbers, so that drawing stays quick."""
    return tacs * 10**6 // 2


def generate_imsis(count: int, seed: int = 1, mcc_mnc: str = "00101") -> list[str]:
    """``count`` IMSIs under one MCC+MNC (00101 is the test network)."""
    rng = np.random.default_rng(seed + 7919)
    msin = rng.integers(0, 10 ** (15 - len(mcc_mnc)), count)
    width = 15 - len(mcc_mnc)
    return [mcc_mnc + str(int(v)).zfill(width) for v in msin]


# --- the lists the EIR under test holds, and draws from them -----------------------------------


@dataclass(frozen=True, slots=True)
class Draw:
    """One request before encoding: its kind, the 14-digit IMEI (or a variant named by
    `variant` for anomalies and malformed requests) and the IMSI sent with it."""

    kind: str
    imei14: str
    imsi: str
    variant: str = ""


class ListsError(ValueError):
    pass


class Lists:
    """The list files loaded into the EIR under test, parsed and validated by the same code as
    `eir load`, in memory: the policy decides each request's expected answer from them."""

    def __init__(self, store: MemoryStore, files: list[str]) -> None:
        self.store = store
        self.files = files
        self.exact: dict[str, list[str]] = {"black": [], "grey": [], "white": []}
        self.ranges: dict[str, list[tuple[int, int]]] = {"black": [], "grey": [], "white": []}
        self.pairs: list[tuple[str, str]] = []
        #: an identities scenario's pairs by group (`sim.identity_files.read_members`)
        self.members: dict[str, list[Member]] = {}
        #: the device database's kinds (`sim.device_kinds`), with ``--devices``
        self.devices: DeviceKinds | None = None
        #: when each IMEI was first seen in ``--observations`` (`sim.expect.first_seen_in`)
        self.first_seen: dict[str, int] = {}
        for row in store.export():
            name = str(row.entry.list)
            if row.imsi is not None:
                self.pairs.append((row.imei, row.imsi))
            elif row.last is not None:
                self.ranges[name].append((int(row.imei), int(row.last)))
            else:
                self.exact[name].append(row.imei)

    @classmethod
    def empty(cls) -> Lists:
        return cls(MemoryStore(), [])

    @classmethod
    def load(cls, specs: list[str]) -> Lists:
        """``FILE`` (its rows go on the black list unless it has a ``list`` column) or
        ``LIST=FILE``, as given to `eir load --list LIST`."""
        store = MemoryStore()
        files = []
        for spec in specs:
            name, sep, path = spec.partition("=")
            if not sep or name not in ("black", "grey", "white"):
                name, path = "black", spec
            problems: list[str] = []
            try:
                batch = parse_files([path], LoadOptions(ListName(name), "sim"), problems.append)
            except (LoadError, OSError) as exc:
                shown = "; ".join(problems[:3]) or str(exc)
                raise ListsError(f"{path}: {shown}") from None
            store.apply(batch, Mode.ADD, [(ListName(name), "sim")], now=1)
            files.append(path)
        return cls(store, files)

    def available(self, kind: str) -> bool:
        if kind in self.exact:
            return bool(self.exact[kind] or self.ranges[kind])
        if kind == "pair":
            return bool(self.pairs)
        if kind in GROUPS:
            return bool(self.members.get(kind))
        return True

    def classify(self, name: str, rows: list[ClassRow], now: int) -> None:
        """Hold ``rows`` as the whole class ``name``, as the aggregator's list update does."""
        self.store.apply(class_batch(name, rows), Mode.REPLACE, class_scope(name), now=now)

    def lookup(self, imei14: str, imsi: str | None) -> Hits:
        return self.store.lookup(imei14, imsi)

    def listed(self, imei14: str) -> bool:
        hits = self.store.lookup(imei14, None)
        return bool(hits.imei or hits.ranges)

    def pick(self, kind: str, rng: np.random.Generator) -> str:
        exact, ranges = self.exact[kind], self.ranges[kind]
        if ranges and (not exact or rng.random() < len(ranges) / (len(ranges) + len(exact))):
            first, last = ranges[int(rng.integers(0, len(ranges)))]
            return str(int(rng.integers(first, last + 1))).zfill(14)
        return exact[int(rng.integers(0, len(exact)))]


ANOMALIES = ("check-digit", "same-digits", "zero-tac")


def draws(
    mix: dict[str, float], count: int, lists: Lists, seed: int, malformed: tuple[str, ...]
) -> list[Draw]:
    """`count` requests in random order, kinds in the proportions of `mix`."""
    _check_device_kinds(mix, lists.devices)
    missing = [k for k, share in mix.items() if share > 0 and not lists.available(k)]
    if missing and any(k in GROUPS for k in missing):
        raise ListsError(
            f"the mix asks for {', '.join(missing)} but no identities hold such pairs "
            "(give identities.csv with --identities)"
        )
    if missing:
        raise ListsError(
            f"the mix asks for {', '.join(missing)} but the lists hold no such "
            "entry (give them with --lists)"
        )
    rng = np.random.default_rng(seed)
    kinds = [k for k, share in mix.items() if share > 0]
    shares = np.array([mix[k] for k in kinds], dtype=float)
    chosen = rng.choice(len(kinds), size=count, p=shares / shares.sum()).tolist()
    imsis = generate_imsis(count, seed)
    # with a device database, unknown IMEIs are of its devices, as a lab's real handsets are
    tacs = lists.devices.tacs if lists.devices is not None and lists.devices.tacs else None
    fresh = iter(generate_imeis(count + 64, seed=seed + 11, from_tacs=tacs).as_text())
    out = []
    for i, which in enumerate(chosen):
        kind = kinds[which]
        imsi = imsis[i]
        variant = ""
        if kind in ("black", "grey", "white"):
            imei = lists.pick(kind, rng)
        elif kind == "pair":
            imei, imsi = lists.pairs[int(rng.integers(0, len(lists.pairs)))]
        elif kind in GROUPS:
            group = lists.members[kind]
            _, imei, imsi, variant = group[int(rng.integers(0, len(group)))]
        elif lists.devices is not None and (kind in DEVICE_DRAWN or rule_name(kind)):
            imei = _with_tac(lists.devices.tac(kind, rng), rng, lists)
        elif kind == "anomaly":
            variant = ANOMALIES[int(rng.integers(0, len(ANOMALIES)))]
            imei = _anomalous(variant, rng)
        else:
            imei = _unlisted(fresh, lists)
            if kind == "malformed":
                variant = malformed[int(rng.integers(0, len(malformed)))]
        out.append(Draw(kind, imei, imsi, variant))
    return out


#: kinds whose TAC `sim.device_kinds` draws (besides ``rule:NAME``)
DEVICE_DRAWN = ("unallocated", "unapproved")


def _check_device_kinds(mix: dict[str, float], devices: DeviceKinds | None) -> None:
    """ListsError when the mix asks for a device kind the inputs cannot produce."""
    for kind, share in mix.items():
        if share <= 0:
            continue
        reason = why_not_without_devices(kind) if devices is None else devices.why_not(kind)
        if reason is not None:
            raise ListsError(f"the mix asks for {kind} but {reason}")


def _with_tac(tac: str, rng: np.random.Generator, lists: Lists) -> str:
    """14 digits under ``tac``, on no list."""
    for _ in range(1000):
        imei = tac + str(int(rng.integers(0, 10**6))).zfill(6)
        if not lists.listed(imei):
            return imei
    raise ListsError(f"could not draw an IMEI under TAC {tac} that is on no list")


def _unlisted(fresh: Iterator[str], lists: Lists) -> str:
    for text in fresh:
        if not lists.listed(text[:14]):
            return text[:14]
    raise ListsError("could not draw IMEIs that are on no list")


def _anomalous(variant: str, rng: np.random.Generator) -> str:
    """14 digits; for ``check-digit`` the protocol sends 15 with a wrong check digit."""
    if variant == "same-digits":
        return str(int(rng.integers(1, 10))) * 14
    if variant == "zero-tac":
        return "00000000" + str(int(rng.integers(0, 10**6))).zfill(6)
    return str(int(rng.integers(35 * 10**12, 36 * 10**12)))
