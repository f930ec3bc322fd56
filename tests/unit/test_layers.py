"""The layer rule (README, Design), enforced by reading every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYERS = {
    0: ("eir", "eir.identity", "eir.model", "eir.errors", "eir.config", "eir.events"),
    1: ("eir.policy", "eir.diameter", "eir.sigtran"),
    2: ("eir.store", "eir.publish", "eir.transport"),
    3: ("eir.cli", "eir.service", "eir.progress"),
}
#: imports layer 1 (the sans-IO cores) must never make
IO_MODULES = {"asyncio", "socket", "lmdb", "aiomqtt", "sctp", "selectors", "threading"}
#: what the simulator must not use: it reuses the protocol layers only
SIM_FORBIDDEN = ("eir.service", "eir.store", "eir.transport", "eir.cli", "eir.publish")


def layer_of(module: str) -> int:
    best = -1, ""
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > len(best[1]):
                best = layer, prefix
    if best[0] < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


EIR_FILES = sorted((ROOT / "eir").rglob("*.py"))
SIM_FILES = sorted((ROOT / "sim").rglob("*.py"))


@pytest.mark.parametrize("path", EIR_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_eir_imports_only_its_own_layer_or_lower(path: Path) -> None:
    name = module_name(path)
    layer = layer_of(name)
    for imported in imports(path):
        top = imported.split(".")[0]
        if top == "eir":
            assert layer_of(imported) <= layer, f"{name} (layer {layer}) imports {imported}"
        elif layer == 0:
            assert top in sys.stdlib_module_names, f"{name} is layer 0 and imports {imported}"
        if layer == 1:
            assert top not in IO_MODULES, f"{name} is sans-IO and imports {imported}"


@pytest.mark.parametrize("path", SIM_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sim_uses_no_daemon_internals(path: Path) -> None:
    for imported in imports(path):
        assert not imported.startswith(SIM_FORBIDDEN), f"{path} imports {imported}"


def test_the_walk_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import lmdb\nfrom eir.store import loader\n")
    assert imports(bad) == ["lmdb", "eir.store"]
