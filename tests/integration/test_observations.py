"""Observations through the real `eir serve` and `eir`: S13 ECRs with a User-Name and MAP v2
CheckIMEIs with the IMSI after the IMEI over real sockets, written by the writer and shown by
`eir history`; SIGTERM flushes the buffer; a pairing event through a real mosquitto."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from eir.identity import Imei, tbcd_encode
from eir.sigtran import msc, sccp
from tests.support.cli import eir
from tests.support.diameter import BlockingClient, Served, serve
from tests.support.mqtt import Watcher, broker, credentials
from tests.support.sigtran import Msc, over_sccp

IMEI = "35209900176148"
S13_IMSI = "001010000000001"
MAP_IMSI = "001010000000002"
OTID = b"\x00\x00\x12\x34"


def config(tmp_path: Path, flush: float, extra: str = "") -> tuple[Path, Path]:
    """A configuration writing observations to tmp_path/obs every ``flush`` seconds."""
    store = tmp_path / "obs"
    path = tmp_path / "eir.toml"
    path.write_text(
        f'[mqtt]\nnode = "node-a"\n\n[observations]\npath = "{store}"\n'
        f"flush_interval_s = {flush}\n{extra}"
    )
    return path, store


def history(store: Path, *args: str) -> dict[str, Any]:
    result = eir("history", *args, "--json", "--observations", store)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def wait_history(store: Path, imei: str, count: int, timeout: float = 30) -> dict[str, Any]:
    """`eir history IMEI` once it shows ``count`` IMSIs (the writer flushes when it does)."""
    deadline = time.monotonic() + timeout
    while True:
        if (store / "data.mdb").exists():
            data = history(store, imei)
            if len(data["imsis"]) >= count:
                return data
        assert time.monotonic() < deadline, f"{count} pairs of {imei} never written"
        time.sleep(0.05)


def metrics_when(served: Served, ready: Any, timeout: float = 20) -> dict[str, float]:
    """The metrics endpoint's unlabelled samples once ``ready(samples)`` holds."""
    port = served.port("metrics", "http")
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        seen = {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if not sample.labels
        }
        if ready(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def map_check(port: int, imei: str, imsi: str) -> Any:
    """A MAP v2 CheckIMEI carrying ``imsi`` after the IMEI (as Huawei MSCs send it)."""
    client = Msc(port)
    try:
        begin = msc.encode_check_imei_with_imsi(2, Imei(imei).to_tbcd(), tbcd_encode(imsi, 8), OTID)
        answer = client.exchange(over_sccp(begin))
        return sccp.decode(answer.data)
    finally:
        client.close()


def test_s13_and_map_pairs_written_and_shown_by_history(tmp_path: Path, demo_db: Path) -> None:
    cfg, store = config(tmp_path, 0.05)
    with serve(demo_db, "--config", str(cfg)) as served:
        client = BlockingClient(served.port())
        try:
            assert client.check(IMEI, S13_IMSI).result_code == 2001
            assert client.check(IMEI).result_code == 2001  # no IMSI: not observed
        finally:
            client.close()
        map_check(served.port("m3ua"), IMEI, MAP_IMSI)
        data = wait_history(store, IMEI, 2)
        seen = metrics_when(served, lambda m: m["eir_observations_pairs"] == 2)
    rows = {row["imsi"]: row for row in data["imsis"]}
    assert set(rows) == {S13_IMSI, MAP_IMSI}
    for row in rows.values():
        assert row["checks"] == 1 and row["days"] == 1 and row["nodes"] == ["node-a"]
        assert row["first_seen"] == row["last_seen"]
    by_imsi = history(store, "--imsi", MAP_IMSI)
    assert [row["imei"] for row in by_imsi["imeis"]] == [IMEI]
    assert seen["eir_observations_recorded_total"] == 2
    assert seen["eir_observations_dropped_total"] == seen["eir_observations_lost_total"] == 0
    assert seen["eir_observations_write_failures_total"] == 0


def test_sigterm_writes_what_the_buffer_holds(tmp_path: Path, demo_db: Path) -> None:
    cfg, store = config(tmp_path, 3600)  # never flushed by time while serving
    with serve(demo_db, "--config", str(cfg)) as served:
        client = BlockingClient(served.port())
        try:
            for n in range(5):
                client.check(IMEI, f"00101000000001{n}")
        finally:
            client.close()
    # serve() ended it with SIGTERM and waited for its exit
    assert served.proc.returncode == 0
    assert len(history(store, IMEI)["imsis"]) == 5
    text = eir("observations", "stats", "--observations", store)
    assert text.returncode == 0, text.stderr
    assert "pairs: 5 (IMEI-IMSI), 5 records (pair and node)" in text.stdout
    assert text.stdout.endswith("to publish: 0 records\n")  # no broker: nothing to publish


def test_pairing_events_through_mosquitto(tmp_path: Path, demo_db: Path) -> None:
    cfg, store = config(tmp_path, 0.05, "\n[events]\npairing = true\nmask_imsi = true\n")
    with broker(tmp_path) as b:
        watcher = Watcher(b, topics=("eir/events/pairing",))
        watcher.wait_subscribed()
        with serve(
            demo_db,
            "--config",
            str(cfg),
            "--broker",
            b.url,
            env_extra=credentials("eir-node"),
        ) as served:
            client = BlockingClient(served.port())
            try:
                client.check(IMEI, S13_IMSI)
                wait_history(store, IMEI, 1)
                client.check("49015420323751", S13_IMSI)  # the subscriber's new handset
                client.check(IMEI, MAP_IMSI)  # the handset's new SIM
            finally:
                client.close()
            deadline = time.monotonic() + 30
            while len(watcher.json_on("eir/events/pairing")) < 2:
                assert time.monotonic() < deadline, "no pairing events"
                time.sleep(0.05)
    events = {e["kind"]: e for e in watcher.json_on("eir/events/pairing")}
    handset, sim = events["handset"], events["sim"]
    assert handset["imei"] == "49015420323751" and handset["imsi"] == "00101**********"
    assert handset["others"] == [IMEI] and handset["node"] == "node-a"
    assert sim["imei"] == IMEI and sim["imsi"] == "00101**********"
    assert sim["others"] == ["00101**********"]
    assert handset["type"] == "pairing" and handset["time"].endswith("Z")


DELTAS = (
    '{"v":1,"node":"lab","pairs":[["35209900176148","001010000000001",1764000000,1764090000,'
    '[20416,20417],3],["35209900176148","001010000000002",1764000000,1764000000,[20416],1]]}\n'
    "\n"
    '{"v":1,"node":"lab2","pairs":[["35209900176148","001010000000001",1763900000,1764000000,'
    "[20415,20416],2]]}\n"
)


def test_import_then_history_and_stats_as_an_operator_reads_them(tmp_path: Path) -> None:
    store = tmp_path / "obs"
    deltas = tmp_path / "deltas.jsonl"
    deltas.write_text(DELTAS)
    result = eir("observations", "import", deltas, "--observations", store)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"imported 2 deltas: 3 pair records, 3 changed the store, 1 IMEIs ({store})\n"
    )
    again = eir(
        "observations", "import", "-", "--json", "--observations", store, stdin=DELTAS.encode()
    )
    assert json.loads(again.stdout) == {
        "store": str(store),
        "deltas": 2,
        "pairs": 3,
        "changed": 0,  # the same state again changes nothing
        "imeis": 0,
    }
    shown = eir("history", "352099001761481", "--observations", store)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == (
        "IMEI 35209900176148: 2 SIMs (newest first)\n"
        "IMSI             first seen            last seen             days  checks  nodes\n"
        "001010000000001  2025-11-23T12:13:20Z  2025-11-25T17:00:00Z     3       5  lab, lab2\n"
        "001010000000002  2025-11-24T16:00:00Z  2025-11-24T16:00:00Z     1       1  lab\n"
    )
    by_imsi = eir("history", "--imsi", "001010000000002", "--observations", store)
    assert by_imsi.stdout.splitlines()[0] == "IMSI 001010000000002: 1 handset (newest first)"
    never = eir("history", "49015420323751", "--observations", store)
    assert never.stdout == "IMEI 49015420323751: never observed\n"
    stats = eir("observations", "stats", "--observations", store)
    assert stats.stdout.splitlines()[:3] == [
        f"observation store: {store}",
        "pairs: 2 (IMEI-IMSI), 3 records (pair and node)",
        "clock: 2025-11-25T17:00:00Z (the newest sighting)",
    ]
    assert stats.stdout.splitlines()[-1] == "to publish: 0 records"


