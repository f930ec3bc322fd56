"""The device database as the list store keeps it: a record per TAC and a key per approved
entry. Pure: the store's ``device`` and ``approved`` tables hold these bytes.

* ``device``: key = the 8-digit TAC (ASCII); value = ``b"1"`` (the record's version) then
  every field of :class:`~eir.devices.record.Device` after the TAC, UTF-8, separated by NUL
  (a field never holds NUL: the file readers refuse it). Unpacking is one split. The last
  field, ``source``, is the kind of file that loaded it: not content (:func:`device_content`).
* ``approved``: key = ``b"T"`` + TAC for a TAC, or ``b"M"`` + brand + NUL + model (both
  folded: see :func:`~eir.devices.record.model_key`) for a model; value = the entry as
  written (brand NUL model, or the TAC), what ``eir devices export --approved`` writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from eir.devices.record import FIELDS, Device, DeviceIndex, model_key

_VERSION = b"1"
_SEP = "\x00"
_AFTER_TAC = len(FIELDS) - 1
assert FIELDS[-1] == "source"  # device_content drops the last field


class DamagedDeviceError(ValueError):
    """A stored device record that does not unpack."""


def pack_device(device: Device) -> tuple[bytes, bytes]:
    """(key, value) of a device."""
    return device.tac.encode(), _VERSION + _SEP.join(device[1:]).encode()


def device_content(value: bytes) -> bytes:
    """A packed device without its ``source`` (the kind of file it came in: gsma17, lab...):
    what the device database's digest covers and a load compares, so that a database exported
    and loaded again, the same devices in another kind of file, is unchanged."""
    return value[: value.rfind(_SEP.encode())]


def unpack_device(key: bytes, value: bytes) -> Device:
    """The device of a stored (key, value)."""
    parts = value[1:].decode().split(_SEP)
    if value[:1] != _VERSION or len(parts) != _AFTER_TAC:
        raise DamagedDeviceError(f"damaged device record of TAC {bytes(key)[:8]!r}")
    return Device(bytes(key).decode(), *parts)


class Approved(NamedTuple):
    """One entry of the approved-models list: a TAC, or a brand and model."""

    tac: str = ""
    brand: str = ""
    model: str = ""

    def text(self) -> str:
        return self.tac or f"{self.brand},{self.model}"


def pack_approved(entry: Approved) -> tuple[bytes, bytes]:
    """(key, value) of an approved entry."""
    if entry.tac:
        return b"T" + entry.tac.encode(), entry.tac.encode()
    brand, model = model_key(entry.brand, entry.model)
    return (
        b"M" + f"{brand}{_SEP}{model}".encode(),
        f"{entry.brand}{_SEP}{entry.model}".encode(),
    )


def unpack_approved(key: bytes, value: bytes) -> Approved:
    """The approved entry of a stored (key, value)."""
    text = bytes(value).decode()
    if bytes(key[:1]) == b"T":
        return Approved(tac=text)
    brand, _, model = text.partition(_SEP)
    return Approved(brand=brand, model=model)


def build_index(
    devices: Iterable[tuple[bytes, bytes]], approved: Iterable[tuple[bytes, bytes]]
) -> DeviceIndex:
    """The in-memory index of the two tables' items (what each store builds per generation)."""
    packed = {k.decode(): v for k, v in devices}
    tacs: set[str] = set()
    models: set[tuple[str, str]] = set()
    for key, value in approved:
        entry = unpack_approved(key, value)
        if entry.tac:
            tacs.add(entry.tac)
        else:
            models.add(model_key(entry.brand, entry.model))
    return DeviceIndex(
        approved_tacs=frozenset(tacs),
        approved_models=frozenset(models),
        packed=packed,
        unpack=_unpack_tac,
    )


def _unpack_tac(tac: str, value: bytes) -> Device:
    return unpack_device(tac.encode(), value)
