"""Writes the sample list files of tests/data (see README.md): hand-written rows, in the shapes
police and regulator spreadsheets export. Run it from the repository root:
``.venv/bin/python -m tests.data.make_samples``. The IMEIs are made up (valid Luhn digits
where meant); none is real police data.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

EXCEL = (
    '"IMEI";"Reason";"Case number";"Date"\r\n'
    '"490154203237518";"stolen";"HCM-2026-00017";"29/11/2026"\r\n'
    '"35-209900-176148-1";"robbery; phone and bag";"HCM-2026-00018";"30/11/2026"\r\n'
    "'356938035643809;lost;HCM-2026-00019;01/12/2026\r\n"
)
TAB = "IMEI\tReason\tReference\n490154203237518\tstolen\tHN-1\n353456789012348\tcloned\tHN-2\n"
PIPE = "imei|reason|source\n490154203237518|stolen|police-hn\n861234560000013|lost|police-hn\n"
UNICODE_TEXT = (
    "IMEI\tReason\tReference\r\n"
    "490154203237518\tMất cắp\tĐN-7\r\n"
    "352099001761481\tBị cướp\tĐN-8\r\n"
)
CP1252 = "imei;reason\n490154203237518;Volé à l'arraché\n356938035643809;Perdu \u2013 métro\n"
WRITTEN = (
    "# IMEIs as written on police forms and phone boxes\n"
    "35-209900-176148-1\n"
    "49 015420 323751 8\n"
    "35.693803.564380.9\n"
    "'353456789012348\n"
)
DATES = (
    "imei,added\n"
    "490154203237518,2026-11-29T10:00:00+07:00\n"
    "352099001761481,2026-11-29T10:00:00\n"
    "356938035643809,2026-11-29\n"
    "353456789012348,1795910400\n"
    "861234560000013,29/11/2026\n"
    "350000000000170,29.11.2026 08:15\n"
    "445566778899008,29-11-2026 08:15:30\n"
)
EXTRA = (
    "IMEI, Reason ,Case number,x_model\n"
    "490154203237518,stolen,HCM-1,Galaxy A05\n"
    "352099001761481,lost,HCM-2,Redmi 13C\n"
)
BAD_CHECK = "490154203237518\n490154203237519\n352099001761482\n"
LOST_ZERO = "IMEI;Reason\r\n13006001234568;stolen\r\n490154203237518;stolen\r\n"
SPREADSHEET_NUMBERS = (
    "IMEI;Reason\r\n"
    "352099001761481.0;stolen\r\n"
    "35209900176148.0;stolen\r\n"
    "3.52099E+14;stolen\r\n"
    "35.209900.176148.1;stolen\r\n"
    "35-209900-176148-X;stolen\r\n"
)
#: Excel's trailing ';' (a column with no name): empty in every row, then not
TRAILING = "IMEI;Reason;\r\n490154203237518;stolen;\r\n352099001761481;lost;\r\n"
TRAILING_FILLED = "IMEI;Reason;\r\n490154203237518;stolen;HCM-1\r\n352099001761481;lost;\r\n"


def _zip(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 29, 0, 0, 0))
            archive.writestr(info, text, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


SAMPLES: dict[str, bytes] = {
    "excel-semicolon.csv": b"\xef\xbb\xbf" + EXCEL.encode(),
    "tab.txt": TAB.encode(),
    "pipe.csv": PIPE.encode(),
    "unicode-text.txt": UNICODE_TEXT.encode("utf-16"),  # little-endian, with its BOM
    "cp1252.csv": CP1252.encode("cp1252"),
    "one-list.zip": _zip({"police.csv": PIPE}),
    "two-lists.zip": _zip({"police.csv": PIPE, "regulator.csv": TAB}),
    "written-imeis.txt": WRITTEN.encode(),
    "dates.csv": DATES.encode(),
    "extra-columns.csv": EXTRA.encode(),
    "bad-check-digits.txt": BAD_CHECK.encode(),
    "lost-leading-zero.csv": LOST_ZERO.encode(),
    "spreadsheet-numbers.csv": SPREADSHEET_NUMBERS.encode(),
    "trailing-semicolon.csv": TRAILING.encode(),
    "unnamed-column.csv": TRAILING_FILLED.encode(),
    "empty.zip": _zip({}),
}


def main() -> None:
    for name, data in SAMPLES.items():
        (HERE / name).write_bytes(data)


if __name__ == "__main__":
    main()
