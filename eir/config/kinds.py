"""Key kinds: how one key's TOML value (tomllib, TOML 1.0) becomes its typed value, how the value
is written back as TOML, and how the documentation names its type and range.

A kind raises `ConfigError` reading ``where: reason`` (``where`` is ``FILE: section.key``).

Layer 0: standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Generic, TypeVar

from eir.config.checks import InvalidValueError, number, of_type, one_of, within
from eir.config.endpoints import (
    Broker,
    Endpoint,
    parse_broker,
    parse_endpoint,
    parse_metrics_listen,
)
from eir.errors import ConfigError

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


@contextmanager
def keyed(where: str) -> Iterator[None]:
    """Turn a check's `InvalidValueError` into the `ConfigError` of the key at ``where``."""
    try:
        yield
    except InvalidValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def reject_unknown(table: Mapping[str, object], known: Sequence[str], where: str) -> None:
    """``where`` ends with the separator: ``FILE: section.`` (or ``FILE: `` at the top)."""
    for key in table:
        if key not in known:
            choices = ", ".join(sorted(known))
            raise ConfigError(f"{where}{key}: unknown key (known here: {choices})")


def toml_string(text: str) -> str:
    """A TOML basic string (quotes, backslashes and control characters escaped)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_number(value: float) -> str:
    """``30`` for 30.0 and ``0.5`` for 0.5 (``%g``), and every digit when ``%g`` drops some."""
    if isinstance(value, int):
        return str(value)
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


class Kind(Generic[T]):
    """How a key's value is read, written and documented."""

    #: written as ``key = value``; a kind that is not (a sub-table) is rendered on its own
    inline = True

    def parse(self, value: object, where: str) -> T:
        raise NotImplementedError

    def render(self, value: T) -> str:
        raise NotImplementedError

    def type_name(self) -> str:
        """The type as the documentation names it: ``integer``, ``list of strings``."""
        raise NotImplementedError

    def describe(self) -> str:
        """Its range or choices for the documentation; "" when any value of the type goes."""
        return ""


class Boolean(Kind[bool]):
    def parse(self, value: object, where: str) -> bool:
        with keyed(where):
            checked: bool = of_type(value, bool)
        return checked

    def render(self, value: bool) -> str:
        return "true" if value else "false"

    def type_name(self) -> str:
        return "boolean"


class Integer(Kind[int]):
    """A TOML integer from ``low`` to ``high`` (no bound where None)."""

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low, self.high = low, high

    def parse(self, value: object, where: str) -> int:
        with keyed(where):
            checked = int(number(value, integer=True))
            return checked if self.low is None else within(checked, self.low, self.high)

    def render(self, value: int) -> str:
        return str(value)

    def type_name(self) -> str:
        return "integer"

    def describe(self) -> str:
        if self.low is None:
            return ""
        return f"at least {self.low}" if self.high is None else f"{self.low} to {self.high}"


class Uint32(Integer):
    """A 32-bit unsigned value (a Routing Context)."""

    def __init__(self) -> None:
        super().__init__(0, 2**32 - 1)

    def parse(self, value: object, where: str) -> int:
        with keyed(where):
            checked: int = of_type(value, int)
        if not 0 <= checked < 2**32:
            raise ConfigError(f"{where}: {checked} is not a 32-bit value")
        return checked


class Number(Kind[float]):
    """A TOML integer or float from ``low`` to ``high``, read as a float."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def parse(self, value: object, where: str) -> float:
        with keyed(where):
            return float(within(number(value), self.low, self.high))

    def render(self, value: float) -> str:
        return toml_number(value)

    def type_name(self) -> str:
        return "number"

    def describe(self) -> str:
        return f"{self.low:g} to {self.high:g}"


class Text(Kind[str]):
    """A string; ``valid`` and ``what`` say which (``'x' is not WHAT``, or the reason of the
    `InvalidValueError` ``valid`` raises).

    ``optional``: "" is valid too. ``empty``: the reason "" is refused with. ``fold``: read in
    lower case.
    """

    def __init__(
        self,
        valid: Callable[[str], object] | None = None,
        what: str = "",
        *,
        optional: bool = False,
        empty: str = "",
        fold: bool = False,
    ) -> None:
        self.valid, self.what = valid, what
        self.optional, self.empty, self.fold = optional, empty, fold

    def parse(self, value: object, where: str) -> str:
        with keyed(where):
            text: str = of_type(value, str)
        if self.empty and not text:
            raise ConfigError(f"{where}: {self.empty}")
        if self.valid is not None and not (self.optional and not text):
            with keyed(where):  # a check that says its own reason raises InvalidValueError
                valid = self.valid(text)
            if not valid:
                raise ConfigError(f"{where}: {text!r} is not {self.what}")
        return text.lower() if self.fold else text

    def render(self, value: str) -> str:
        return toml_string(value)

    def type_name(self) -> str:
        return "string"

    def describe(self) -> str:
        if self.valid is not None:
            return self.what + (', or ""' if self.optional else "")
        return "not empty" if self.empty else ""


class Choice(Kind[str]):
    """One word of ``options``."""

    def __init__(self, *options: str) -> None:
        self.options = options

    def parse(self, value: object, where: str) -> str:
        with keyed(where):
            return one_of(of_type(value, str), self.options)

    def render(self, value: str) -> str:
        return toml_string(value)

    def type_name(self) -> str:
        return "string"

    def describe(self) -> str:
        return ", ".join(self.options)


class ListOf(Kind[tuple[T, ...]]):
    """A TOML array; each item is read by ``item`` and reported under the array's key."""

    def __init__(self, item: Kind[T]) -> None:
        self.item = item

    def parse(self, value: object, where: str) -> tuple[T, ...]:
        with keyed(where):
            items: list[object] = of_type(value, list)
        return tuple(self.item.parse(v, where) for v in items)

    def render(self, value: tuple[T, ...]) -> str:
        return "[" + ", ".join(self.item.render(v) for v in value) + "]"

    def type_name(self) -> str:
        return f"list of {self.item.type_name()}s"

    def describe(self) -> str:
        return self.item.describe()


