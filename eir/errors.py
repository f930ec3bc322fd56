"""Error types. Each carries what its boundary needs to answer: a CLI exit code, later a wire code.

Layer 0: standard library only.
"""

from __future__ import annotations


class EirError(Exception):
    """Base of every error eir raises on purpose."""

    #: exit code of the ``eir`` command when this error ends it (1: bad data, 2: bad usage)
    exit_code = 1


class IdentityError(EirError, ValueError):
    """An IMEI, IMSI, TAC or TBCD string that is not well formed. The message names the problem."""


class ConfigError(EirError):
    """A configuration file or value that is not valid: ``file: key: message``."""

    exit_code = 2


class ConfigFileError(ConfigError):
    """Every error of a configuration file, found in one reading: each ``file: key: message``,
    one a line. Bad data, like every other file's (exit 1)."""

    exit_code = 1

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("\n".join(messages))


class StoreError(EirError):
    """The list store could not do what was asked; nothing was changed."""


class StoreFullError(StoreError):
    """The disk or the LMDB map is full; the previous lists are intact."""


class MapGrowthNeededError(StoreError):
    """The LMDB map must grow before this write fits; the caller grows it when no read
    transaction of its process is open (LMDB's rule), then retries."""


class LoadError(EirError):
    """A list file that cannot be loaded as a whole (unreadable, unknown header, bad rows)."""
