"""``eir pairs grandfather`` and ``pairs.max_per_imei`` through the real ``eir``, with a real
observation store filled by ``ObservationStore.observe``; and the issue's proof: grandfathering
then a black load of the same IMEIs answers white for the paired IMSIs and black for the others,
over S13 and MAP (v2, the IMSI after the IMEI) on real sockets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eir.identity import Imei, tbcd_encode
from eir.model import EquipmentStatus
from eir.observations.record import Observed, PairRecord, Sighting
from eir.observations.store import ObservationStore
from eir.sigtran import msc, sccp
from tests.support.cli import digest, eir
from tests.support.diameter import BlockingClient, serve
from tests.support.sigtran import OTID, Msc, decoded, over_sccp

X, Y = "49015420323751", "35693803564380"  # 14-digit keys
X15, Y15 = "490154203237518", "356938035643809"
I1, I2, I3, I4, I5 = (f"00101000000000{n}" for n in range(1, 6))
OTHER = "001019999999999"


def at(day: int, hour: int = 12) -> int:
    """2026-01-DAY (past 31: February) at HOUR, UTC, in seconds."""
    return int(datetime(2026, 1, 1, hour, tzinfo=UTC).timestamp()) + (day - 1) * 86_400


def observations(path: Path) -> Path:
    """X with I1 on 3 days, I2 on 1, I3 on 2, I4 first after the cut-off; Y with I5, seen by
    another node (merged, as the aggregator does)."""
    store = ObservationStore(path, map_size_mb=16)
    try:
        seen = [(I1, d) for d in (10, 11, 12)] + [(I2, 10)] + [(I3, d) for d in (15, 16)]
        store.observe("n1", [Sighting(X, imsi, at(day)) for imsi, day in seen])
        store.observe("n1", [Sighting(X, I4, at(36))])
        record = PairRecord(at(20), at(21), (at(20) // 86_400, at(21) // 86_400), 4)
        store.merge([Observed(Y, I5, "n2", record)])
    finally:
        store.close()
    return path


def config(tmp_path: Path, limit: int) -> Path:
    path = tmp_path / "eir.toml"
    path.write_text(f"[pairs]\nmax_per_imei = {limit}\n")
    return path


def grandfather(tmp_path: Path, *args: str | Path, limit: int = 2) -> Any:
    return eir(
        "pairs",
        "grandfather",
        "--seen-before",
        "2026-01-31",
        "--observations",
        tmp_path / "obs",
        "--db",
        tmp_path / "db",
        "--config",
        config(tmp_path, limit),
        *args,
    )


def test_grandfather_makes_white_pairs(tmp_path: Path) -> None:
    observations(tmp_path / "obs")
    db = tmp_path / "db"
    result = grandfather(tmp_path, "--dry-run")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == (
        "seen before 2026-01-31: 4 pairs of 2 IMEIs; 3 to make white, 0 white already, "
        "1 left out (pairs.max_per_imei is 2: the pairs seen on the most days kept)"
    )
    assert second.startswith("dry run, nothing changed: added 3, updated 0, removed 0,")
    before = digest(db)
    result = grandfather(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("added 3, updated 0, removed 0, unchanged 0,")
    assert digest(db) != before
    kept = json.loads(eir("lookup", X15, "--imsi", I1, "--json", "--db", db).stdout)
    assert (kept["answer"], kept["why"]) == (
        "whitelisted",
        f"pair: pair {X}+{I1} on white from grandfathered",
    )
    assert (kept["entry"]["reason"], kept["entry"]["reference"]) == (
        "seen before 2026-01-31",
        "2026-01-10T12:00:00Z",
    )
    left = json.loads(eir("lookup", X15, "--imsi", I2, "--json", "--db", db).stdout)
    assert left["rule"] == "unknown"  # seen on one day only: left out by the limit
    late = json.loads(eir("lookup", X15, "--imsi", I4, "--json", "--db", db).stdout)
    assert late["rule"] == "unknown"  # first seen after the cut-off
    history = json.loads(eir("stats", "--json", "--db", db).stdout)["history"][-1]
    assert (history["action"], history["list"], history["source"], history["added"]) == (
        "grandfather",
        "white",
        "grandfathered",
        3,
    )
    again = json.loads(grandfather(tmp_path, "--json").stdout)
    assert again == again | {
        "pairs": 4,
        "imeis": 2,
        "white": 0,
        "already_white": 3,
        "left_out": 1,
        "max_per_imei": 2,
    }
    assert again["load"]["added"] == 0


def test_stored_white_pairs_count_against_the_limit(tmp_path: Path) -> None:
    observations(tmp_path / "obs")
    crm = tmp_path / "crm.csv"
    crm.write_text(f"imei,imsi\n{X15},{OTHER}\n")
    loaded = eir("load", crm, "--list", "white", "--source", "crm", "--db", tmp_path / "db")
    assert loaded.returncode == 0, loaded.stderr
    result = grandfather(tmp_path)
    assert result.stdout.splitlines()[0] == (
        "seen before 2026-01-31: 4 pairs of 2 IMEIs; 2 to make white, 0 white already, "
        "2 left out (pairs.max_per_imei is 2: the pairs seen on the most days kept)"
    )
    # a load past the limit is refused whole, naming the row that goes past
    more = tmp_path / "more.csv"
    more.write_text(f"imei,imsi\n{X15},{I2}\n")
    result = eir(
        "load",
        more,
        "--list",
        "white",
        "--source",
        "shop",
        "--db",
        tmp_path / "db",
        "--config",
        config(tmp_path, 2),
    )
    assert (result.returncode, result.stderr) == (
        1,
        f"{more}:2: IMEI {X} would have 3 white pairs, pairs.max_per_imei is 2\n",
    )


def test_the_refusal_names_the_row_that_goes_past(tmp_path: Path) -> None:
    """The third pair's row, not a later repeat of the first nor a comment naming the IMEIs."""
    pl = tmp_path / "pl.csv"
    pl.write_text(
        f"imei,imsi\n{X15},{I1}\n{X15},{I2}\n{X15},{I3}\n{X15},{I1}\n# {X15} {I2} again\n"
    )
    args = ("--list", "white", "--db", tmp_path / "db", "--config", config(tmp_path, 2))
    result = eir("load", pl, *args)
    assert (result.returncode, result.stderr) == (
        1,
        f"{pl}:5: duplicate of pair {X}+{I1} on {pl}:2 (first kept)\n"
        f"{pl}:4: IMEI {X} would have 3 white pairs, pairs.max_per_imei is 2\n",
    )


