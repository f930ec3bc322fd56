"""Observations through the real `eir serve` and `eir`: S13 ECRs with a User-Name and MAP v2
CheckIMEIs with the IMSI after the IMEI over real sockets, written by the writer and shown by
`eir history`; SIGTERM flushes the buffer; a pairing event through a real mosquitto."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from eir.identity import Imei, tbcd_encode
from eir.sigtran import msc, sccp
from tests.support.cli import eir
from tests.support.diameter import BlockingClient, serve
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
    rows = {row["imsi"]: row for row in data["imsis"]}
    assert set(rows) == {S13_IMSI, MAP_IMSI}
    for row in rows.values():
        assert row["checks"] == 1 and row["days"] == 1 and row["nodes"] == ["node-a"]
        assert row["first_seen"] == row["last_seen"]
    by_imsi = history(store, "--imsi", MAP_IMSI)
    assert [row["imei"] for row in by_imsi["imeis"]] == [IMEI]


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
