"""A load killed, starved of disk or of map leaves the previous lists exactly as they were;
readers during a load see the old lists or the new ones, never a mix."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from eir.store.lmdb_store import LmdbStore
from eir.store.records import Table
from tests.support.cli import EIR, EIR_SIM, digest, eir, env


def generate(path: Path, count: int, seed: int, fmt: str = "txt") -> Path:
    result = subprocess.run(
        [
            EIR_SIM,
            "generate",
            str(path),
            "--count",
            str(count),
            "--seed",
            str(seed),
            "--format",
            fmt,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return path


def test_sigkill_mid_load_keeps_previous_lists(tmp_path: Path) -> None:
    db = tmp_path / "db"
    assert (
        eir(
            "load",
            generate(tmp_path / "old.txt", 5000, 1),
            "--list",
            "black",
            "--source",
            "police",
            "--db",
            db,
        ).returncode
        == 0
    )
    before = digest(db)
    big = generate(tmp_path / "big.txt", 1_000_000, 2)
    progress_env = env() | {"EIR_PROGRESS": "1"}
    proc = subprocess.Popen(
        [
            EIR,
            "load",
            str(big),
            "--list",
            "black",
            "--source",
            "police",
            "--mode",
            "replace",
            "--db",
            str(db),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=progress_env,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # reading, checking, then 64k of 1M rows written: the
    while line and b"writing" not in line:  # transaction is far from commit
        line = proc.stderr.readline()
    assert b"writing" in line, line
    proc.kill()
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -9
    assert digest(db) == before
    assert (
        eir(
            "load",
            big,
            "--list",
            "black",
            "--source",
            "police",
            "--mode",
            "replace",
            "--force",  # the 5000 old entries go
            "--db",
            db,
        ).returncode
        == 0
    )
    assert digest(db) != before


def test_readers_see_old_or_new_never_a_mix(tmp_path: Path) -> None:
    db = tmp_path / "db"
    first = generate(tmp_path / "a.txt", 20000, 3)
    second = generate(tmp_path / "b.txt", 20000, 4)
    keys_a = [first.read_text().split("\n", 1)[0][:14], first.read_text().splitlines()[-1][:14]]
    keys_b = [second.read_text().split("\n", 1)[0][:14], second.read_text().splitlines()[-1][:14]]
    assert eir("load", first, "--list", "black", "--source", "s", "--db", db).returncode == 0
    store = LmdbStore(db, create=False)
    seen: set[tuple[bool, ...]] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            snap = store.snapshot()
            try:
                seen.add(
                    tuple(snap.get(Table.IMEI, k.encode()) is not None for k in keys_a + keys_b)
                )
            finally:
                snap.release()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(6):
            source = second if round_ % 2 == 0 else first
            result = eir(  # each load replaces every entry of the other: --force
                "load",
                source,
                "--list",
                "black",
                "--source",
                "s",
                "--mode",
                "replace",
                "--force",
                "--db",
                db,
            )
            assert result.returncode == 0, result.stderr
    finally:
        stop.set()
        reader.join()
        store.close()
    assert seen <= {(True, True, False, False), (False, False, True, True)}
    assert len(seen) == 2  # both states were seen while loads ran


def test_file_size_limit_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "db"
    assert (
        eir(
            "load", generate(tmp_path / "old.txt", 100, 5), "--list", "black", "--db", db
        ).returncode
        == 0
    )
    before = digest(db)
    big = generate(tmp_path / "big.txt", 300_000, 6)
    size_kb = (os.path.getsize(db / "data.mdb") // 1024) + 64
    result = subprocess.run(
        [
            "bash",
            "-c",
            f'ulimit -f {size_kb}; exec "$@"',
            "bash",
            EIR,
            "load",
            str(big),
            "--list",
            "black",
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(),
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "nothing was changed" in result.stderr
    assert "cannot write the store" in result.stderr
    assert digest(db) == before


def test_map_full_grows_then_fails_clearly(tmp_path: Path) -> None:
    db = tmp_path / "db"
    big = generate(tmp_path / "big.txt", 200_000, 7)
    grows = tmp_path / "grow.toml"
    grows.write_text("[store]\nmap_size_mb = 1\nmax_map_size_mb = 64\n")
    assert eir("load", big, "--list", "black", "--config", grows, "--db", db).returncode == 0
    tight = tmp_path / "tight.toml"
    tight.write_text("[store]\nmap_size_mb = 1\nmax_map_size_mb = 1\n")
    small = tmp_path / "small"
    assert (
        eir(
            "load",
            generate(tmp_path / "few.txt", 50, 8),
            "--list",
            "black",
            "--config",
            tight,
            "--db",
            small,
        ).returncode
        == 0
    )
    before = digest(small)
    result = eir("load", big, "--list", "black", "--config", tight, "--db", small)
    assert result.returncode == 1
    assert "the LMDB map is full at its ceiling" in result.stderr
    assert digest(small) == before


@pytest.mark.parametrize("mode", ["add", "replace"])
def test_large_merge_into_a_full_store(tmp_path: Path, mode: str) -> None:
    """The merge path (keys not past the table's end) on a real LMDB store."""
    db = tmp_path / "db"
    one = generate(tmp_path / "one.txt", 50_000, 9)
    two = generate(tmp_path / "two.txt", 50_000, 10)
    assert eir("load", one, "--list", "black", "--db", db).returncode == 0
    result = eir("load", two, "--list", "black", "--mode", mode, "--force", "--db", db)
    assert result.returncode == 0, result.stderr
    removed = 50_000 if mode == "replace" else 0
    assert f"added 50000, updated 0, removed {removed}, unchanged 0" in result.stdout


def test_reader_follows_a_map_grown_by_another_process(tmp_path: Path) -> None:
    """eir serve's store keeps answering after an eir load elsewhere grew the LMDB map."""
    db = tmp_path / "db"
    small = tmp_path / "small.toml"
    small.write_text("[store]\nmap_size_mb = 1\nmax_map_size_mb = 256\n")
    assert (
        eir(
            "load",
            generate(tmp_path / "few.txt", 10, 11),
            "--list",
            "black",
            "--config",
            small,
            "--db",
            db,
        ).returncode
        == 0
    )
    reader = LmdbStore(db, map_size_mb=1, read_snapshot_ms=0, create=False)
    try:
        first = (tmp_path / "few.txt").read_text().split("\n", 1)[0][:14]
        assert reader.lookup(first, None).imei
        big = generate(tmp_path / "big.txt", 200_000, 12)
        assert eir("load", big, "--list", "grey", "--config", small, "--db", db).returncode == 0
        assert os.path.getsize(db / "data.mdb") > 1 << 20  # the map grew past the reader's
        late = big.read_text().split("\n", 1)[0][:14]
        assert reader.lookup(late, None).imei[0].entry.list.value == "grey"
        assert reader.lookup(first, None).imei
    finally:
        reader.close()
