"""List files -> a validated :class:`~eir.store.batch.Batch`, or every bad row as
``file:line: reason``.

The loader in four steps, a module each:

1. :mod:`eir.store.formats`: read a file (``-``, gzip, zip, any encoding: see
   :mod:`eir.store.dialect`) and tell its shape (plain IMEIs, or a CSV, its delimiter and
   columns);
2. :mod:`eir.store.bulk`: a file of the common shapes (one IMEI a row; ``imei,reason
   [,reference]``) is validated in a few numpy passes, or not taken;
3. :mod:`eir.store.rows`: any other file, and any file in which the bulk path finds a fault,
   row by row, naming every bad row. Where a row is checked: there, each value by its check in
   :mod:`eir.store.fields`; the bulk path applies the same rules to whole columns and property
   tests hold it to the row path;
4. :mod:`eir.store.assemble`: the groups of the batch, their duplicates, the counts.

Speed: files of one IMEI a row are sorted as integers, with the Luhn check on another core.
CSV ``imei,reason[,reference]`` is packed into stored values in the file's own bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Executor, ThreadPoolExecutor

from eir.store.assemble import Parsed, assemble
from eir.store.batch import Batch
from eir.store.bulk import TEXT_LAYOUTS, imei_block, text_block
from eir.store.fields import check_source
from eir.store.formats import FileShape, LoadOptions, Report, read_input, shape_of
from eir.store.rows import read_rows

# LoadOptions is part of this module's interface (parse_files and parse_data take it).
__all__ = ["LoadOptions", "parse_data", "parse_files"]


def parse_files(paths: Iterable[str], options: LoadOptions, report: Report) -> Batch:
    """Read, validate and group every file. Raises LoadError when rows are invalid (unless
    ``skip_invalid``) or a file cannot be read at all; every bad row has been reported by then.
    """
    check_source(options.source)
    names: list[str] = []
    parsed: list[Parsed] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eir-luhn") as pool:
        for index, path in enumerate(paths):
            data, name = read_input(path)  # a zip's file is named archive.zip!member.csv
            names.append(name)
            parsed.append(parse_data(data, index, name, options, report, pool))
        return assemble(parsed, names, options, report)


def parse_data(
    data: bytes,
    file: int,
    name: str,
    options: LoadOptions,
    report: Report,
    pool: Executor | None = None,
) -> Parsed:
    """Parse one file's bytes (``file``: its index in the load); bad rows are reported and
    counted, not raised. A ``pool`` lets the bulk path's Luhn check run in the background (the
    block's ``luhn`` future)."""
    shape = shape_of(data, name, options, report)
    if shape is None:
        return Parsed()
    parsed = _bulk(shape, file, pool)
    if parsed is None:
        parsed = Parsed.of_rows(read_rows(shape, file, name, options, report))
    parsed.warnings += shape.warnings
    return parsed


def _bulk(shape: FileShape, file: int, pool: Executor | None) -> Parsed | None:
    """The file as one bulk block, when the bulk path takes it."""
    if shape.columns is None or shape.columns == ["imei"]:
        block = imei_block(shape, file, pool)
        return None if block is None else Parsed(blocks=[block], read=block.count)
    if shape.columns in TEXT_LAYOUTS:
        texts = text_block(shape, shape.columns, file, pool)
        return None if texts is None else Parsed(text_blocks=[texts], read=texts.count)
    return None
