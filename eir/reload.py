"""What ``eir serve`` does on SIGHUP: re-read the configuration file, apply what can change
while serving, say what changed, and keep running whatever the file says.

Reloadable (read per request or per connection, so a new value takes effect at once):
``log.level``, the per-check log ``log.checks*``, every ``policy.*`` key and the Diameter allow
list ``diameter.allowed_hosts``, ``diameter.allowed_realms``, ``diameter.allowed_networks`` (new
connections; open ones stay). Every other key (listen addresses, the store, workers, the
broker...) needs a restart: a reload says so and keeps the running value. A file that no longer
reads says every error and changes nothing.

The lines, on stderr::

    eir: reloaded /etc/eir/eir.toml: log.level info -> debug
    eir: reloaded /etc/eir/eir.toml: service.workers 1 -> 2 needs a restart; still 1
    eir: reloaded /etc/eir/eir.toml: no change
    eir: cannot reload: /etc/eir/eir.toml: store.map_size: unknown key (...)

The last one at WARNING; the service manager is told ``READY=1`` with ``STATUS=reloaded``, or
``STATUS=reload failed: FIRST ERROR`` (`status`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eir.config import Config
from eir.config.schema import declared, sections_of
from eir.errors import ConfigError
from eir.startup import say

#: the keys a reload applies: a key is reloadable when it starts with one of these
RELOADABLE = (
    "log.level",
    "log.checks",
    "policy.",
    "diameter.allowed_",
    "lifecycle.clock_offset_s",
)


def reloadable(key: str) -> bool:
    return key.startswith(RELOADABLE)


@dataclass(frozen=True)
class Change:
    """One key whose value differs in the file: its values as a line shows them."""

    key: str
    old: str
    new: str

    @property
    def reloadable(self) -> bool:
        return reloadable(self.key)

    @property
    def line(self) -> str:
        if self.reloadable:
            return f"{self.key} {self.old} -> {self.new}"
        return f"{self.key} {self.old} -> {self.new} needs a restart; still {self.old}"


@dataclass
class Live:
    """The configuration the answer path reads per request: a reload replaces ``config``."""

    config: Config


def shown(kind: Any, value: object) -> str:
    """A value as a reload's line shows it: words bare, the rest as in the TOML file."""
    if isinstance(value, str):
        return value or '""'
    try:
        return str(kind.render(value))
    except TypeError:  # an array of tables
        return f"({len(value)} tables)" if isinstance(value, tuple) else repr(value)


def changes(old: Config, new: Config) -> list[Change]:
    """Every key whose value differs, in the file's order."""
    found: list[Change] = []
    for name, section in sections_of(old):
        other = getattr(new, name)
        for f, setting in declared(type(section)):
            before, after = getattr(section, f.name), getattr(other, f.name)
            if before != after:
                found.append(
                    Change(
                        f"{name}.{f.name}", shown(setting.kind, before), shown(setting.kind, after)
                    )
                )
    return found


def merged(config: Config, new: Config, taken: Iterable[Change]) -> Config:
    """``config`` with the values of ``new`` for the keys ``taken``."""
    per_section: dict[str, dict[str, object]] = {}
    for change in taken:
        name, key = change.key.split(".", 1)
        per_section.setdefault(name, {})[key] = getattr(getattr(new, name), key)
    sections = {
        name: dataclasses.replace(getattr(config, name), **values)
        for name, values in per_section.items()
    }
    return dataclasses.replace(config, **sections)


def messages_of(exc: ConfigError) -> list[str]:
    """Every error a configuration error holds (`eir.errors.ConfigFileError`: several)."""
    held: list[str] | None = getattr(exc, "messages", None)
    return list(held) if held else [str(exc)]


class Reloader:
    """Re-reads the file and applies its reloadable keys.

    ``base`` is the configuration as read at start (the file and the command line), which the
    file is compared to; ``running`` is what serves (a supervisor's workers have their real
    ports in it). ``quiet``: apply without a word (the workers of a supervisor, which says it).
    """

    def __init__(
        self,
        base: Config,
        reread: Callable[[], Config],
        apply: Callable[[Config], None],
        running: Config | None = None,
        quiet: bool = False,
    ) -> None:
        self.base = base
        self.running = base if running is None else running
        self.reread = reread
        self.apply = apply
        self.quiet = quiet

    def reload(self) -> str | None:
        """Re-read and apply; when the file cannot be read, its first error (nothing changed
        then: every error is said at WARNING)."""
        try:
            new = self.reread()
        except ConfigError as exc:
            errors = messages_of(exc)
            for line in errors:
                self._say(f"eir: cannot reload: {line}", logging.WARNING)
            return errors[0]
        found = changes(self.base, new)
        taken = [c for c in found if c.reloadable]
        self.base = merged(self.base, new, taken)
        self.running = merged(self.running, new, taken)
        self.apply(self.running)
        lines = [change.line for change in found] or ["no change"]
        for line in lines:
            self._say(f"eir: reloaded {new.origin}: {line}")
        return None

    def _say(self, line: str, level: int = logging.INFO) -> None:
        if not self.quiet:
            say(line, level)


def status(failure: str | None) -> str:
    """What the service manager shows after a reload (``STATUS=``): eir serves on either way,
    with the old configuration when the file could not be read."""
    if failure is None:
        return "reloaded"
    return f"reload failed: {failure.splitlines()[0] if failure else 'unknown error'}"
