"""`eir duplicates` and `eir duplicates detect` on the real executable: the observation store
(as `eir observations import` or a node's writer leaves it) judged at its clock, the class
applied to the list store, listed as text, JSON and CSV, and answered grey by `eir lookup`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from eir.model import EquipmentStatus as S
from eir.observations.record import DAY, Sighting
from eir.observations.store import ObservationStore
from tests.support.cli import eir
from tests.support.diameter import BlockingClient, serve
from tests.support.logs import said

IMEI, OTHER = "35209900176148", "49015420323751"
T0 = 20_000 * DAY + 3600  # 2024-10-04T01:00:00Z
CONFIG = """
[observations]
path = "{obs}"
[[observations.duplicate_rules]]
name = "together"
kind = "concurrent"
min_imsis = 3
minutes = 10
"""


def imsi(n: int) -> str:
    return f"00101{n:010d}"


def lab(tmp_path: Path, demo_db: Path, spread: int) -> Path:
    """A configuration whose observation store saw IMEI on 3 IMSIs ``spread`` s apart."""
    obs = tmp_path / "obs"
    store = ObservationStore(obs)
    store.observe("n1", [Sighting(IMEI, imsi(n), T0 + spread * n) for n in range(3)])
    store.observe("n1", [Sighting(OTHER, imsi(9), T0)])
    store.close()
    config = tmp_path / "eir.toml"
    config.write_text(CONFIG.format(obs=obs))
    return config


def test_detect_applies_the_class_and_every_listing_shows_it(tmp_path: Path, demo_db: Path) -> None:
    config = lab(tmp_path, demo_db, 60)
    common = ("--config", config, "--db", demo_db)
    assert eir("duplicates", *common).stdout == "no duplicate IMEIs\n"
    dry = eir("duplicates", "detect", "--dry-run", *common)
    assert (dry.returncode, dry.stderr) == (0, "")
    assert dry.stdout == (
        "duplicates: 1 IMEI (1 found, 0 cleared) at 2024-10-04T01:02:00.000Z\n"
        "dry run: nothing applied\n"
    )
    assert eir("duplicates", *common).stdout == "no duplicate IMEIs\n"
    done = eir("duplicates", "detect", *common)
    assert done.stdout.splitlines()[1] == "applied the duplicate class (1 IMEIs) to the list store"
    # its audit record: a command line's, by the login name (the daemon's are by its node)
    (audited,) = (
        json.loads(x) for x in eir("audit", "--json", "--since", "v2", *common).stdout.splitlines()
    )
    assert (audited["action"], audited["origin"], audited["reason"]) == (
        "class",
        "cli",
        "duplicates found",
    )
    again = eir("duplicates", "detect", *common)
    assert again.stdout.splitlines() == [
        "duplicates: 1 IMEI (0 found, 0 cleared) at 2024-10-04T01:02:00.000Z",
        "the duplicate class is unchanged: nothing to apply",
    ]
    assert eir("duplicates", *common).stdout.splitlines() == [
        "IMEI            RULE      DETECTED                  FIGURES",
        "35209900176148  together  2024-10-04T01:02:00.000Z  imsis=3 minutes=2.0",
        "1 IMEI duplicate",
    ]
    (line,) = eir("duplicates", "--json", *common).stdout.splitlines()
    assert json.loads(line) == {
        "imei": IMEI,
        "rule": "together",
        "figures": {"imsis": 3, "minutes": 2.0},
        "detected": "2024-10-04T01:02:00.000Z",
    }
    assert eir("duplicates", "--csv", *common).stdout == (
        "imei,rule,detected,figures\n"
        '35209900176148,together,2024-10-04T01:02:00.000Z,"{""imsis"":3,""minutes"":2.0}"\n'
    )
    lookup = eir("lookup", IMEI, *common)
    assert lookup.stdout.splitlines()[:2] == [
        f"{IMEI}: greylisted",
        'why: class: duplicate (together: {"imsis":3,"minutes":2.0})'.join(["  ", ""]),
    ]


def test_eleven_minutes_apart_is_no_duplicate(tmp_path: Path, demo_db: Path) -> None:
    config = lab(tmp_path, demo_db, 330)  # 3 IMSIs over 11 minutes
    done = eir("duplicates", "detect", "--config", config, "--db", demo_db)
    assert done.stdout.splitlines() == [
        "duplicates: 0 IMEIs (0 found, 0 cleared) at 2024-10-04T01:11:00.000Z",
        "the duplicate class is unchanged: nothing to apply",
    ]


def test_bad_usage_and_a_missing_store_are_told(tmp_path: Path, demo_db: Path) -> None:
    mixed = eir("duplicates", "detect", "--json", "--db", demo_db)
    assert (mixed.returncode, mixed.stderr) == (
        2,
        "eir: duplicates detect: --json and --csv go with the listing\n",
    )
    listing = eir("duplicates", "--dry-run", "--db", demo_db)
    assert listing.stderr == "eir: duplicates: --dry-run and --publish go with 'detect'\n"
    missing = eir("duplicates", "detect", "--observations", tmp_path / "nope", "--db", demo_db)
    assert (missing.returncode, missing.stderr) == (
        1,
        f"eir: {tmp_path / 'nope'}: no observation store here\n",
    )
    nobroker = eir("duplicates", "detect", "--publish", "--broker", "", "--db", demo_db)
    assert nobroker.stderr == (
        "eir: no broker: give --broker mqtt://HOST:PORT or set mqtt.broker\n"
    )
    observe = eir("observe", "--broker", "")
    assert observe.returncode == 2
    assert [said(line) for line in observe.stderr.splitlines()] == [
        "eir: observe: no broker: give --broker mqtt://HOST:PORT or set mqtt.broker"
    ]


def test_a_single_node_lab_aggregates_without_a_broker(tmp_path: Path, demo_db: Path) -> None:
    """`eir serve` with observations.aggregate and no broker: its own observations judged,
    the class applied to its own list store, the IMEI answered grey over S13."""
    obs = tmp_path / "obs"
    config = tmp_path / "eir.toml"
    config.write_text(
        CONFIG.format(obs=obs).replace(
            "[observations]\n", "[observations]\naggregate = true\npublish_interval_s = 0.1\n"
        )
    )
    with serve(demo_db, "--config", str(config)) as served:
        client = BlockingClient(served.port())
        try:
            assert client.check(IMEI, imsi(0)).equipment_status is S.WHITELISTED
            # the node's checks, as its observation writer records them
            store = ObservationStore(obs)
            now = int(time.time())
            store.observe("n1", [Sighting(IMEI, imsi(n), now + n) for n in range(3)])
            store.close()
            deadline = time.monotonic() + 30
            while client.check(IMEI, imsi(0)).equipment_status is not S.GREYLISTED:
                assert time.monotonic() < deadline, "the class never came"
                time.sleep(0.1)
        finally:
            client.close()
    assert eir("duplicates", "--db", demo_db).stdout.splitlines()[1].startswith(IMEI)


def test_rules_that_could_never_match_are_refused(tmp_path: Path) -> None:
    """`eir check-config`: a window longer than the days kept, more days than the window, a key
    the rule's kind does not read."""
    config = tmp_path / "eir.toml"
    cases = {
        'retention_days = 10\n[[observations.duplicate_rules]]\nname = "d"\n'
        'kind = "daily-average"\nwindow_days = 30\n': (
            "observations.duplicate_rules[0].window_days: 30 days are more than "
            "retention_days (10) keeps"
        ),
        '[[observations.duplicate_rules]]\nname = "d"\nkind = "daily-average"\n'
        "window_days = 30\nmin_days = 40\n": (
            "observations.duplicate_rules[0].min_days: 40 days are more than the window of "
            "30 (window_days)"
        ),
        '[[observations.duplicate_rules]]\nname = "c"\nkind = "concurrent"\nmin_average = 2.5\n': (
            "observations.duplicate_rules[0].min_average: not read by a concurrent rule"
        ),
    }
    for text, message in cases.items():
        config.write_text("[observations]\n" + text)
        result = eir("check-config", config)
        assert (result.returncode, result.stderr) == (1, f"{config}: {message}\n"), text
