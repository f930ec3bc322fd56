"""One device of the database (:class:`Device`), the radio technologies it names
(:func:`radios`) and the in-memory index the answer path probes once per request
(:class:`DeviceIndex`).

Radio interfaces are written many ways ("GSM,LTE", "2G;3G;4G", "WCDMA FDD Band I", "NR 5G");
:func:`radios` reads each comma, semicolon, slash or pipe separated item and names its
technology, upper case:

============================================  ==========
item contains                                 technology
============================================  ==========
NB-IOT, NBIOT, NB IOT                         NB-IOT
LTE (also LTE-M, CAT-M), E-UTRA, 4G           LTE
NR, 5G                                        NR
WCDMA, UMTS, HSPA, HSDPA, HSUPA, TD-SCDMA, 3G UMTS
CDMA, CDMA2000, EVDO, EV-DO, 1XRTT            CDMA
GSM, GPRS, EDGE, 2G                           GSM
NONE, empty                                   (nothing)
============================================  ==========

An item naming none of these is kept as written (upper case, spaces collapsed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import NamedTuple

from eir.model import RADIO_TECHNOLOGIES


class Device(NamedTuple):
    """A TAC's device; a field the file's layout lacks is ``""``."""

    tac: str
    brand: str = ""
    model: str = ""
    marketing_name: str = ""
    manufacturer: str = ""
    device_type: str = ""
    #: as written, e.g. "GSM,LTE" or "NONE" (see :func:`radios`)
    radio_interface: str = ""
    bands: str = ""
    #: an ISO date (YYYY-MM-DD) or ""
    allocation_date: str = ""
    operating_system: str = ""
    nfc: str = ""
    bluetooth: str = ""
    wlan: str = ""
    removable_uicc: str = ""
    removable_euicc: str = ""
    nonremovable_uicc: str = ""
    nonremovable_euicc: str = ""
    simslot: str = ""
    imei_quantity: str = ""
    #: which kind of file loaded it: "gsma17", "gsma20" or "lab"
    source: str = ""


#: the fields of a device, in order
FIELDS: tuple[str, ...] = Device._fields

_ITEM_BREAKS = re.compile(r"[,;/|]+")
_SPACES = re.compile(r"\s+")
_GSM, _UMTS, _LTE, _NR, _CDMA, _NB_IOT = RADIO_TECHNOLOGIES
#: (pattern, technology), tried in order: the first that matches an item names it
_TECHNOLOGIES = (
    (re.compile(r"NB[- ]?IOT"), _NB_IOT),
    (re.compile(r"\bLTE|E-UTRA|\b4G\b|\bCAT[- ]?M"), _LTE),
    (re.compile(r"\bNR\b|\b5G|NR5G"), _NR),
    (re.compile(r"WCDMA|UMTS|HSPA|HSDPA|HSUPA|TD-SCDMA|\b3G\b"), _UMTS),
    (re.compile(r"CDMA|EV-?DO|1XRTT"), _CDMA),
    (re.compile(r"GSM|GPRS|EDGE|\b2G\b"), _GSM),
)
_NOTHING = frozenset({"", "NONE", "N/A", "NA", "-"})


def radio_of(item: str) -> str | None:
    """The technology one item of a radio interface names (None: nothing)."""
    text = _SPACES.sub(" ", item.strip().upper())
    if text in _NOTHING:
        return None
    for pattern, technology in _TECHNOLOGIES:
        if pattern.search(text):
            return technology
    return text


def radios(device: Device) -> frozenset[str]:
    """The radio technologies of a device's ``radio_interface``, normalised (module doc)."""
    found = (radio_of(item) for item in _ITEM_BREAKS.split(device.radio_interface))
    return frozenset(t for t in found if t is not None)


def model_key(brand: str, model: str) -> tuple[str, str]:
    """A brand and model as the approved list compares them: case and spacing ignored."""
    return _SPACES.sub(" ", brand.strip()).casefold(), _SPACES.sub(" ", model.strip()).casefold()


#: a stored record of a TAC made a :class:`Device` (see :mod:`eir.devices.packing`)
Unpack = Callable[[str, bytes], Device]


class DeviceIndex:
    """The device database and the approved-models list in memory, built once per change of
    either table: a device is one dict probe.

    Built from the stored records (``packed``), a TAC's record is made a :class:`Device` on
    its first probe and kept: building the index for 200,000 TACs is then one dict of bytes,
    and the answer path decodes each TAC it meets once.
    """

    __slots__ = (
        "_approved",
        "_approved_models",
        "_approved_tacs",
        "_table",
        "_unpack",
        "has_approved",
        "has_devices",
    )

    def __init__(
        self,
        devices: Mapping[str, Device] | None = None,
        approved_tacs: frozenset[str] = frozenset(),
        approved_models: frozenset[tuple[str, str]] = frozenset(),
        *,
        packed: dict[str, bytes] | None = None,
        unpack: Unpack | None = None,
    ) -> None:
        #: TAC -> its Device, or its stored record until first probed
        self._table: dict[str, Device | bytes] = dict(devices) if devices else {}
        if packed:
            self._table.update(packed)
        self._unpack = unpack
        self._approved_tacs = approved_tacs
        self._approved_models = approved_models
        #: TAC -> whether approved, worked out on its first test
        self._approved: dict[str, bool] = {}
        #: a device database is loaded (a TAC not in it is unallocated)
        self.has_devices = bool(self._table)
        #: an approved-models list is loaded (a model not on it is not approved)
        self.has_approved = bool(approved_tacs or approved_models)

    @property
    def size(self) -> int:
        """How many TACs the database holds."""
        return len(self._table)

    def device(self, tac: str) -> Device | None:
        """The device of an 8-digit TAC (or of an IMEI: its first 8 digits), or None."""
        key = tac[:8]
        found = self._table.get(key)
        if found is None or isinstance(found, Device):
            return found
        if self._unpack is None:
            raise TypeError("a packed device index needs its unpack function")
        device = self._table[key] = self._unpack(key, found)
        return device

    def approved(self, device_or_tac: Device | str) -> bool:
        """Whether a device (or the device of a TAC, or of an IMEI) is on the approved list:
        its TAC, or its brand and model (case and spacing ignored)."""
        if isinstance(device_or_tac, str):
            tac = device_or_tac[:8]
            known = self._approved.get(tac)
            if known is None:
                known = self._approved[tac] = self._is_approved(tac, self.device(tac))
            return known
        device = device_or_tac
        if device.tac in self._table:
            return self.approved(device.tac)
        return self._is_approved(device.tac, device)  # a device from elsewhere

    def _is_approved(self, tac: str, device: Device | None) -> bool:
        if tac in self._approved_tacs:
            return True
        return (
            device is not None
            and bool(self._approved_models)
            and model_key(device.brand, device.model) in self._approved_models
        )


#: no device database and no approved list
EMPTY_INDEX = DeviceIndex()
