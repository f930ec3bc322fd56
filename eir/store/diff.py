"""What a load changes, entry by entry: ``eir load --dry-run --diff FILE``.

:class:`RecordingTxn` wraps the load's write transaction (LMDB or in memory) and keeps, for
every key a write touched, its record before and after; :func:`diff_rows` turns those into
one row per entry added, updated or removed (``change, imei, imei_last, imsi, list, source,
reason, reference, effective, expires``), in key order, the IMEI written as it was loaded.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import BinaryIO

from eir.errors import LoadError
from eir.model import Entry
from eir.store.reading import imei_as
from eir.store.records import (
    DIGIT_OF_CODE,
    LIST_OF_CODE,
    PLAIN_CODE,
    TIMED,
    TIMES_SIZE,
    Table,
    entries_of,
    is_single_entry,
    split_key,
)
from eir.store.times import time_text
from eir.store.writes import Olds, WriteTxn, same_content

DIFF_COLUMNS = (
    "change",
    "imei",
    "imei_last",
    "imsi",
    "list",
    "source",
    "reason",
    "reference",
    "effective",
    "expires",
)

#: one changed key: (key, record before or None, record after or None)
Change = tuple[bytes, bytes | None, bytes | None]
Row = tuple[str, str, str, str, str, str, str, str, str, str]

_first = itemgetter(0)
#: what makes the csv module quote a field
_SPECIAL = re.compile(b'[,"\n]')  # with lineterminator "\n", "\r" is not quoted
#: by code octet: the check digit written after the key (if any), the empty imei_last and
#: imsi, and the list
_DIGIT_LIST = {
    code: (b"" if digit is None else b"%d" % digit) + b",,," + name.value.encode() + b","
    for code, name in LIST_OF_CODE.items()
    for digit in (DIGIT_OF_CODE.get(code),)
}
#: record forms :class:`_Lines` remembers (a load writes few distinct records, or all distinct)
_FORMS = 1 << 16
#: changes written at a time
_STEP = 1 << 15


class RecordingTxn:
    """A :class:`~eir.store.writes.WriteTxn` that records each change it passes on."""

    def __init__(self, inner: WriteTxn) -> None:
        self.inner = inner
        #: the changes of each table, in the order they were written
        self.changes: dict[str, list[Change]] = {}

    def _log(self, table: str) -> list[Change]:
        return self.changes.setdefault(table, [])

    def get(self, table: str, key: bytes) -> bytes | None:
        return self.inner.get(table, key)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        old = self.inner.get(table, key)
        self.inner.put(table, key, value)
        self._log(table).append((key, old, value))

    def insert(self, table: str, key: bytes, value: bytes) -> bool:
        done = self.inner.insert(table, key, value)
        if done:
            self._log(table).append((key, None, value))
        return done

    def bound(
        self, table: str
    ) -> tuple[Callable[[bytes], bytes | None], Callable[[bytes, bytes], bool]]:
        get, insert = self.inner.bound(table)
        log = self._log(table)

        def recorded(key: bytes, value: bytes) -> bool:
            done = insert(key, value)
            if done:
                log.append((key, None, value))
            return done

        return get, recorded

    def delete(self, table: str, key: bytes) -> None:
        old = self.inner.get(table, key)
        self.inner.delete(table, key)
        if old is not None:
            self._log(table).append((key, old, None))

    def delete_many(self, table: str, keys: list[bytes], olds: list[bytes] | None = None) -> None:
        if olds is None:
            get = self.inner.bound(table)[0]
            olds = [get(key) or b"" for key in keys]  # b"": absent, nothing deleted
        self.inner.delete_many(table, keys, olds)
        self._log(table).extend(zip(keys, olds, [None] * len(keys), strict=True))

    def items(self, table: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        return self.inner.items(table, start)

    def last_key(self, table: str) -> bytes | None:
        return self.inner.last_key(table)

    def append_sorted(self, table: str, keys: list[bytes], values: Iterable[bytes]) -> None:
        kept = list(values)
        self.inner.append_sorted(table, keys, kept)
        self._log(table).extend(zip(keys, [None] * len(keys), kept, strict=True))

    def put_sorted(
        self,
        table: str,
        items: list[tuple[bytes, bytes]],
        olds: Olds | None = None,
    ) -> None:
        get = self.inner.bound(table)[0] if olds is None else olds.getter()
        if items:
            keys, news = zip(*items, strict=True)
            self._log(table).extend(zip(keys, map(get, keys), news, strict=True))
        self.inner.put_sorted(table, items, olds)

    def scan(self, table: str, chunk: int) -> Iterator[tuple[list[bytes], list[bytes]]]:
        return self.inner.scan(table, chunk)


def _row(change: str, table: Table, key: bytes, entry: Entry) -> Row:
    imei, last, imsi = split_key(table, key)
    return (
        change,
        imei_as(imei, entry.digit),
        last or "",
        imsi or "",
        entry.list.value,
        entry.source,
        entry.reason,
        entry.reference,
        time_text(entry.effective),
        time_text(entry.expires),
    )


def _key_rows(table: Table, key: bytes, old: bytes | None, new: bytes | None) -> Iterator[Row]:
    """The rows of one key: its entries before and after, matched by (list, source)."""
    for row, _ in _key_changes(table, key, old, new):
        yield row


def _key_changes(
    table: Table, key: bytes, old: bytes | None, new: bytes | None
) -> Iterator[tuple[Row, Entry | None]]:
    """:func:`_key_rows`, each with the entry an ``updated`` row replaced (else None)."""
    before = {(e.list, e.source): e for e in entries_of(old)} if old else {}
    after = {(e.list, e.source): e for e in entries_of(new)} if new else {}
    for owner, entry in after.items():
        was = before.get(owner)
        if was is None:
            yield _row("added", table, key, entry), None
        elif not same_content(was, entry):
            yield _row("updated", table, key, entry), was
    for owner, entry in before.items():
        if owner not in after:
            yield _row("removed", table, key, entry), None


def _changed_keys(changes: dict[str, list[Change]]) -> Iterator[tuple[Table, bytes, Change]]:
    for table in Table:
        log = changes.get(table.value)
        if not log:
            continue
        log.sort(key=_first)  # runs already in order (deletes, puts, appends): a quick merge
        for change in log:
            key, old, new = change
            if old is not None and new is not None and old[0] == new[0] and old[5:] == new[5:]:
                continue  # only the time changed
            yield table, key, change


def diff_rows(changes: dict[str, list[Change]]) -> Iterator[Row]:
    """The rows of the recorded changes, table by table in key order."""
    for table, key, (_, old, new) in _changed_keys(changes):
        yield from _key_rows(table, key, old, new)


def diff_rows_before(changes: dict[str, list[Change]]) -> Iterator[tuple[Row, Entry | None]]:
    """:func:`diff_rows`, each with the entry an ``updated`` row replaced (its old times for
    the readable diff), else None."""
    for table, key, (_, old, new) in _changed_keys(changes):
        yield from _key_changes(table, key, old, new)


def _csv(row: Sequence[str]) -> bytes:
    """One CSV line (quoted as the csv module quotes), UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue().encode()


