"""List files -> a validated :class:`~eir.store.batch.Batch`, or every bad row as
``file:line: reason``.

The loader in four steps, a module each:

1. :mod:`eir.store.formats`: read a file (``-``, gzip, zip, any encoding: see
   :mod:`eir.store.dialect`) and tell its shape (plain IMEIs, or a CSV, its delimiter and
   columns);
2. :mod:`eir.store.bulk`: a file of the common shapes (one IMEI a row; a CSV of any of
   ``imei, reason, reference, source, list, added`` and ignored columns) is validated in a few
   numpy passes, or not taken;
3. :mod:`eir.store.rows`: any other file, and any file in which the bulk path finds a fault,
   row by row, naming every bad row. Where a row is checked: there, each value by its check in
   :mod:`eir.store.fields`; the bulk path applies the same rules to whole columns and property
   tests hold it to the row path;
4. :mod:`eir.store.assemble`: the groups of the batch, their duplicates, the counts.

Speed: files of one IMEI a row are sorted as integers, with the Luhn check on another core.
A CSV's columns are read in numpy (:mod:`eir.store.columns`) and its stored values packed in one
buffer (:mod:`eir.store.entries`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Protocol

from eir.store.assemble import Parsed, assemble
from eir.store.batch import Batch
from eir.store.bulk import csv_block, imei_block
from eir.store.fields import check_source
from eir.store.formats import FileShape, LoadOptions, Report, read_input, shape_of
from eir.store.rows import read_rows
from eir.store.times import has_time_columns

# LoadOptions is part of this module's interface (parse_files and parse_data take it).
__all__ = ["LoadOptions", "parse_data", "parse_files", "parse_shape"]


class Progress(Protocol):
    """What the loader tells of its progress: bytes read, bytes checked."""

    def read(self, octets: int) -> None: ...
    def checked(self, octets: int) -> None: ...


#: a step of the checking is done: how many of the file's bytes it stands for
Tick = Callable[[int], None]


def parse_files(
    paths: Iterable[str], options: LoadOptions, report: Report, progress: Progress | None = None
) -> Batch:
    """Read, validate and group every file. Raises LoadError when rows are invalid (unless
    ``skip_invalid``) or a file cannot be read at all; every bad row has been reported by then.
    """
    check_source(options.source)
    paths = list(paths)
    names: list[str] = []
    ticked = [0]  # bytes told as checked

    def tick(octets: int) -> None:
        ticked[0] += octets
        if progress is not None:
            progress.checked(octets)

    parsed = []
    total = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eir-luhn") as pool:
        for index, path in enumerate(paths):
            data, name = read_input(path)  # a zip's file is named archive.zip!member.csv
            names.append(name)
            total += len(data)
            if progress is not None:
                progress.read(len(data))
            parsed.append(parse_data(data, index, name, options, report, pool, tick))
        batch = assemble(parsed, names, options, report)
    tick(max(total - ticked[0], 0))
    return batch


def parse_data(
    data: bytes,
    file: int,
    name: str,
    options: LoadOptions,
    report: Report,
    pool: Executor | None = None,
    tick: Tick | None = None,
) -> Parsed:
    """Parse one file's bytes (``file``: its index in the load); bad rows are reported and
    counted, not raised. A ``pool`` lets the bulk path's Luhn check run in the background (the
    block's ``luhn`` future); ``tick`` is told of the bytes checked, step by step."""
    shape = shape_of(data, name, options, report)
    if shape is None:
        return Parsed()
    parsed = parse_shape(shape, file, name, options, report, pool, tick)
    parsed.warnings += shape.warnings
    return parsed


def parse_shape(
    shape: FileShape,
    file: int,
    name: str,
    options: LoadOptions,
    report: Report,
    pool: Executor | None = None,
    tick: Tick | None = None,
) -> Parsed:
    """Parse one file of a known shape: in bulk when the bulk path takes it, else row by
    row."""
    bulk = _bulk(shape, file, options, pool, tick)
    if bulk is not None:
        return bulk
    return Parsed.of_rows(read_rows(shape, file, name, options, report))


def _bulk(
    shape: FileShape, file: int, options: LoadOptions, pool: Executor | None, tick: Tick | None
) -> Parsed | None:
    """The file as one bulk block, when the bulk path takes it: not a file with times (its
    columns, or the load's ``--grace``/``--expires-in``), which the row path reads."""
    if options.timed or (shape.columns is not None and has_time_columns(shape.columns)):
        return None
    if shape.columns is None or shape.columns == ["imei"]:
        block = imei_block(shape, file, pool)
        if block is not None:
            return Parsed(blocks=[block], read=block.count)
    table = csv_block(shape, options, file, tick)  # a CSV (of only IMEIs of several widths too)
    return None if table is None else Parsed(csv_blocks=[table], read=table.count)
