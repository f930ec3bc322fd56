"""The store locks of `eir serve` (eir/startup.py), without a daemon."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from eir import startup
from eir.startup import WORKERS_LOCK, InstanceError, claim_store


def _hold_workers_lock(store: Path) -> int:
    """A worker of a killed supervisor, still stopping: it holds the lock shared."""
    fd = os.open(store / WORKERS_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def test_a_start_waits_for_workers_that_are_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service manager restarting at once after a SIGKILL of the supervisor: the workers
    finish stopping (DPR, up to 2 s) while the new instance waits for them."""
    holder = _hold_workers_lock(tmp_path)
    waits: list[float] = []

    def workers_exit(seconds: float) -> None:  # the first wait sees them go
        if not waits:
            os.close(holder)
        waits.append(seconds)

    monkeypatch.setattr("eir.startup.time.sleep", workers_exit)
    fd = claim_store(str(tmp_path))
    os.close(fd)
    assert len(waits) == 1


def test_workers_that_stay_refuse_a_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = _hold_workers_lock(tmp_path)
    monkeypatch.setattr(startup, "ORPHANS_WAIT_S", 0.2)
    try:
        with pytest.raises(InstanceError, match="workers of an eir serve that is gone"):
            claim_store(str(tmp_path))
    finally:
        os.close(holder)
    os.close(claim_store(str(tmp_path)))  # gone: the store is free again