def _quoted(field: bytes) -> bytes:
    """A field of a record as the csv module writes it (quoted when it must be)."""
    if _SPECIAL.search(field) is None:
        return field
    return b'"' + field.replace(b'"', b'""') + b'"'


def _form(record: bytes) -> bytes | None:
    """The CSV line of a one-entry record's entry after the 14 digits of its key (None for a
    record of several entries), from its octets: only an entry's times are decoded."""
    if not is_single_entry(record):
        return None
    code = record[0]
    source_end = 6 + record[5]
    reason_end = source_end + 1 + record[source_end]
    end = len(record)
    times = b",,"
    if code >= TIMED:
        end -= TIMES_SIZE
        entry = entries_of(record)[0]
        times = f",{time_text(entry.effective)},{time_text(entry.expires)}".encode()
    fields: tuple[bytes, ...] = (
        record[6:source_end],
        record[source_end + 1 : reason_end],
        record[reason_end + 1 : end],
    )
    if _SPECIAL.search(record, 6, end) is not None:  # (or a length octet that looks like one)
        fields = tuple(map(_quoted, fields))
    return b"".join((_DIGIT_LIST[code], b",".join(fields), times, b"\n"))


class _Lines:
    """The CSV lines of the changes of the ``imei`` table, fast: a one-entry record (nearly
    all of them) is written from its octets, once for all the keys that share it; anything
    else is written from :func:`_key_rows`."""

    def __init__(self) -> None:
        #: record -> its line after the key (see _form)
        self.forms: dict[bytes, bytes | None] = {}

    def form(self, record: bytes) -> bytes | None:
        forms = self.forms
        if record in forms:
            return forms[record]
        if len(forms) >= _FORMS:
            forms.clear()
        form = forms[record] = _form(record)
        return form

    def lines(self, log: list[Change]) -> list[bytes]:
        """The lines of ``log``'s changes (a few thousand at a time: one tight loop)."""
        out: list[bytes] = []
        append, known, form = out.append, self.forms.get, self.form
        for key, old, new in log:
            if new is None:
                was = (known(old) or form(old)) if old else None
                if was is not None:
                    append(b"removed," + key + was)
                    continue
            elif old is None:
                now = known(new) or form(new)
                if now is not None:
                    append(b"added," + key + now)
                    continue
            elif old[0] == new[0] and old[5:] == new[5:]:
                continue  # only the time changed
            else:
                now = known(new) or form(new)
                if now is not None and _replaces(old, new):
                    append(b"updated," + key + now)
                    continue
            out += map(_csv, _key_rows(Table.IMEI, key, old, new))
        return out


