"""Writing the configuration out, from the key declarations: the effective TOML of
``eir check-config`` (`to_toml`), the documented file ``conf/eir.toml`` (`documented_toml`)
and ``docs/configuration.md`` (`markdown`). ``python -m eir.config toml|markdown`` prints the
last two; tests hold the committed files to them.

Layer 0: standard library only.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from eir.config.keys import Config
from eir.config.kinds import ChoiceTable, toml_string
from eir.config.schema import (
    Setting,
    TableRows,
    declared,
    default_of,
    doc_of,
    required,
    sections_of,
)

WIDTH = 100

FILE_HEADER = """\
# eir configuration. Every key is shown with its default; delete what you do not change.
# Check a file with: eir check-config conf/eir.toml
# Generated from eir/config/keys.py by: python -m eir.config toml > conf/eir.toml
"""

DOC_HEADER = """\
# Configuration

eir reads one TOML file, given with `--config FILE` to every command. Every key has a default,
so eir runs with no file at all. [`conf/eir.toml`](../conf/eir.toml) lists every key with its
default, and `eir check-config FILE` validates a file and prints the effective configuration
in full. Unknown keys are refused; an error names the file and the key:
`FILE: section.key: reason`.

This page is generated from the declarations in `eir/config/keys.py`
(`python -m eir.config markdown > docs/configuration.md`); a test holds it to them.
"""


def to_toml(config: Config) -> str:
    """The effective configuration as TOML (``eir check-config`` prints it)."""
    return _file(config, documented=False)


def documented_toml() -> str:
    """``conf/eir.toml``: every key with its default, each after its doc as a comment."""
    return FILE_HEADER + "\n" + _file(Config(), documented=True)


def _file(config: Config, *, documented: bool) -> str:
    blocks = [_section(name, part, documented) for name, part in sections_of(config)]
    return "\n\n".join("\n".join(lines) for lines in blocks) + "\n"


def comment(text: str, indent: str = "") -> list[str]:
    """``text`` (paragraphs a line each) as ``#`` lines of at most WIDTH columns."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        lines += textwrap.wrap(
            paragraph,
            WIDTH,
            initial_indent="# " + indent,
            subsequent_indent="# " + " " * (len(indent) + 2 if indent else 0),
            break_long_words=False,
            break_on_hyphens=False,
        )
    return lines


def _section(path: str, part: object, documented: bool) -> list[str]:
    lines = [f"[{path}]"]
    if documented:
        paragraphs = [comment(p) for p in doc_of(type(part)).splitlines()]
        lines += [*"\n#\n".join("\n".join(p) for p in paragraphs).splitlines(), ""]
    lines += _keys(part, documented)
    for f, s in declared(type(part)):
        if not s.kind.inline:
            table = _table(f"{path}.{f.name}", s, getattr(part, f.name), documented)
            lines += ["", *table] if table else []
    return lines


def _keys(part: object, documented: bool) -> list[str]:
    """``key = value`` for each inline key, after its doc when ``documented`` (but those the
    part says it does not read: a method ``unused_keys``)."""
    lines: list[str] = []
    unused: Callable[[], tuple[str, ...]] = getattr(part, "unused_keys", tuple)
    skipped = unused()
    for f, s in declared(type(part)):
        if s.kind.inline and f.name not in skipped:
            lines += comment(s.doc) if documented else []
            lines.append(f"{f.name} = {s.kind.render(getattr(part, f.name))}")
    return lines


def _table(path: str, s: Setting, value: Any, documented: bool) -> list[str]:
    if isinstance(s.kind, ChoiceTable):
        return _choice_table(path, s, s.kind, value, documented)
    if isinstance(s.kind, TableRows):
        return _rows(path, s, s.kind, value, documented)
    raise TypeError(f"{path}: no rendering for {type(s.kind).__name__}")


def _choice_table(
    path: str, s: Setting, kind: ChoiceTable[Any], value: Mapping[StrEnum, str], documented: bool
) -> list[str]:
    lines = [f"[{path}]", *(comment(s.doc) if documented else [])]
    for member in kind.members:
        lines += comment(kind.entries[member][1]) if documented else []
        lines.append(f"{member.value} = {toml_string(value[member])}")
    return lines


def _rows(
    path: str, s: Setting, kind: TableRows[Any], value: tuple[object, ...], documented: bool
) -> list[str]:
    lines: list[str] = []
    if documented:
        lines += comment(f"{s.doc} Each [[{path}]] table has:")
        for f, entry in declared(kind.entry):
            lines += comment(f"{f.name}: {entry.doc}", "  ")
    if not value and documented:
        lines += comment("For example:")
        for row in kind.example:
            lines += [f"# [[{path}]]", *(f"# {line}" for line in _keys(row, False))]
    for i, row in enumerate(value):
        lines += ([""] if i or documented else []) + [f"[[{path}]]", *_keys(row, False)]
    return lines


def markdown() -> str:
    """``docs/configuration.md``: every key of every section, with type, default and range."""
    lines = [DOC_HEADER]
    for name, part in sections_of(Config()):
        lines += [f"## [{name}]", "", _text(doc_of(type(part))).replace("\n", "\n\n"), ""]
        lines += _key_table(part)
        refused: Mapping[str, str] = getattr(type(part), "REFUSED", {})
        lines += [f"`{key}` is refused: {reason}." for key, reason in refused.items()]
        lines += [""] if refused else []
        for f, s in declared(type(part)):
            if isinstance(s.kind, ChoiceTable):
                lines += _choice_table_doc(f"{name}.{f.name}", s, s.kind)
            elif isinstance(s.kind, TableRows):
                lines += _rows_doc(f"{name}.{f.name}", s, s.kind)
    return "\n".join(lines).rstrip("\n") + "\n"


def _text(text: str) -> str:
    """Markdown text: a ``<word>`` is shown, not taken for HTML."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    return _text(text).replace("|", "\\|")


def _key_table(part: object) -> list[str]:
    lines = ["| Key | Type | Default | Range | Description |", "| --- | --- | --- | --- | --- |"]
    for f, s in declared(type(part)):
        if isinstance(s.kind, ChoiceTable):
            default = "see below"
        elif isinstance(s.kind, TableRows):
            default = "none"
        elif required(f):
            default = "required"
        else:
            default = f"`{s.kind.render(default_of(f))}`"
        span = s.kind.describe()
        if s.at_least:
            span = f"{span}, at least {s.at_least}" if span else f"at least {s.at_least}"
        cells = (f"`{f.name}`", s.kind.type_name(), default, span, s.doc)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [*lines, ""]


def _choice_table_doc(path: str, s: Setting, kind: ChoiceTable[Any]) -> list[str]:
    lines = [
        f"### [{path}]",
        "",
        _text(s.doc),
        "",
        f"Each key is one of {', '.join(kind.options)}.",
        "",
    ]
    lines += ["| Key | Default | Description |", "| --- | --- | --- |"]
    for member in kind.members:
        default, doc = kind.entries[member]
        lines.append(f"| `{member.value}` | `{toml_string(default)}` | {_cell(doc)} |")
    return [*lines, ""]


def _rows_doc(path: str, s: Setting, kind: TableRows[Any]) -> list[str]:
    lines = [f"### [[{path}]]", "", _text(f"{s.doc} {doc_of(kind.entry)}"), ""]
    lines += _key_table(kind.example[0])
    lines += ["For example:", "", "```toml"]
    for row in kind.example:
        lines += [f"[[{path}]]", *_keys(row, False)]
    return [*lines, "```", ""]
