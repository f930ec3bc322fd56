"""README.md's quick tour, run as a reader runs it: the store ``make run`` builds (its
recipe's commands, read from the Makefile), ``eir serve`` with ``conf/eir.toml``, and every
``$`` command of the tour against it, printing what the README shows (bar the times)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from tests.support.cli import EIR, EIR_SIM, env
from tests.support.diameter import serve

ROOT = Path(__file__).resolve().parents[2]
#: the date an entry was added, and who loaded it where: they differ from run to run
_VARYING = re.compile(
    r"  added: [0-9-]+T[0-9:]+Z"
    r"|  made: v1 load [0-9-]+T[0-9:]+Z by .+ \(cli@.+\)"
    r"|  also: imei 35345678901234 on black from demo, in-force, "
    r"made v1 load [0-9-]+T[0-9:]+Z by .+ \(cli@.+\)"
)


def _tour() -> list[tuple[str, list[str]]]:
    """The quick tour's console blocks: (command, the lines it prints), in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick tour", 1)[1].split("\n## ", 1)[0]
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        lines = block.splitlines()
        while lines:
            command = lines.pop(0).removeprefix("$ ")
            while command.endswith("\\"):
                command = command[:-1] + lines.pop(0).strip()
            printed: list[str] = []
            while lines and not lines[0].startswith("$ "):
                printed.append(lines.pop(0))
            found.append((command, printed))
    return found


def _run_recipe(db: Path) -> None:
    """The store commands of the Makefile's ``run`` recipe, on ``db``."""
    recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    for line in recipe.splitlines()[1:]:
        words = shlex.split(line.strip().replace("$(BIN)", str(Path(EIR).parent)))
        if words[0] == "exec":
            assert words[1:] == [EIR, "serve", "--config", "conf/eir.toml", "--db", "$(DB)"]
            continue
        words = [str(db) if w == "$(DB)" else w for w in words]
        result = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, check=False)
        assert result.returncode == 0, (line, result.stderr)


def _same(shown: list[str], printed: list[str]) -> None:
    assert len(printed) == len(shown), (printed, shown)
    for line, expected in zip(printed, shown, strict=True):
        if _VARYING.fullmatch(expected):
            assert _VARYING.fullmatch(line), (line, expected)
        else:
            assert line == expected


def test_the_quick_tour_prints_what_the_readme_shows(tmp_path: Path) -> None:
    db = tmp_path / "eir.lmdb"
    _run_recipe(db)
    tour = _tour()
    assert tour[0][0] == "make run"
    with serve(db, "--config", str(ROOT / "conf" / "eir.toml")) as served:
        started = [line.split(" INFO ", 1)[1] for line in tour[0][1] if " INFO " in line]
        assert served.lines[0] == started[0].replace("var/eir.lmdb", str(db))
        port = served.port()
        for command, shown in tour[1:]:
            words = shlex.split(command.replace("var/eir.lmdb", str(db)))
            words[0] = {".venv/bin/eir": EIR, ".venv/bin/eir-sim": EIR_SIM}[words[0]]
            words = [w.replace(":3868", f":{port}") for w in words]
            result = subprocess.run(
                words, cwd=ROOT, capture_output=True, text=True, env=env(), check=False
            )
            assert (result.returncode, result.stderr) == (0, ""), command
            if words[0] == EIR_SIM:
                header, figures = result.stdout.splitlines()[:2]
                # the first columns: sent, answered, timeouts, errors, mismatch
                columns = dict(zip(header.split()[:5], figures.split()[1:6], strict=True))
                assert (columns["timeouts"], columns["errors"], columns["mismatch"]) == (
                    "0",
                    "0",
                    "0",
                )
                # a seeded workload: the same results and statuses on every run
                assert result.stdout.splitlines()[2:4] == shown[2:4]
            else:
                _same(shown, result.stdout.splitlines())