def test_the_imei_file_chooses_and_bad_lines_refuse(tmp_path: Path) -> None:
    observations(tmp_path / "obs")
    chosen = tmp_path / "imeis.txt"
    chosen.write_text(f"# the handsets of the campaign\n{Y15}\n")
    result = grandfather(tmp_path, "--imei-file", chosen, limit=0)
    assert result.stdout.splitlines()[0] == (
        "seen before 2026-01-31: 1 pairs of 1 IMEIs; 1 to make white, 0 white already, 0 left out"
    )
    chosen.write_text(f"{Y15}\n35-6938\nnot one\n")
    result = grandfather(tmp_path, "--imei-file", chosen)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{chosen}:2: IMEI '35-6938' has 6 digits, expected 14, 15 or 16",
        f"{chosen}:3: IMEI 'not one' has a non-digit 'n'",
        f"eir: 2 bad IMEIs in {chosen}: nothing was changed",
    ]


def test_the_imei_file_is_read_as_eir_load_reads_it(tmp_path: Path) -> None:
    """A CSV with an imei header, as `eir-sim generate` writes it; a missing file is told."""
    observations(tmp_path / "obs")
    chosen = tmp_path / "imeis.csv"
    chosen.write_text(f"imei\n# the campaign's\n{Y15}\n")
    result = grandfather(tmp_path, "--imei-file", chosen, limit=0)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[0] == (
        "seen before 2026-01-31: 1 pairs of 1 IMEIs; 1 to make white, 0 white already, 0 left out"
    )
    missing = tmp_path / "nonexist"
    result = grandfather(tmp_path, "--imei-file", missing)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"eir: {missing}: no such file\n"


def test_bad_cut_off_and_missing_store(tmp_path: Path) -> None:
    result = eir("pairs", "grandfather", "--seen-before", "31/01/2026", "--db", tmp_path / "db")
    assert (result.returncode, result.stderr) == (
        2,
        "eir: --seen-before '31/01/2026': not a date (2026-01-31) or an ISO time "
        "(2026-01-31T12:00:00Z)\n",
    )
    result = grandfather(tmp_path)
    assert (result.returncode, result.stderr) == (
        1,
        f"eir: {tmp_path / 'obs'}: no observation store here\n",
    )


def _map_status(client: Msc, imei: str, imsi: str) -> object:
    begin = msc.encode_check_imei_with_imsi(2, Imei(imei).to_tbcd(), tbcd_encode(imsi), OTID)
    answer = client.exchange(over_sccp(begin))
    kind, body = decoded(sccp.decode(answer.data).data)
    assert kind == "end"
    ((_, (name, value)),) = body["components"]
    assert name == "returnResult"
    result = value["result"]["result"][1]
    return result["equipmentStatus"] if isinstance(result, dict) else result


def test_grandfathered_users_stay_white_when_the_imei_is_blocked(tmp_path: Path) -> None:
    """The issue's seed case: block the stolen phone, not the other users of its IMEI."""
    observations(tmp_path / "obs")
    db = tmp_path / "db"
    assert grandfather(tmp_path, limit=5).returncode == 0
    stolen = tmp_path / "stolen.txt"
    stolen.write_text(f"{X15}\n{Y15}\n")
    loaded = eir("load", stolen, "--list", "black", "--source", "police", "--db", db)
    assert loaded.returncode == 0, loaded.stderr
    paired = [(X, I1), (X, I2), (X, I3), (Y, I5)]
    others = [(X, I4), (X, OTHER), (Y, I1)]
    with serve(db) as served:
        mme = BlockingClient(served.port())
        for imei, imsi in paired:
            assert mme.check(imei, imsi).equipment_status is EquipmentStatus.WHITELISTED
        for imei, imsi in others:
            assert mme.check(imei, imsi).equipment_status is EquipmentStatus.BLACKLISTED
        assert mme.check(X).equipment_status is EquipmentStatus.BLACKLISTED  # no IMSI
        mme.close()
        vlr = Msc(served.port("m3ua"))
        for imei, imsi in paired:
            assert _map_status(vlr, imei, imsi) == "whiteListed"
        for imei, imsi in others:
            assert _map_status(vlr, imei, imsi) == "blackListed"
        vlr.close()
    assert served.proc.returncode == 0
