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
from collections.abc import Mapping
from typing import NamedTuple


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
#: (pattern, technology), tried in order: the first that matches an item names it
_TECHNOLOGIES = (
    (re.compile(r"NB[- ]?IOT"), "NB-IOT"),
    (re.compile(r"\bLTE|E-UTRA|\b4G\b|\bCAT[- ]?M"), "LTE"),
    (re.compile(r"\bNR\b|\b5G|NR5G"), "NR"),
    (re.compile(r"WCDMA|UMTS|HSPA|HSDPA|HSUPA|TD-SCDMA|\b3G\b"), "UMTS"),
    (re.compile(r"CDMA|EV-?DO|1XRTT"), "CDMA"),
    (re.compile(r"GSM|GPRS|EDGE|\b2G\b"), "GSM"),
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


class DeviceIndex:
    """The device database and the approved-models list in memory, built once per change of
    either table: a device is one dict probe."""

    __slots__ = ("_approved", "_approved_models", "_devices", "has_approved", "has_devices")

    def __init__(
        self,
        devices: Mapping[str, Device] | None = None,
        approved_tacs: frozenset[str] = frozenset(),
        approved_models: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self._devices: Mapping[str, Device] = devices if devices is not None else {}
        self._approved_models = approved_models
        #: every approved TAC: listed by TAC, or its device's brand and model listed (worked
        #: out here once, so that the answer path's test is one set probe)
        self._approved = approved_tacs | frozenset(
            tac
            for tac, device in (self._devices.items() if approved_models else ())
            if model_key(device.brand, device.model) in approved_models
        )
        #: a device database is loaded (a TAC not in it is unallocated)
        self.has_devices = bool(self._devices)
        #: an approved-models list is loaded (a model not on it is not approved)
        self.has_approved = bool(approved_tacs or approved_models)

    @property
    def size(self) -> int:
        """How many TACs the database holds."""
        return len(self._devices)

    def device(self, tac: str) -> Device | None:
        """The device of an 8-digit TAC (the first 8 digits of an IMEI), or None."""
        return self._devices.get(tac[:8])

    def approved(self, device_or_tac: Device | str) -> bool:
        """Whether a device (or the device of a TAC, or of an IMEI) is on the approved list:
        its TAC, or its brand and model (case and spacing ignored)."""
        if isinstance(device_or_tac, str):
            return device_or_tac[:8] in self._approved
        device = device_or_tac
        if device.tac in self._approved:
            return True
        # a device from elsewhere than this index: compare its brand and model
        return (
            device.tac not in self._devices
            and model_key(device.brand, device.model) in self._approved_models
        )


#: no device database and no approved list
EMPTY_INDEX = DeviceIndex()