class EndpointKind(Kind[Endpoint]):
    """``[tcp://|sctp://]HOST[:PORT]``, ``default_port`` when no port is written."""

    def __init__(self, default_port: int) -> None:
        self.default_port = default_port

    def parse(self, value: object, where: str) -> Endpoint:
        with keyed(where):
            return parse_endpoint(of_type(value, str), self.default_port)

    def render(self, value: Endpoint) -> str:
        return toml_string(str(value))

    def type_name(self) -> str:
        return "endpoint"

    def describe(self) -> str:
        return f"[tcp://|sctp://]HOST[:PORT] (port {self.default_port} by default; 0: any free)"


class BrokerKind(Kind[Broker | None]):
    """``mqtt[s]://HOST[:PORT]``, or "" for none."""

    def parse(self, value: object, where: str) -> Broker | None:
        with keyed(where):
            text: str = of_type(value, str)
            return parse_broker(text) if text else None

    def render(self, value: Broker | None) -> str:
        return toml_string("" if value is None else str(value))

    def type_name(self) -> str:
        return "URL"

    def describe(self) -> str:
        return 'mqtt://HOST[:PORT] (1883) or mqtts://HOST[:PORT] (8883), or ""'


class HttpListen(Kind[Endpoint | None]):
    """``HOST[:PORT]`` over TCP, or "" for none."""

    def parse(self, value: object, where: str) -> Endpoint | None:
        with keyed(where):
            return parse_metrics_listen(of_type(value, str))

    def render(self, value: Endpoint | None) -> str:
        return toml_string("" if value is None else str(value).removeprefix("tcp://"))

    def type_name(self) -> str:
        return "address"

    def describe(self) -> str:
        return 'HOST[:PORT] (port 9464 by default; 0: any free), or ""'


class Order(Kind[tuple[E, ...]]):
    """Every member of an enumeration once, in the order of preference."""

    def __init__(self, members: type[E]) -> None:
        self.members = members

    def parse(self, value: object, where: str) -> tuple[E, ...]:
        with keyed(where):
            names = [of_type(v, str) for v in of_type(value, list)]
        valid = sorted(m.value for m in self.members)
        if sorted(names) != valid:
            every = f"{', '.join(valid[:-1])} and {valid[-1]}"
            raise ConfigError(f"{where}: must name {every} once each, got {names}")
        return tuple(self.members(n) for n in names)

    def render(self, value: tuple[E, ...]) -> str:
        return "[" + ", ".join(toml_string(m.value) for m in value) + "]"

    def type_name(self) -> str:
        return "list of strings"

    def describe(self) -> str:
        return ", ".join(sorted(m.value for m in self.members)) + ", each once"


class ChoiceTable(Kind[Mapping[E, str]]):
    """A sub-table with one key per member of an enumeration, each one of ``options``;
    the keys it leaves out keep their default."""

    inline = False

    def __init__(
        self, members: type[E], options: Sequence[str], entries: Mapping[E, tuple[str, str]]
    ) -> None:
        #: entries: member -> (its default, its one-line doc)
        self.members, self.options, self.entries = members, tuple(options), entries

    def defaults(self) -> dict[E, str]:
        return {m: self.entries[m][0] for m in self.members}

    def parse(self, value: object, where: str) -> Mapping[E, str]:
        with keyed(where):
            table: dict[str, object] = of_type(value, dict)
        reject_unknown(table, [m.value for m in self.members], where + ".")
        chosen = self.defaults()
        for key, action in table.items():
            with keyed(f"{where}.{key}"):
                chosen[self.members(key)] = one_of(of_type(action, str), self.options)
        return chosen

    def render(self, value: Mapping[E, str]) -> str:
        raise TypeError("a sub-table is rendered by eir.config.render")

    def type_name(self) -> str:
        return "table"

    def describe(self) -> str:
        return "each: " + ", ".join(self.options)
