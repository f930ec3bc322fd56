"""Where eir-sim's reports go: each output path checked before a run starts (so that an hour of
soak is not lost to a typo), and written after it; ``-`` is standard output.

A path is checked by opening it for writing without truncating it; a file that did not exist
is removed again at once, so a run that fails to start leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from typing import TextIO

STDOUT = "-"


class OutputError(ValueError):
    """An output path that cannot be written (``--html PATH: why``)."""


def check(option: str, path: str) -> None:
    """`OutputError` unless `path` (given as `option`) can be written."""
    if path == STDOUT:
        return
    if os.path.isdir(path):
        raise OutputError(f"{option} {path}: Is a directory")
    existed = os.path.lexists(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        raise OutputError(f"{option} {path}: {exc.strerror or exc}") from None
    os.close(fd)
    if not existed:
        with contextlib.suppress(OSError):
            os.unlink(path)


def check_all(outputs: Mapping[str, str | None]) -> None:
    """Every output given ({option: path}) checked; at most one on standard output, and no
    two on the same file."""
    given = {option: path for option, path in outputs.items() if path}
    on_stdout = [option for option, path in given.items() if path == STDOUT]
    if len(on_stdout) > 1:
        raise OutputError(f"{' and '.join(on_stdout)} cannot both write to standard output (-)")
    seen: dict[str, str] = {}
    for option, path in given.items():
        if path == STDOUT:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise OutputError(f"{seen[key]} and {option} name the same file {path}")
        seen[key] = option
        check(option, path)


def to_stdout(outputs: Mapping[str, str | None]) -> bool:
    """Whether a report goes to standard output (then the terminal table goes to stderr)."""
    return STDOUT in outputs.values()


def write(path: str, text: str) -> None:
    """`text` to `path` (or standard output for ``-``); OSError as it comes."""
    if path == STDOUT:
        show(text, sys.stdout)
        return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def show(text: str, stream: TextIO) -> None:
    """`text` on a standard stream. A reader that went away (``| head``) is an OSError here,
    and the stream is pointed at /dev/null so that nothing fails again at exit."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
        raise
