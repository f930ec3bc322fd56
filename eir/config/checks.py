"""Value checks shared by the configuration and the simulator's settings: type, range, choice,
addresses.

Each check returns the value it accepts or raises `InvalidValueError`, whose text is the
reason without the key's name, so each caller words the key its own way (``FILE: section.key:
reason`` for the configuration, ``where: key reason`` for eir-sim). A TOML boolean is never a
number here, although Python's ``bool`` is an ``int``.

Layer 0: standard library only.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from eir.errors import ConfigError, ConfigFileError

N = TypeVar("N", bound=float)

#: how a reason names a TOML type
TYPE_NAMES = {
    int: "an integer",
    str: "a string",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class Errors:
    """The errors of a configuration gathered as it is read, so that one run says them all."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        """Keep the `ConfigError` raised in this block (each of a `ConfigFileError`) and go on."""
        try:
            yield
        except ConfigFileError as exc:
            self.messages.extend(exc.messages)
        except ConfigError as exc:
            self.messages.append(str(exc))

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_any(self) -> None:
        """`ConfigFileError` with every error kept, if any."""
        if self.messages:
            raise ConfigFileError(self.messages)


class InvalidValueError(ValueError):
    """A value its key does not take; ``str()`` is the reason, without the key."""


class WrongTypeError(InvalidValueError):
    """The value is not of the TOML type the key takes."""

    def __init__(self, expected: type | tuple[type, ...], value: object) -> None:
        got = "a boolean" if isinstance(value, bool) else type(value).__name__
        super().__init__(f"expected {type_name(expected)}, got {got}")


class OutOfRangeError(InvalidValueError):
    """A number outside its bounds."""

    def __init__(self, low: float, high: float | None) -> None:
        self.low, self.high = low, high
        super().__init__(f"must be {bounds(low, high)}")


class NotOneOfError(InvalidValueError):
    """A word that is none of the key's choices."""

    def __init__(self, value: object, options: Sequence[str]) -> None:
        super().__init__(
            f"{value!r} is not {'' if len(options) == 2 else 'one of '}{either(options)}"
        )


def type_name(kind: type | tuple[type, ...]) -> str:
    """``an integer``, ``a string or ...``: a TOML type as a reason names it."""
    if isinstance(kind, tuple):
        return " or ".join(TYPE_NAMES.get(k, k.__name__) for k in kind)
    return TYPE_NAMES.get(kind, kind.__name__)


def bounds(low: float, high: float | None) -> str:
    """``6 to 3600`` or ``at least 1``."""
    return f"at least {low:g}" if high is None else f"{low:g} to {high:g}"


def either(options: Sequence[str]) -> str:
    """``keep or replace``, and past two choices ``white, grey, unknown``."""
    return " or ".join(options) if len(options) == 2 else ", ".join(options)


def of_type(value: object, kind: type | tuple[type, ...]) -> Any:
    """``value`` when it is a ``kind`` (a boolean only when ``kind`` is bool)."""
    if isinstance(value, bool) and kind is not bool:
        raise WrongTypeError(kind, value)
    if not isinstance(value, kind):
        raise WrongTypeError(kind, value)
    return value


def number(value: object, *, integer: bool = False) -> int | float:
    """A TOML integer, or when not ``integer`` a TOML integer or float."""
    checked: int | float = of_type(value, int if integer else (int, float))
    return checked


def within(value: N, low: float, high: float | None = None) -> N:
    """``value`` when ``low <= value <= high`` (no upper bound when ``high`` is None)."""
    if value < low or (high is not None and value > high):
        raise OutOfRangeError(low, high)
    return value


def one_of(value: str, options: Sequence[str]) -> str:
    """``value`` when it is one of ``options``."""
    if value not in options:
        raise NotOneOfError(value, options)
    return value


def is_network(text: str) -> bool:
    """An address or a CIDR network (host bits may be set)."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def is_ip_address(text: str) -> bool:
    """An IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
