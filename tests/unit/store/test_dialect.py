"""How a list file is written: gzip and zip, encodings, the delimiter, the header's names."""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from eir.errors import LoadError
from eir.store.dialect import (
    as_utf8,
    delimiter_label,
    delimiter_named,
    detect_delimiter,
    encoding_named,
    unpack,
)
from eir.store.formats import LoadOptions, column_key, column_mapping, shape_of


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_unpack() -> None:
    assert unpack(b"imei\n", "f") == (b"imei\n", "f")
    assert unpack(gzip.compress(b"x\n"), "f.gz") == (b"x\n", "f.gz")
    assert unpack(zipped({"a.csv": b"x\n"}), "f.zip") == (b"x\n", "f.zip!a.csv")
    inner = zipped(
        {"dir/a.csv.gz": gzip.compress(b"y\n"), "__MACOSX/._a.csv": b"", ".DS_Store": b""}
    )
    assert unpack(inner, "f.zip") == (b"y\n", "f.zip!dir/a.csv.gz")
    with pytest.raises(LoadError, match=r"^f.zip: the zip archive holds no file$"):
        unpack(zipped({"x/": b""}), "f.zip")  # a folder only
    workbook = "an Excel workbook, not a list file: save it as CSV"
    with pytest.raises(LoadError, match=f"^f.xlsx: {workbook}"):
        unpack(zipped({"[Content_Types].xml": b"", "xl/workbook.xml": b""}), "f.xlsx")
    with pytest.raises(LoadError, match=f"^f.xls: {workbook}"):
        unpack(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "f.xls")
    with pytest.raises(LoadError, match=r"^f.zip: damaged zip archive"):
        unpack(b"PK\x03\x04broken", "f.zip")


def test_encodings() -> None:
    assert as_utf8(b"\xef\xbb\xbfimei\n", "f", None) == b"imei\n"
    for codec in ("utf-16-le", "utf-16-be"):
        bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
        assert as_utf8(bom + "imei\nđ\n".encode(codec), "f", None) == "imei\nđ\n".encode()
    assert as_utf8("é\n".encode("cp1252"), "f", "cp1252") == "é\n".encode()
    assert as_utf8(b"\xff\n", "f", None) == b"\xff\n"  # UTF-8 is checked line by line later
    with pytest.raises(LoadError, match=r"^f:3: not ascii text \(octet 0xe9\)"):
        as_utf8(b"a\nb\n\xe9\n", "f", "ascii")
    with pytest.raises(LoadError, match=r"^f:1: looks like UTF-16 text without a byte order"):
        as_utf8("imei\n".encode("utf-16-be"), "f", None)


@pytest.mark.parametrize(
    ("line", "found"),
    [
        (b"imei,reason", b","),
        (b'"IMEI";"Reason";"Case, number"', b";"),
        (b"IMEI\tReason\tReference", b"\t"),
        (b"imei|reason", b"|"),
        (b'"a;b;c",d', b","),  # quoted delimiters do not count
        (b"imei;reason,x;y", b";"),
        (b"490154203237518", None),
    ],
)
def test_detect_delimiter(line: bytes, found: bytes | None) -> None:
    assert detect_delimiter(line) == found


def test_named_options() -> None:
    assert [delimiter_named(n) for n in ("tab", "\\t", "TAB", ";", "|", ",")] == [
        b"\t",
        b"\t",
        b"\t",
        b";",
        b"|",
        b",",
    ]
    assert (delimiter_label(b"\t"), delimiter_label(b";")) == ("tabs", "';'")
    assert encoding_named("CP1252") == "cp1252" and encoding_named("latin-1") == "iso8859-1"
    with pytest.raises(ValueError, match="not one of"):
        delimiter_named(":")
    for bad in ("klingon", "base64", "rot13"):
        with pytest.raises(ValueError, match="no text encoding"):
            encoding_named(bad)


def test_column_names() -> None:
    assert column_key(" Imei  Last ") == column_key("imei_last") == "imei_last"
    assert column_mapping("Case number=reference") == ("case_number", "reference")
    assert column_mapping("a=b=Imei Last") == ("a=b", "imei_last")
    for bad in ("reference", "=reference", "x=colour"):
        with pytest.raises(ValueError):
            column_mapping(bad)


def shape(text: bytes, **options: object) -> tuple[list[str] | None, bytes, list[str]]:
    told: list[str] = []
    found = shape_of(text, "f", LoadOptions(**options), told.append)  # type: ignore[arg-type]
    assert found is not None
    return found.columns, found.delimiter, told


def test_headers() -> None:
    assert shape(b'\xef\xbb\xbf"IMEI";" Reason ";"Imei Last"\r\n1;2;3\r\n') == (
        ["imei", "reason", "imei_last"],
        b";",
        ["f: fields separated by ';'"],
    )
    columns, _, told = shape(b"IMEI;Case number;;x\n", column_map=(("case_number", "reference"),))
    assert columns == ["imei", "reference", "", ""]
    assert told[1].startswith("f:1: ignoring columns 3 (no name), 'x' (known: ")
    assert shape(b'"imei"\n1\n') == (["imei"], b",", [])
    assert shape(b"490154203237518\n", delimiter=b";") == (None, b",", [])
    assert shape(b"imei;reason\n", delimiter=b";") == (["imei", "reason"], b";", [])
    with pytest.raises(
        LoadError, match=r"^f:1: unknown column 'x' .*--strict-columns to ignore it"
    ):
        shape(b"imei,x\n", strict_columns=True)
    with pytest.raises(LoadError, match=r"^f:2: column 'reference' appears twice"):
        shape(b"# c\nimei,ref,reference\n", column_map=(("ref", "reference"),))


_GOOD_ZIP = zipped({"a.csv": b"imei\n490154203237518\n" * 20})


@given(st.lists(st.tuples(st.integers(4, len(_GOOD_ZIP) - 1), st.integers(0, 255)), max_size=4))
@example([(8, 99)])  # an unknown compression method
@example([(len(_GOOD_ZIP) - 22 + 16, 200)])  # the central directory's offset
def test_a_damaged_zip_is_one_load_error(damage: list[tuple[int, int]]) -> None:
    data = bytearray(_GOOD_ZIP)
    for at, octet in damage:
        data[at] = octet
    try:
        unpack(bytes(data), "f.zip")
    except LoadError as exc:
        assert str(exc).startswith("f.zip")
