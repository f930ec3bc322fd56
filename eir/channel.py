"""What a serving process tells whoever started it, as typed messages: over the pipe to its
supervisor (`eir.supervisor`, ``--workers N``), or as lines on stderr when it serves alone
(`eir.service.run`).

The lines a user or a script reads: ``eir: listening diameter tcp HOST:PORT``
(:attr:`Listening.line`) as each listener opens, then ``eir: ready``, written through the
daemon's log (`eir.startup.say`, `eir.logs.lifecycle`: ``TIME INFO eir: ready``). Messages are
pickled over a `multiprocessing` pipe, so this module imports no protocol code: the supervisor
unpickles them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eir.startup import say, shown


@dataclass(frozen=True)
class Listening:
    """A listener is open (its real port, when 0 was asked for)."""

    protocol: str  # diameter, m3ua, metrics
    transport: str  # tcp, sctp, http
    host: str
    port: int

    @property
    def line(self) -> str:
        return f"eir: listening {self.protocol} {self.transport} {shown(self.host, self.port)}"


@dataclass(frozen=True)
class Ready:
    """Every listener is open and the peers are being dialled: the process answers."""

    listening: tuple[Listening, ...]

    @property
    def status(self) -> str:
        """What the service manager shows: ``ready: diameter tcp HOST:PORT, ...``."""
        opened = (f"{w.protocol} {w.transport} {shown(w.host, w.port)}" for w in self.listening)
        return "ready: " + ", ".join(opened)


@dataclass(frozen=True)
class MetricsSnapshot:
    """A worker's metrics (`eir.observe.metrics.Metrics.snapshot`), sent every second: the
    supervisor serves their sum."""

    snapshot: dict[str, Any]


@dataclass(frozen=True)
class Failed:
    """A worker could not serve (its store, a port); the supervisor says ``eir: <reason>`` and
    exits with an error."""

    reason: str


Message = Listening | Ready | MetricsSnapshot | Failed
Tell = Callable[[Message], None]


def on_stderr(message: Message) -> None:
    """Serving alone: each listening line as its listener opens, then ``eir: ready``."""
    if isinstance(message, Listening):
        say(message.line)
    elif isinstance(message, Ready):
        say("eir: ready")
