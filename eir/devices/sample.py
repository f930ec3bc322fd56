"""Generated device database files: invented devices, never GSMA data (pure).

:func:`sample_devices` draws ``count`` devices from a seed: smartphones with LTE and NR,
LTE smartphones and tablets, 3G phones, 2G-only feature phones with old allocation dates and
IoT modules (``Device Type = Module``), in turn, so that even a small sample has each kind.
:func:`sample_text` writes them in a layout (``gsma17``, ``gsma20``, ``lab``) or as an
approved-models list (``approved``: every third device by TAC, every fifth by brand and
model), its first line a ``#`` comment saying the file is generated. The simulator and the
bench call them; ``eir devices sample`` prints one.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import date, timedelta

from eir.devices.formats import GSMA17, GSMA20, LAB_COLUMNS
from eir.devices.record import Device

LAYOUTS = ("gsma17", "gsma20", "lab", "approved")
_BRANDS = ("Acme", "Nimbus", "Orbit", "Kestrel", "Tern", "Quill", "Lumen", "Vireo")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: reporting bodies of the invented TACs (never 001: test TACs)
_PREFIXES = ("35", "86", "01", "99", "49")

#: (device type, radio interface, bands, operating system, first year, last year, model stem)
_KINDS = (
    (
        "Smartphone",
        "GSM,WCDMA,LTE,NR",
        "GSM 900,GSM 1800,WCDMA FDD Band I,LTE FDD BAND 3,NR n78",
        "Android",
        2020,
        2025,
        "X",
    ),
    (
        "Smartphone",
        "GSM,WCDMA,LTE",
        "GSM 900,GSM 1800,WCDMA FDD Band I,LTE FDD BAND 3",
        "Android",
        2014,
        2021,
        "L",
    ),
    ("Feature Phone", "GSM", "GSM 900,GSM 1800", "Proprietary", 2004, 2016, "F"),
    ("Module", "LTE,NB-IoT", "LTE FDD BAND 20,LTE FDD BAND 8", "None", 2017, 2024, "M"),
    (
        "Mobile Phone/Feature phone",
        "GSM,WCDMA",
        "GSM 900,WCDMA FDD Band I",
        "Proprietary",
        2008,
        2018,
        "C",
    ),
    ("Tablet", "LTE", "LTE FDD BAND 3,LTE FDD BAND 7", "Android", 2015, 2023, "T"),
    ("Module", "GSM", "GSM 900,GSM 1800", "None", 2006, 2014, "G"),
    ("Smartphone", "2G,3G,4G,5G", "GSM 1800,LTE FDD BAND 1,NR n78", "iOS", 2021, 2025, "P"),
)


def _tacs(rng: random.Random, count: int) -> Iterator[str]:
    """``count`` distinct TACs."""
    seen: set[str] = set()
    while len(seen) < count:
        tac = f"{rng.choice(_PREFIXES)}{rng.randrange(1_000_000):06d}"
        if tac not in seen:
            seen.add(tac)
            yield tac


def sample_devices(count: int, seed: int = 16) -> list[Device]:
    """``count`` invented devices (distinct TACs), the kinds in turn, sorted by TAC."""
    rng = random.Random(seed)
    out = []
    for number, tac in enumerate(_tacs(rng, count)):
        kind, radio, bands, system, first, last, stem = _KINDS[number % len(_KINDS)]
        brand = _BRANDS[rng.randrange(len(_BRANDS))]
        model = f"{stem}{rng.randrange(10, 999)}"
        day = date(first, 1, 1) + timedelta(days=rng.randrange((last - first + 1) * 365))
        module = kind == "Module"
        out.append(
            Device(
                tac=tac,
                brand=brand,
                model=model,
                marketing_name=f"{brand} {model}",
                manufacturer=f"{brand} Devices Ltd",
                device_type=kind,
                radio_interface=radio,
                bands=bands,
                allocation_date=day.isoformat(),
                operating_system=system,
                nfc="Y" if kind == "Smartphone" else "N",
                bluetooth="N" if module else "Y",
                wlan="N" if module else "Y",
                removable_uicc="N" if module else "Y",
                removable_euicc="N",
                nonremovable_uicc="Y" if module else "N",
                nonremovable_euicc="Y" if radio.endswith(("NR", "5G")) else "N",
                simslot="1" if module else "2",
                imei_quantity="1" if module else "2",
                source="",
            )
        )
    return sorted(out)


def _written_date(iso: str) -> str:
    """An ISO date as the GSMA file writes it: ``01-Jan-2015``."""
    day = date.fromisoformat(iso)
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


def _gsma17(d: Device) -> list[str]:
    return [d.tac, d.marketing_name, f"{d.model}-INT", d.manufacturer, d.bands,
            _written_date(d.allocation_date), "", "", "", d.radio_interface, d.brand, d.model,
            d.operating_system, d.nfc, d.bluetooth, d.wlan, d.device_type]  # fmt: skip


def _gsma20(d: Device) -> list[str]:
    five_g = "n78" if "NR" in d.bands else ""
    lpwan = "NB-IoT" if "NB-IoT" in d.radio_interface else ""
    return [d.tac, d.marketing_name, d.manufacturer, d.bands, five_g, lpwan, d.radio_interface,
            d.brand, d.model, d.operating_system, d.nfc, d.bluetooth, d.wlan, d.device_type,
            d.removable_uicc, d.removable_euicc, d.nonremovable_uicc, d.nonremovable_euicc,
            d.simslot, d.imei_quantity]  # fmt: skip


def sample_text(layout: str, count: int, seed: int = 16) -> str:
    """A generated file of ``count`` devices in ``layout`` (see :data:`LAYOUTS`)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    devices = sample_devices(count, seed)
    out = io.StringIO()
    out.write(
        f"# generated by eir devices sample (layout {layout}, {count} devices, seed {seed}): "
        "invented devices, not GSMA data\n"
    )
    if layout == "approved":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("tac", "brand", "model"))
        for number, d in enumerate(devices):
            if number % 3 == 0:
                writer.writerow((d.tac, "", ""))
            elif number % 5 == 0:
                writer.writerow(("", d.brand, d.model))
        return out.getvalue()
    if layout == "lab":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(LAB_COLUMNS)
        writer.writerows(d[: len(LAB_COLUMNS)] for d in devices)
        return out.getvalue()
    row = _gsma17 if layout == "gsma17" else _gsma20
    out.write("|".join(GSMA17 if layout == "gsma17" else GSMA20) + "\n")
    out.writelines("|".join(row(d)) + "\n" for d in devices)
    return out.getvalue()
