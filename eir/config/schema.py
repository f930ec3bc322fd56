"""How a key is declared: `setting` (its kind, default and doc) on a field of a `section`
dataclass; reading a TOML table into a section; `TableRows`, the kind of an array of tables.

One declaration per key drives parsing (`parse_section`), the typed attribute the code reads,
``eir check-config``, ``conf/eir.toml`` and ``docs/configuration.md`` (`eir.config.render`).

Layer 0: standard library only.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass
from typing import Any, TypeVar, cast, dataclass_transform, overload

from eir.config.checks import Errors, of_type
from eir.config.kinds import Kind, keyed, reject_unknown
from eir.errors import ConfigError

T = TypeVar("T")
S = TypeVar("S")

#: the key of a field's metadata that holds its `Setting`
SETTING = "eir.config.setting"


@dataclass(frozen=True, slots=True)
class Setting:
    """What a key is, besides its name and default (those are the field's)."""

    kind: Kind[Any]
    #: what the key does, in a sentence or a few (the file's comment, the docs' description)
    doc: str
    #: another key of the section that this one may not be below
    at_least: str = ""


@overload
def setting(kind: Kind[T], doc: str, *, default: T, at_least: str = "") -> T: ...
@overload
def setting(
    kind: Kind[T], doc: str, *, default_factory: Callable[[], T], at_least: str = ""
) -> T: ...
@overload
def setting(kind: Kind[T], doc: str, *, at_least: str = "") -> T: ...
def setting(
    kind: Kind[Any],
    doc: str,
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    at_least: str = "",
) -> Any:
    """Declare a key: a dataclass field with its kind and doc; no default: the key is required."""
    metadata = {SETTING: Setting(kind, " ".join(doc.split()), at_least)}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass_transform(frozen_default=True, field_specifiers=(setting,))
def section(cls: type[S]) -> type[S]:
    """A table of the file: a frozen dataclass whose every field is a `setting`.

    Its docstring documents the table. It may refuse keys with a reason (a class attribute
    ``REFUSED: ClassVar[Mapping[str, str]]``) and check its keys together (a method
    ``check(self, where: str) -> None``).
    """
    return dataclass(frozen=True, slots=True)(cls)


def declared(cls: type) -> list[tuple[Field[Any], Setting]]:
    """The fields of a section with their settings, in declaration order."""
    return [(f, f.metadata[SETTING]) for f in dataclasses.fields(cls)]


def doc_of(cls: type) -> str:
    """A section's docstring as paragraphs of one line each."""
    text = inspect.cleandoc(cls.__doc__ or "")
    return "\n".join(" ".join(p.split()) for p in text.split("\n\n"))


def default_of(f: Field[Any]) -> Any:
    if f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


def required(f: Field[Any]) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def parse_section(cls: type[S], table: Mapping[str, object], where: str) -> S:
    """Read a TOML table into a section; ``where`` ends with the separator (``FILE: store.``).

    Absent keys keep their default; a required key absent is ``missing``. Every error of the
    table is raised at once (`eir.errors.ConfigFileError`); the checks of keys together only run
    when each key is valid."""
    errors = Errors()
    refused: Mapping[str, str] = getattr(cls, "REFUSED", {})
    for key, reason in refused.items():
        if key in table:
            errors.add(f"{where}{key}: {reason}")
    fields = declared(cls)
    known = [f.name for f, _ in fields]
    for key in table:
        if key not in refused:
            with errors.gathered():
                reject_unknown({key: None}, known, where)
    values = _values(fields, table, where, errors)
    errors.raise_any()
    made = cls(**values)
    for f, s in fields:
        with errors.gathered():
            _check_at_least(made, f.name, s.at_least, where)
    check: Callable[[str], None] | None = getattr(made, "check", None)
    if check is not None:
        with errors.gathered():
            check(where)
    errors.raise_any()
    return made


def _values(
    fields: list[tuple[Field[Any], Setting]],
    table: Mapping[str, object],
    where: str,
    errors: Errors,
) -> dict[str, object]:
    """The values of the keys present, parsed; the errors go into ``errors``."""
    values: dict[str, object] = {}
    for f, s in fields:
        if f.name in table:
            with errors.gathered():
                values[f.name] = s.kind.parse(table[f.name], where + f.name)
        elif required(f):
            errors.add(f"{where}{f.name}: missing")
    return values


def _check_at_least(made: object, name: str, other: str, where: str) -> None:
    if not other:
        return
    value, low = getattr(made, name), getattr(made, other)
    if value < low:
        shown = str(low) if isinstance(low, int) else f"{low:g}"
        raise ConfigError(f"{where}{name}: must be at least {other} ({shown})")


class TableRows(Kind[tuple[S, ...]]):
    """An array of tables (``[[diameter.peers]]``), each a `section` of type ``entry``.

    ``unique``: a key no two rows may share. ``example``: rows the documented file shows
    (commented out) while there are none."""

    inline = False

    def __init__(
        self,
        entry: type[S],
        example: Sequence[Mapping[str, object]],
        unique: str = "",
    ) -> None:
        self.entry, self.unique = entry, unique
        self.example = self.parse(list(example), "example")

    def parse(self, value: object, where: str) -> tuple[S, ...]:
        with keyed(where):
            raws: list[object] = of_type(value, list)
        rows: list[S] = []
        errors = Errors()
        for i, raw in enumerate(raws):
            here = f"{where}[{i}]."
            with errors.gathered():
                rows.append(self._row(raw, rows, here))
        errors.raise_any()
        return tuple(rows)

    def _row(self, raw: object, rows: list[S], here: str) -> S:
        with keyed(here[:-1]):
            table: dict[str, object] = of_type(raw, dict)
        row = parse_section(self.entry, table, here)
        self._check_unique(row, rows, here)
        return row

    def _check_unique(self, row: S, rows: list[S], here: str) -> None:
        if not self.unique:
            return
        value = getattr(row, self.unique)
        if value in {getattr(r, self.unique) for r in rows}:
            raise ConfigError(f"{here}{self.unique}: {value!r} is configured twice")

    def render(self, value: tuple[S, ...]) -> str:
        raise TypeError("an array of tables is rendered by eir.config.render")

    def type_name(self) -> str:
        return "array of tables"

    def describe(self) -> str:
        return f"unique {self.unique}" if self.unique else ""


def sections_of(config: object) -> list[tuple[str, object]]:
    """The sections of a configuration object, by name (its fields that are sections)."""
    return [
        (f.name, getattr(config, f.name))
        for f in dataclasses.fields(cast(Any, config))
        if dataclasses.is_dataclass(getattr(config, f.name))
    ]
