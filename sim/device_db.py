"""The device database and approved-models list the EIR under test holds, read as `eir devices
load` reads them (`eir.store.formats.read_input`, `eir.store.dialect`) by eir's own parsers
(`eir.devices.formats`, `eir.devices.approved`) into the same in-memory index the list store
builds (`eir.devices.packing.build_index`); and generated device databases
(`eir.devices.sample`) for labs and the bench.
"""

from __future__ import annotations

import os
from functools import partial

from eir.config import PolicyConfig
from eir.devices.approved import parse_approved
from eir.devices.formats import parse_devices
from eir.devices.packing import build_index, pack_approved, pack_device
from eir.devices.record import Device, DeviceIndex
from eir.errors import LoadError
from eir.store.dialect import as_utf8, mac_line_ends
from eir.store.formats import read_input
from sim import expect
from sim.device_kinds import DeviceKinds


class DeviceDbError(ValueError):
    """A device or approved file that cannot be read: ``file:line: message`` (or the reason)."""


def _read(path: str, export: str = "eir devices export FILE") -> tuple[bytes, str]:
    """A file's bytes as `eir devices load` reads them (gzip, a zip of one file, UTF-16 with a
    byte order mark, classic Mac line ends), and its name in messages. A directory (a loaded
    store, perhaps) is told apart: ``export`` is the command that writes the file from one."""
    if os.path.isdir(path):
        raise DeviceDbError(
            f"{path}: is a directory, not a file ({export} writes one from a store)"
        )
    try:
        data, name = read_input(path)
        return mac_line_ends(as_utf8(data, name, None)), name
    except LoadError as exc:
        raise DeviceDbError(str(exc)) from None


def read_devices(path: str) -> list[Device]:
    """Every device of a device file in any format `eir devices load` reads (DeviceDbError:
    its first bad row, as eir words it)."""
    parsed = parse_devices(*_read(path))
    if parsed.errors:
        more = len(parsed.errors) - 1
        raise DeviceDbError(parsed.errors[0] + (f" (and {more} more)" if more else ""))
    return parsed.devices


def read_tacs(path: str) -> list[str]:
    """The TACs of a device file (DeviceDbError when there is none)."""
    tacs = [d.tac for d in read_devices(path)]
    if not tacs:
        raise DeviceDbError(f"{path}: holds no device")
    return tacs


def index_of(devices: list[Device], approved: str | None) -> DeviceIndex:
    """The index the list store builds for these devices and the approved file's entries."""
    entries = []
    if approved is not None:
        parsed = parse_approved(*_read(approved, "eir devices export --approved FILE"))
        if parsed.errors:
            more = len(parsed.errors) - 1
            raise DeviceDbError(parsed.errors[0] + (f" (and {more} more)" if more else ""))
        entries = parsed.entries
    return build_index((pack_device(d) for d in devices), (pack_approved(a) for a in entries))


def device_kinds(devices: str | None, approved: str | None, policy: PolicyConfig) -> DeviceKinds:
    """The device kinds of a run: the policy's own class function tells which TACs a rule
    matches."""
    found = [] if devices is None else read_devices(devices)
    index = index_of(found, approved)
    classes_of = partial(expect.classes_of, policy=policy, devices=index)
    rules = tuple(rule.name for rule in policy.device_rules)
    return DeviceKinds([d.tac for d in found], index, rules, classes_of)


def write_sample(count: int, layout: str, seed: int) -> bytes:
    """A generated device database of ``count`` TACs in ``layout`` (gsma17, gsma20 or lab), or
    the approved-models list of the same devices (approved)."""
    from eir.devices.sample import sample_text

    return sample_text(layout, count, seed).encode()
