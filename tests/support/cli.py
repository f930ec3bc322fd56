"""Running the real ``eir`` and ``eir-sim`` commands in tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
EIR = str(BIN / "eir")
EIR_SIM = str(BIN / "eir-sim")


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.pop("EIR_PROGRESS", None)
    return out


def eir(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EIR, *map(str, args)],
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        timeout=120,
        env=env(),
        check=False,
    )


def digest(db: Path) -> str:
    result = eir("stats", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    value: str = json.loads(result.stdout)["digest"]
    return value
