"""``eir devices`` through the real ``eir``: the sample files of each layout loaded (exact
summaries), bad files refused with ``file:line`` and the previous devices kept exactly (digest),
lookup, stats and export."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.support.cli import eir
from tests.support.diameter import serve

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "conf" / "devices"
GSMA17 = SAMPLES / "sample-gsma17.txt"
GSMA20 = SAMPLES / "sample-gsma20.txt"
LAB = SAMPLES / "sample-lab.csv"
APPROVED = SAMPLES / "approved-sample.csv"


def _summary(line: str) -> str:
    """A summary line without its time and rate (they vary)."""
    return line.split(";", maxsplit=1)[0]


def _load(db: Path, *args: str | Path) -> str:
    result = eir("devices", "load", *args, "--db", db)
    assert result.returncode == 0, result.stderr
    return _summary(result.stdout.strip())


def _device_digest(db: Path) -> str:
    result = eir("devices", "stats", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    value: str = json.loads(result.stdout)["digest"]
    return value


def test_each_layout_loads_the_same_devices(tmp_path: Path) -> None:
    db = tmp_path / "db"
    assert _load(db, GSMA17) == (
        f"devices gsma17 from {GSMA17}: added 40, updated 0, removed 0, unchanged 0, duplicates 0"
    )
    # the 20-column layout has no allocation date: every device changes
    assert _load(db, GSMA20) == (
        f"devices gsma20 from {GSMA20}: added 0, updated 40, removed 0, unchanged 0, duplicates 0"
    )
    assert _load(db, LAB) == (
        f"devices lab from {LAB}: added 0, updated 40, removed 0, unchanged 0, duplicates 0"
    )
    assert _load(db, "--approved", APPROVED) == (
        f"approved from {APPROVED}: added 19, updated 0, removed 0, unchanged 0, duplicates 0"
    )
    stats = eir("devices", "stats", "--db", db)
    assert stats.returncode == 0, stats.stderr
    lines = stats.stdout.splitlines()
    assert lines[0] == (
        "devices: 40 TACs (lab sample-lab.csv), approved 19 (approved approved-sample.csv)"
    )
    assert lines[2] == (
        "by device type: Feature Phone 5, Mobile Phone/Feature phone 5, Module 10, "
        "Smartphone 15, Tablet 5"
    )
    assert lines[3] == "by radio: GSM 30, LTE 25, NB-IOT 5, NR 10, UMTS 20"


def test_a_gsma_file_and_its_lab_export_load_alike(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    _load(one, GSMA17)
    exported = tmp_path / "devices.csv"
    assert eir("devices", "export", exported, "--db", one).returncode == 0
    _load(two, exported)
    # the same devices but for the kind of file that loaded them
    first = eir("devices", "export", "--db", one).stdout
    assert first == eir("devices", "export", "--db", two).stdout
    approved = tmp_path / "approved.csv"
    _load(one, "--approved", APPROVED)
    assert eir("devices", "export", "--approved", approved, "--db", one).returncode == 0
    _load(two, "--approved", approved)
    assert eir("devices", "export", "--approved", "--db", two).stdout == approved.read_text()
    # the digest is of the devices, not of the kind of file they came in
    assert _device_digest(one) == _device_digest(two)


def test_an_export_loaded_again_is_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _load(db, GSMA17)
    before = _device_digest(db)
    exported = tmp_path / "devices.csv"
    assert eir("devices", "export", exported, "--db", db).returncode == 0
    assert _load(db, exported) == (
        f"devices lab from {exported}: added 0, updated 0, removed 0, unchanged 40, duplicates 0"
    )
    assert _device_digest(db) == before
    stats = eir("devices", "stats", "--db", db).stdout.splitlines()
    assert stats[0] == "devices: 40 TACs (lab devices.csv), approved 0 (none loaded)"


def test_lookup_shows_the_device(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _load(db, GSMA17)
    _load(db, "--approved", APPROVED)
    row = GSMA17.read_text().splitlines()[2].split("|")
    tac = row[0]
    result = eir("devices", "lookup", f"{tac}1234567", "--db", db)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"TAC {tac}: {row[10]} {row[11]}"
    assert f"  radio_interface: {row[9]}" in lines
    assert lines[-4:] == ["  radios: GSM", "  approved: yes", "  classes: none", "  rules: none"]
    data = json.loads(eir("devices", "lookup", tac, "--json", "--db", db).stdout)
    assert data["device"]["device_type"] == "Feature Phone"
    assert data["approved"] is True
    missing = eir("devices", "lookup", "12345678", "--db", db)
    assert missing.stdout.splitlines() == [
        "TAC 12345678: not in the device database (40 TACs loaded)",
        "  approved: no",
        "  classes: tac-unallocated",
        "  rules: none",
    ]
    for command in ("lookup", "stats", "export"):
        args = ["12345678"] if command == "lookup" else []
        none = eir("devices", command, *args, "--db", tmp_path / "none")
        assert (none.returncode, none.stderr) == (
            1,
            f"eir: {tmp_path / 'none'}: no list store here (create one with `eir devices load`)\n",
        ), command
    bad = eir("devices", "lookup", "1234", "--db", db)
    assert bad.returncode == 2
    assert bad.stderr == "eir: '1234' is not a TAC (8 digits) or an IMEI (14 to 16 digits)\n"


def test_stats_shows_the_device_digest(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _load(db, GSMA17)
    result = eir("stats", "--db", db)
    assert result.returncode == 0, result.stderr
    assert f"devices digest: {_device_digest(db)}" in result.stdout.splitlines()
    assert "devices: 40 TACs (gsma17 sample-gsma17.txt), approved 0 (none loaded)" in (
        result.stdout.splitlines()
    )
    data = json.loads(eir("stats", "--json", "--db", db).stdout)
    assert (data["devices"]["devices"], data["devices"]["digest"]) == (40, _device_digest(db))
    assert data["history"][-1]["action"] == "devices"
    history = [line for line in result.stdout.splitlines() if " devices (gsma17) " in line]
    assert len(history) == 1 and history[0].endswith(": +40 ~0 -0 =0 duplicates 0")


def _refused(db: Path, path: Path, *errors: str, approved: bool = False) -> None:
    before = _device_digest(db)
    result = eir("devices", "load", *(["--approved"] if approved else []), path, "--db", db)
    assert result.returncode == 1
    assert result.stdout == ""
    rows = "1 bad row" if len(errors) == 1 else f"{len(errors)} bad rows"
    assert result.stderr.splitlines() == [*errors, f"eir: {rows} in {path}: nothing was changed"]
    assert _device_digest(db) == before


def test_bad_files_change_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _load(db, GSMA17)
    _load(db, "--approved", APPROVED)
    header = GSMA17.read_text().splitlines()[1]
    rows = GSMA17.read_text().splitlines()[2:5]
    bad = tmp_path / "bad.txt"
    other = rows[0].replace("|GSM|", "|GSM,LTE|")
    bad.write_text(
        "\n".join(
            [
                header,
                *rows,
                other,
                "1234567|" + rows[1].split("|", 1)[1],
                rows[2][:30],
                rows[1].replace("|", "|x|", 1),
            ]
        )
        + "\n"
    )
    _refused(
        db,
        bad,
        f"{bad}:5: TAC {rows[0][:8]} is repeated with other values (first at line 2)",
        f"{bad}:6: TAC '1234567' is not 8 digits (a leading 0 lost by a spreadsheet?)",
        f"{bad}:7: {len(rows[2][:30].split('|'))} fields where the header has 17",
        f"{bad}:8: 18 fields where the header has 17",
    )
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("IMEI|Model\n35000000|x\n")
    _refused(db, unknown, f"{unknown}:1: unknown header: expected " + _expected())
    empty = tmp_path / "empty.txt"
    empty.write_text(f"# nothing yet\n{header}\n")
    result = eir("devices", "load", empty, "--db", db)
    assert (result.returncode, result.stderr) == (
        1,
        f"eir: {empty} is empty (a device database or approved list never is): nothing was "
        "changed\n",
    )
    date = tmp_path / "date.txt"
    date.write_text(f"{header}\n{rows[0].replace('-20', '-Foo-20', 1)}\n")
    result = eir("devices", "load", date, "--db", db)
    assert result.returncode == 1
    assert "is not a date (01-Jan-2015, 2015-01-01, 01/01/2015 or 20150101)" in result.stderr
    approved = tmp_path / "approved.txt"
    approved.write_text("35000000\nAcme\n1234\n1234567\n")
    _refused(
        db,
        approved,
        f"{approved}:2: 'Acme' is neither a TAC (8 digits) nor brand,model",
        f"{approved}:3: TAC '1234' is not 8 digits (a leading 0 lost by a spreadsheet?)",
        f"{approved}:4: TAC '1234567' is not 8 digits (a leading 0 lost by a spreadsheet?)",
        approved=True,
    )


def _expected() -> str:
    from eir.devices.formats import GSMA17 as HEAD17
    from eir.devices.formats import GSMA20 as HEAD20

    return (
        f"the GSMA TAC database's 17-column header {'|'.join(HEAD17)}, its 20-column header "
        f"{'|'.join(HEAD20)}, or a CSV header with a tac column"
    )


def test_real_file_quirks_are_taken(tmp_path: Path) -> None:
    """A byte order mark, CRLF, quoted fields, trailing pipes, a header in other case and
    spacing, a repeated identical row, gzip: the same devices as the clean file."""
    db, clean = tmp_path / "db", tmp_path / "clean"
    _load(clean, GSMA17)
    lines = GSMA17.read_text().splitlines()[1:]
    header = lines[0].upper().replace("|", " | ")
    rows = [row + "||" for row in lines[1:]]
    rows[0] = rows[0].replace("|", '|"', 1).replace("|", '"|', 2).replace('"|', "|", 1)
    text = "\ufeff" + "\r\n".join([header, *rows, rows[3]]) + "\r\n"
    quirky = tmp_path / "quirky.txt.gz"
    quirky.write_bytes(gzip.compress(text.encode()))
    assert _load(db, quirky) == (
        f"devices gsma17 from {quirky}: added 40, updated 0, removed 0, unchanged 0, duplicates 1"
    )
    assert _device_digest(db) == _device_digest(clean)


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _load(db, GSMA17)
    before = _device_digest(db)
    assert _load(db, LAB, "--dry-run").startswith(
        f"dry run, nothing changed: devices lab from {LAB}: added 0, updated 40"
    )
    assert _device_digest(db) == before


def test_a_test_tac_is_not_also_unallocated(tmp_path: Path) -> None:
    """001 TACs (GSMA TS.06 test equipment) are never in a GSMA file: with a device database
    loaded such an IMEI is test-tac (ignored by default) only, not greylisted as unallocated."""
    db = tmp_path / "db"
    _load(db, GSMA17)
    result = eir("lookup", "001000000000017", "--db", db)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "001000000000017: whitelisted",
        "  why: unknown: on no list",
        "  anomalies: test-tac",
    ]
    result = eir("lookup", "490154203237518", "--db", db)  # another TAC it lacks still is
    assert result.stdout.splitlines()[2] == "  anomalies: tac-unallocated"


def test_serve_tells_the_device_database_it_loaded(tmp_path: Path) -> None:
    db = tmp_path / "db"
    listed = tmp_path / "black.txt"
    listed.write_text("490154203237518\n")
    assert eir("load", listed, "--list", "black", "--source", "s", "--db", db).returncode == 0
    with serve(db) as served:
        assert served.lines[0] == f"eir: serving lists from {db} (black 1)"
    _load(db, GSMA17)
    _load(db, "--approved", APPROVED)
    with serve(db) as served:
        assert served.lines[0] == f"eir: serving lists from {db} (black 1, devices 40, approved 19)"


def test_a_20_column_file_warns_of_rules_on_the_allocation_date(tmp_path: Path) -> None:
    config = tmp_path / "eir.toml"
    config.write_text(
        '[[policy.device_rules]]\nname = "old"\naction = "black"\n'
        'allocated_before = "2015-01-01"\n\n'
        '[[policy.device_rules]]\nname = "modules"\naction = "grey"\ndevice_type = "Module"\n'
    )
    db = tmp_path / "db"
    loaded = eir("devices", "load", GSMA20, "--db", db, "--config", config)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stderr == (
        f"eir: warning: {GSMA20}: the 20-column layout has no allocation date: "
        "[[policy.device_rules]] with allocated_before (old) match none of its devices\n"
    )
    # no such rule, or a layout with the date: no warning
    plain = eir("devices", "load", GSMA20, "--db", db)
    assert (plain.returncode, plain.stderr) == (0, "")
    dated = eir("devices", "load", GSMA17, "--db", db, "--config", config)
    assert (dated.returncode, dated.stderr) == (0, "")
