"""The replace guard: a ``--mode replace`` that would remove more than ``--max-remove`` of a
(list, source)'s entries is refused, with nothing changed (a truncated file must not wipe a
list). The limit is a count (``5000``) or a share of that list and source's current entries
(``10%``); a first load, with nothing there yet, is never refused.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from eir.config.checks import InvalidValueError
from eir.config.keys import remove_limit
from eir.errors import ConfigError, StoreError
from eir.store.records import META


class ReplaceRefusedError(StoreError):
    """A replace that would remove more than its limit; the load's transaction is aborted."""


@dataclass(frozen=True, slots=True)
class RemoveLimit:
    """At most ``count`` entries, or ``percent`` % of the current ones, of each (list, source)."""

    text: str
    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str, what: str = "--max-remove") -> RemoveLimit:
        """``--max-remove`` or ``store.max_remove`` (``what``), by the config key's own check."""
        try:
            count, percent = remove_limit(text)
        except InvalidValueError as exc:
            raise ConfigError(f"{what}: {exc}") from None
        return cls(text.strip(), count=count, percent=percent)

    def allowed(self, current: int) -> int:
        """How many of ``current`` entries a replace may remove."""
        if self.count is not None:
            return self.count
        return math.floor(current * (self.percent or 0.0) / 100)

    def describe(self, current: int) -> str:
        if self.count is not None:
            return f"--max-remove {self.count}"
        return f"--max-remove {self.text} ({self.allowed(current)})"


def limit_of(option: str | None, configured: str) -> RemoveLimit:
    """The limit of ``--max-remove`` when given, else of ``store.max_remove``."""
    if option is not None:
        return RemoveLimit.parse(option)
    return RemoveLimit.parse(configured, "store.max_remove")


class MetaReader(Protocol):
    """What the guard reads of a transaction: the ``meta`` table."""

    def get(self, table: str, key: bytes) -> bytes | None: ...


def owner_of(counter: str) -> str:
    """``list/source`` of an entry counter ``table/list/source``."""
    return counter.split("/", 1)[1]


def current_count(txn: MetaReader, owner: str) -> int:
    """The entries a (list, source) holds in all tables, from the counters before the load."""
    total = 0
    for table in ("imei", "range", "pair"):
        raw = txn.get(META, b"count\x00" + f"{table}/{owner}".encode())
        total += int(raw) if raw else 0
    return total


def check_removals(txn: MetaReader, removed: Counter[str], limit: RemoveLimit) -> None:
    """Raise :class:`ReplaceRefusedError` when the entries ``removed`` (by entry counter) of a
    (list, source) are more than ``limit`` allows of its current entries."""
    by_owner: Counter[str] = Counter()
    for counter, count in removed.items():
        by_owner[owner_of(counter)] += count
    for owner, count in sorted(by_owner.items()):
        current = current_count(txn, owner)
        if count and count > limit.allowed(current):
            share = math.floor(count * 1000 / current) / 10 if current else 100.0
            raise ReplaceRefusedError(
                f"replace would remove {count} of {current} {owner} entries ({share} %), "
                f"over {limit.describe(current)}: nothing changed "
                "(check the file, or use --force)"
            )
