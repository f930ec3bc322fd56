"""How a list file's bytes are written: its packing (gzip, a zip of one file), its text
encoding and its field delimiter. What comes out is the file as UTF-8 text, and the delimiter
of its CSV.

* gzip (RFC 1952) and zip are told by their content, not their name; a zip must hold one file,
  named in messages as ``archive.zip!member.csv``;
* UTF-8 with or without a byte order mark, UTF-16 by its byte order mark (Excel's "Unicode
  text"), any other Python codec when the command line names it (``--encoding cp1252``);
* the delimiter of a CSV (``,`` ``;`` tab ``|``) is the one its header line uses most
  (outside quotes), unless the command line names one (``--delimiter``).

Layer 2 (the store's list reader); standard library only.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile
import zlib

from eir.errors import LoadError

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_ZIP = b"PK\x03\x04"
#: an empty zip archive: its end of central directory record alone
_EMPTY_ZIP = b"PK\x05\x06"
_GZIP = b"\x1f\x8b"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an Excel 97-2003 .xls
#: the delimiters a header is searched for, the first preferred when counts tie
DELIMITERS = (b",", b";", b"\t", b"|")
#: how ``--delimiter`` may name each
DELIMITER_NAMES = {
    ",": b",",
    "comma": b",",
    ";": b";",
    "semicolon": b";",
    "tab": b"\t",
    "\\t": b"\t",
    "\t": b"\t",
    "|": b"|",
    "pipe": b"|",
}
#: what a row or header that is not UTF-8 is told, with the way out
NOT_UTF8 = (
    "not UTF-8 text (a file saved on Windows is most often cp1252: load it with "
    "--encoding cp1252, or name its encoding with --encoding NAME)"
)


def delimiter_named(text: str) -> bytes:
    """The delimiter ``--delimiter`` names: ``,`` ``;`` ``|`` or ``tab`` (also ``\\t``)."""
    try:
        return DELIMITER_NAMES[text.lower() if len(text) > 1 else text]
    except KeyError:
        raise ValueError(f"{text!r} is not one of , ; | tab") from None


def delimiter_label(delimiter: bytes) -> str:
    """A delimiter in a message: ``';'``, ``tabs``."""
    return "tabs" if delimiter == b"\t" else repr(delimiter.decode())


def encoding_named(text: str) -> str:
    """The codec ``--encoding`` names (``cp1252``, ``latin-1``, ``utf-16``...)."""
    try:
        b"a".decode(text, "ignore")  # LookupError: no such name, or no text encoding (base64)
        return codecs.lookup(text).name
    except LookupError:
        raise ValueError(f"{text!r} is no text encoding Python knows (e.g. cp1252)") from None


def unpack(data: bytes, name: str) -> tuple[bytes, str]:
    """The file inside a gzip or zip packing (and its name in messages), or the data as it is."""
    if data.startswith(_GZIP):
        try:
            return gzip.decompress(data), name
        except (OSError, EOFError, zlib.error) as exc:
            raise LoadError(f"{name}: damaged gzip data: {exc}") from None
    if data.startswith(_OLE2):
        raise LoadError(_workbook(name))
    if data.startswith((_ZIP, _EMPTY_ZIP)):
        return _zip_member(data, name)
    return data, name


def _workbook(name: str) -> str:
    return f"{name}: an Excel workbook, not a list file: save it as CSV (CSV UTF-8) and load that"


#: what a damaged or unusual zip raises, from the zipfile module and the inflater under it
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, RuntimeError)


def _zip_member(data: bytes, name: str) -> tuple[bytes, str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [
                info
                for info in archive.infolist()
                if info.filename and not info.is_dir() and not _is_clutter(info.filename)
            ]
            if any(m.filename == "xl/workbook.xml" for m in members):
                raise LoadError(_workbook(name))
            if len(members) != 1:
                raise LoadError(_zip_count(name, [m.filename for m in members]))
            inner = f"{name}!{members[0].filename}"
            try:
                content = archive.read(members[0])
            except NotImplementedError as exc:  # a compression method Python lacks
                raise LoadError(f"{inner}: cannot unpack: {exc}") from None
    except NotImplementedError as exc:  # a zip version Python lacks
        raise LoadError(f"{name}: cannot read this zip archive: {exc}") from None
    except _ZIP_ERRORS as exc:  # encrypted too (RuntimeError)
        raise LoadError(f"{name}: damaged zip archive: {exc}") from None
    return unpack(content, inner)


def _is_clutter(path: str) -> bool:
    """What archivers add beside the files: macOS resource forks, hidden files."""
    base = path.rsplit("/", 1)[-1]
    return path.startswith("__MACOSX/") or base.startswith(".") or base == "Thumbs.db"


def _zip_count(name: str, members: list[str]) -> str:
    if not members:
        return f"{name}: the zip archive holds no file"
    listed = ", ".join(members)
    return (
        f"{name}: the zip archive holds {len(members)} files ({listed}): "
        "unzip it and name the list files to load"
    )


def as_utf8(data: bytes, name: str, encoding: str | None) -> bytes:
    """The file as UTF-8 without a byte order mark. Without an ``encoding`` UTF-8 is checked
    line by line later (a bad line is a bad row), and UTF-16 is known by its byte order mark;
    with one, the whole file is decoded here and its first bad octet is a LoadError."""
    if encoding is None or encoding == "utf-8":
        if data.startswith(UTF8_BOM):
            return data[len(UTF8_BOM) :]
        if data.startswith(_UTF16_BOMS):
            return _transcode(data, name, "utf-16", "UTF-16")
        if encoding is None and _looks_utf16(data):
            raise LoadError(
                f"{name}:1: looks like UTF-16 text without a byte order mark "
                "(load it with --encoding utf-16-le or --encoding utf-16-be)"
            )
        return data
    return _transcode(data, name, encoding, encoding)


def mac_line_ends(data: bytes) -> bytes:
    """Lines ended by a carriage return alone (classic Mac text, Excel's "CSV (Macintosh)")
    ended by a line feed instead; any other text as it is."""
    if b"\r" in data and b"\n" not in data:
        return data.replace(b"\r", b"\n")
    return data


def _looks_utf16(data: bytes) -> bool:
    """NUL octets in every other place of the first line: UTF-16 text."""
    head = data[:64]
    nuls = max(head[0::2].count(0), head[1::2].count(0))
    return len(head) >= 4 and nuls * 4 >= len(head)


def _transcode(data: bytes, name: str, codec: str, label: str) -> bytes:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(codec, errors="replace").count("\n") + 1
        octet = data[exc.start]
        raise LoadError(
            f"{name}:{line}: not {label} text (octet 0x{octet:02x}): name the file's encoding "
            "with --encoding NAME"
        ) from None
    return text.removeprefix("\ufeff").encode()


def detect_delimiter(line: bytes) -> bytes | None:
    """The delimiter a header line uses most, outside quotes; None when it has none."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for octet in line:
        if octet == 0x22:  # "
            quoted = not quoted
        elif not quoted:
            one = bytes((octet,))
            if one in counts:
                counts[one] += 1
    best = max(DELIMITERS, key=counts.__getitem__)  # the first of equal counts
    return best if counts[best] else None