def test_a_bad_delta_line_imports_nothing_and_says_where(tmp_path: Path) -> None:
    store = tmp_path / "obs"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        DELTAS + '{"v":1,"node":"lab","pairs":[["3520990017614","001010000000001",1,1,[0],1]]}\n'
    )
    result = eir("observations", "import", bad, "--observations", store)
    assert result.returncode == 1
    assert result.stderr == f"{bad}:4: pair 0: IMEI '3520990017614' is not 14 digits\n"
    assert not (store / "data.mdb").exists()  # nothing written, not even an empty store
    broken = tmp_path / "broken.jsonl"
    broken.write_text(DELTAS + "{not json\n")
    result = eir("observations", "import", broken, "--observations", store)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{broken}:4: a delta is not JSON: ")
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00binary")
    result = eir("observations", "import", binary, "--observations", store)
    assert (result.returncode, result.stderr) == (1, f"eir: {binary}: not UTF-8 text (octet 0)\n")
    future = tmp_path / "future.jsonl"  # a node whose clock says 2100
    future.write_text(
        DELTAS + '{"v":1,"node":"nodeb","pairs":[["11111111111111","001010000000001",'
        "4102444800,4102444800,[47482],1]]}\n"
    )
    result = eir("observations", "import", future, "--observations", store)
    assert (result.returncode, result.stderr) == (
        1,
        f"{future}:4: pair 0 (11111111111111+001010000000001): last seen 4102444800 is later "
        "than this node's clock plus 86400 s\n",
    )
    ancient = tmp_path / "ancient.jsonl"  # a node whose clock says 1970
    ancient.write_text(
        '{"v":1,"node":"lab","pairs":[["11111111111111","001010000000001",5,5,[0],1]]}\n'
    )
    result = eir("observations", "import", ancient, "--observations", store)
    assert (result.returncode, result.stderr) == (
        1,
        f"{ancient}:1: pair 0 (11111111111111+001010000000001): first seen 5 is before "
        "946684800 (2000-01-01)\n",
    )
    assert not (store / "data.mdb").exists()
    missing = eir("history", "35209900176148", "--observations", store)
    assert missing.returncode == 1
    assert missing.stderr == (
        f"eir: {store}: no observation store here (eir serve writes it when "
        "observations.enabled; --observations names another)\n"
    )
    usage = eir("history", "--observations", store)
    assert usage.returncode == 2
    assert usage.stderr == "eir: history: give an IMEI, or --imsi IMSI (one of them)\n"


def test_every_worker_writes_its_own_and_flushes_on_sigterm(tmp_path: Path, demo_db: Path) -> None:
    cfg, store = config(tmp_path, 3600)
    with serve(demo_db, "--config", str(cfg), "--workers", "2") as served:
        for n in range(4):  # one connection each: the kernel spreads them over the workers
            client = BlockingClient(served.port())
            try:
                assert client.check(IMEI, f"00101000000002{n}").result_code == 2001
            finally:
                client.close()
    assert served.proc.returncode == 0
    assert len(history(store, IMEI)["imsis"]) == 4
