"""Telling the service manager how ``eir serve`` is doing: systemd's notify protocol
(sd_notify(3)), without libsystemd.

A unit of ``Type=notify`` starts eir with ``NOTIFY_SOCKET`` set to a unix datagram socket (a
path, or an abstract name written with a leading ``@``); each notification is one datagram of
``KEY=VALUE`` lines. eir sends ``READY=1`` once every listener is up, ``RELOADING=1`` with
``MONOTONIC_USEC`` then ``READY=1`` around a reload, and ``STOPPING=1`` on SIGTERM. Without
``NOTIFY_SOCKET`` nothing is sent; a notification that cannot be sent is logged once and never
stops eir.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("eir.notify")

#: the environment variable the service manager sets
NOTIFY_SOCKET = "NOTIFY_SOCKET"


def address_of(value: str) -> str | bytes:
    """The socket address of a ``NOTIFY_SOCKET`` value: an abstract name for ``@name``."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def message(**fields: object) -> bytes:
    """One notification: ``KEY=VALUE`` lines (``ready=1`` is sent as ``READY=1``)."""
    return "".join(f"{key.upper()}={value}\n" for key, value in fields.items()).encode()


class Notifier:
    """Sends notifications to ``NOTIFY_SOCKET`` (read once, at creation)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        value = (os.environ if environ is None else environ).get(NOTIFY_SOCKET, "")
        self.where = value
        self.address = address_of(value) if value else None
        self.failed = False

    def send(self, **fields: object) -> bool:
        """Send ``fields`` (True when sent; False when there is no socket or it failed)."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message(**fields), self.address)
        except OSError as exc:
            if not self.failed:
                self.failed = True
                log.warning("cannot notify the service manager at %s: %s", self.where, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send(ready=1, status=status, mainpid=os.getpid())

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(reloading=1, status="reloading the configuration", monotonic_usec=usec)

    def stopping(self) -> bool:
        return self.send(stopping=1, status="stopping")