def _replaces(old: bytes, new: bytes) -> bool:
    """Whether the one-entry record ``new`` replaces ``old`` as a whole: ``old`` is one entry
    of the same list and source (read as :func:`is_single_entry` reads a record)."""
    size = old[5]
    if PLAIN_CODE[old[0]] != PLAIN_CODE[new[0]] or old[5 : 6 + size] != new[5 : 6 + size]:
        return False
    try:
        reason_end = 7 + size + old[6 + size]
        return reason_end + 1 + old[reason_end] == len(old)
    except IndexError:
        return False


def diff_lines(changes: dict[str, list[Change]]) -> Iterator[list[bytes]]:
    """The CSV lines of :func:`diff_rows` (no header), a list at a time, the ``imei`` table's
    written fast."""
    for table in Table:
        log = changes.get(table.value)
        if not log:
            continue
        log.sort(key=_first)
        if table is Table.IMEI:
            lines = _Lines()
            for start in range(0, len(log), _STEP):
                yield lines.lines(log[start : start + _STEP])
        else:
            yield list(map(_csv, diff_rows({table.value: log})))


class DiffFile:
    """Where ``--diff PATH`` goes, opened before the load changes anything (an unwritable
    path refuses the load first): a temporary file beside ``PATH``, renamed over it once
    complete (a reader never sees half a diff), or standard output for ``-``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.temporary: str | None = None
        if path == "-":
            self.out: BinaryIO = sys.stdout.buffer
            return
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):  # the rename would fail only after the load
            raise LoadError(f"eir: --diff {path}: {os.strerror(errno.EISDIR)}")
        try:
            handle, self.temporary = tempfile.mkstemp(prefix=".eir-diff-", dir=folder)
        except OSError as exc:
            raise LoadError(f"eir: --diff {path}: {exc.strerror or exc}") from exc
        self.out = os.fdopen(handle, "wb")

    def write(self, changes: dict[str, list[Change]]) -> int:
        """The CSV of the changes, then the file renamed over the path; returns its rows."""
        out, count = self.out, 0
        try:
            out.write(_csv(DIFF_COLUMNS))
            for lines in diff_lines(changes):
                out.write(b"".join(lines))
                count += len(lines)
            out.flush()
        except BaseException:
            self.discard()
            raise
        if self.temporary is not None:
            out.close()
            os.replace(self.temporary, self.path)
        return count

    def discard(self) -> None:
        """No diff after all (the load failed): the temporary file removed."""
        if self.temporary is not None:
            self.out.close()
            os.unlink(self.temporary)
            self.temporary = None


def write_diff(path: str, changes: dict[str, list[Change]]) -> int:
    """The CSV of the changes into ``path`` (``-``: standard output); returns its rows."""
    return DiffFile(path).write(changes)
