"""Versions a report names: eir-sim's own, and the target's when it tells them: the Diameter
CEA's Product-Name, Firmware-Revision and Origin-Host (RFC 6733 5.3.2), and the
``eir_build_info`` gauge of a Prometheus metrics endpoint (``--target-metrics URL``)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any

from eir import __version__
from eir.diameter import wire
from eir.diameter.dictionary import FLAG_R, AvpCode, Command
from eir.diameter.errors import DiameterError
from eir.diameter.message import as_u32

#: eir-sim's version: eir's, the package both commands come from
SIM_VERSION = __version__
#: the gauge eir exposes with its version and its libraries' as labels
BUILD_INFO = "eir_build_info"
_SAMPLE = re.compile(r"^eir_build_info\{(?P<labels>.*)\}\s+\S+\s*$")
_LABEL = re.compile(r'\s*(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"\s*,?')
#: the longest metrics page read, and the wait for it
MAX_PAGE = 4 << 20
SCRAPE_TIMEOUT_S = 5.0


def from_cea(message: bytes) -> dict[str, Any] | None:
    """What a CEA says of the peer's software; None when `message` is no CEA."""
    if len(message) < 20:
        return None
    header = wire.decode_header(message)
    if header.code != Command.CAPABILITIES_EXCHANGE or header.flags & FLAG_R:
        return None
    try:
        msg = wire.decode_message(message)
    except DiameterError:
        return None
    out: dict[str, Any] = {}
    for key, code in (("product_name", AvpCode.PRODUCT_NAME), ("origin_host", AvpCode.ORIGIN_HOST)):
        avp = msg.find(code)
        if avp is not None:
            out[key] = avp.data.decode("utf-8", "replace")
    firmware = msg.find(AvpCode.FIRMWARE_REVISION)
    if firmware is not None and len(firmware.data) == 4:
        out["firmware_revision"] = as_u32(firmware)
    return out


def parse_build_info(text: str) -> dict[str, str] | None:
    """The labels of the ``eir_build_info`` sample in a Prometheus text page, or None."""
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if found is None:
            continue
        labels = {}
        for pair in _LABEL.finditer(found.group("labels")):
            labels[pair.group("name")] = _unescape(pair.group("value"))
        return labels
    return None


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def scrape(url: str, timeout: float = SCRAPE_TIMEOUT_S) -> dict[str, Any]:
    """The target's build labels from its metrics page: ``{"url", "version", ...}``, or
    ``{"url", "error"}`` saying why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            page = response.read(MAX_PAGE).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return {"url": url, "error": f"cannot read it: {reason}"}
    labels = parse_build_info(page)
    if labels is None:
        return {"url": url, "error": f"no {BUILD_INFO} on the page"}
    return {"url": url, **labels}
