"""Shared fixtures: both store implementations, and list files written on the fly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eir.store.api import ListStore
from eir.store.batch import Batch
from eir.store.lmdb_store import LmdbStore
from eir.store.loader import LoadOptions, parse_files
from eir.store.memory import MemoryStore


@pytest.fixture(params=["lmdb", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ListStore]:
    made: ListStore = (
        LmdbStore(tmp_path / "db", map_size_mb=16) if request.param == "lmdb" else MemoryStore()
    )
    yield made
    made.close()


BatchOf = Callable[..., Batch]


@pytest.fixture
def batch_of(tmp_path: Path) -> BatchOf:
    """``batch_of(text, list=..., source=...)``: parse ``text`` as a list file."""
    counter = iter(range(10**6))

    def make(text: str, **options: object) -> Batch:
        path = tmp_path / f"list{next(counter)}.csv"
        path.write_text(text)
        problems: list[str] = []
        batch = parse_files([str(path)], LoadOptions(**options), problems.append)  # type: ignore[arg-type]
        assert not problems, problems
        return batch

    return make
