"""eir-sim generate: valid, distinct, repeatable IMEIs in every format, loadable by eir."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from eir.identity import luhn_valid
from sim.workload import REPORTING_BODIES, generate_imeis, generate_imsis
from tests.support.cli import EIR_SIM, eir


def test_imeis_are_valid_distinct_and_repeatable() -> None:
    imeis = generate_imeis(5000, seed=3).as_text()
    assert len(imeis) == len(set(imeis)) == 5000
    assert all(len(i) == 15 and luhn_valid(i) for i in imeis)
    assert {i[:2] for i in imeis} <= set(REPORTING_BODIES)
    assert generate_imeis(5000, seed=3).as_text() == imeis
    assert generate_imeis(5000, seed=4).as_text() != imeis
    assert imeis != sorted(imeis)  # random order, as real lists come


def test_imsis() -> None:
    imsis = generate_imsis(100, seed=1)
    assert all(len(i) == 15 and i.startswith("00101") for i in imsis)


@pytest.mark.parametrize(
    ("fmt", "first"), [("csv", "imei"), ("txt", None), ("csv-full", "imei,reason,reference")]
)
def test_formats_load_cleanly(tmp_path: Path, fmt: str, first: str | None) -> None:
    path = tmp_path / f"list.{fmt}"
    result = subprocess.run(
        [EIR_SIM, "generate", str(path), "--count", "300", "--format", fmt],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "wrote 300 IMEIs" in result.stderr
    lines = path.read_text().splitlines()
    if first is not None:
        assert lines[0] == first
    loaded = eir("load", path, "--list", "black", "--db", tmp_path / "db")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("added 300,")


def test_bad_count(tmp_path: Path) -> None:
    result = subprocess.run(
        [EIR_SIM, "generate", str(tmp_path / "x"), "--count", "-1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "--count" in result.stderr
