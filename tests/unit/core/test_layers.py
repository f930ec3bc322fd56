"""The layer rule (docs/architecture.md), enforced by reading every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

LAYERS = {
    0: (
        "eir",
        "eir.identity",
        "eir.reporting_body",
        "eir.model",
        "eir.errors",
        "eir.config",
        "eir.events",
        "eir.networks",
    ),
    1: (
        "eir.policy",
        "eir.lifecycle",
        "eir.devices",
        "eir.framing",
        "eir.diameter",
        "eir.sigtran",
        "eir.observations",
        "eir.lifecycle",
    ),
    2: (
        "eir.store",
        "eir.observations.store",
        "eir.observations.exchange",
        "eir.observations.aggregate",
        "eir.observations.node",
        "eir.observations.writer",
        "eir.publish",
        "eir.observe",
        "eir.transport",
        "eir.host",
        "eir.notify",
        "eir.logs",
        "eir.check_log",
    ),
    3: (
        "eir.cli",
        "eir.service",
        "eir.checker",
        "eir.observing",
        "eir.supervisor",
        "eir.startup",
        "eir.progress",
        "eir.channel",
        "eir.reload",
        "eir.purging",
    ),
}
#: imports layer 1 (the sans-IO cores) must never make
IO_MODULES = {"asyncio", "socket", "lmdb", "aiomqtt", "sctp", "selectors", "threading"}
#: what the simulator must not use: it reuses the protocol layers, and of the store only the
#: list-file reader and the in-memory index (so that it expects exactly what `eir load` loads),
#: never LMDB, the daemon's transport or its service
SIM_FORBIDDEN = (
    "eir.service",
    "eir.checker",
    "eir.store.lmdb_store",
    "eir.transport",
    "eir.cli",
    "eir.publish",
    "lmdb",
    "asyncio",
)
SIM_STORE_ALLOWED = (
    "eir.store.loader",
    "eir.store.memory",
    "eir.store.api",
    "eir.store.classes",
    "eir.store.formats",
    "eir.store.dialect",
)


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


#: inside a protocol package, its modules from the bottom up, in tiers: a module may import
#: modules of its own tier or a lower one, never a higher one. The RFC 6733 base sits under the
#: S13 application and never names it; SIGTRAN stacks M3UA and SCCP, TCAP, then MAP CheckIMEI,
#: with SCCP routing (which hands TCAP its messages) and the MSC side on top.
INNER: dict[str, tuple[tuple[str, ...], ...]] = {
    "eir.diameter": (
        ("dictionary",),
        ("message", "results"),
        ("errors",),
        ("wire", "codec"),
        ("node", "allow_list"),
        ("base",),
        ("peer",),
        ("peer_table",),
        ("s13.request", "s13.client"),
        ("s13.scan", "s13.answer"),
        ("s13.server",),
    ),
    "eir.sigtran": (
        ("ber", "m3ua", "sccp", "outcomes"),
        ("m3ua_access", "tcap_scan"),
        ("m3ua_asp",),
        ("m3ua_as", "tcap"),
        ("checkimei",),
        ("sccp_routing", "msc"),
    ),
}


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
        if imported.startswith("eir.store"):
            assert imported in SIM_STORE_ALLOWED, f"{path} imports {imported}"


def test_the_simulator_loads_no_daemon_internals_at_all() -> None:
    """Transitively too: importing every simulator module pulls in no LMDB, asyncio or
    daemon transport."""
    import subprocess

    code = (
        "import sys, sim.cli, sim.runner, sim.report, sim.replay; "
        "bad = sorted(m for m in sys.modules if m in ('lmdb', 'asyncio', 'aiomqtt') or "
        "m.startswith(('eir.transport', 'eir.service', 'eir.store.lmdb'))); print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    assert out == "[]"


def test_the_supervisor_loads_no_protocol_stack() -> None:
    """`eir serve --workers N` starts its workers before any protocol import of its own: the
    CLI and the supervisor pull in no pycrate, Diameter, SIGTRAN, numpy or MQTT client."""
    import subprocess

    code = (
        "import sys, eir.cli, eir.supervisor; "
        "bad = sorted(m for m in sys.modules if m.startswith(('pycrate', 'numpy', "
        "'aiomqtt', 'eir.diameter', 'eir.sigtran', 'eir.service', 'eir.transport'))); "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()
    assert out == "[]"


def test_the_walk_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import lmdb\nfrom eir.store import loader\n")
    assert imports(bad) == ["lmdb", "eir.store"]


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _from_ours(node: ast.AST) -> ast.ImportFrom | None:
    ours = ("eir", "sim")
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return node if node.module.split(".")[0] in ours else None
    return None


def private_imports(path: Path) -> list[str]:
    """`_names` one module takes from another of eir or sim: `from m import _x`, or `m._x`
    on a module imported with `from package import m`. What is shared across modules is
    public and named so."""
    tree = ast.parse(path.read_text(), str(path))
    modules: set[str] = set()
    found: list[str] = []
    for node in filter(None, map(_from_ours, ast.walk(tree))):
        for alias in node.names:
            if _private(alias.name):
                found.append(f"{node.module}.{alias.name}")
            elif _is_module(f"{node.module}.{alias.name}"):
                modules.add(alias.asname or alias.name)
    found += [
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in modules
        and _private(node.attr)
    ]
    return found


@pytest.mark.parametrize("path", EIR_FILES + SIM_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_takes_another_modules_private_names(path: Path) -> None:
    assert private_imports(path) == []


def test_the_private_walk_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from eir.sigtran.tcap import _otid\nfrom eir.diameter import codec\n"
        "from eir.model import CheckResult\ncodec._to_pycrate(1)\nCheckResult._replace\n"
    )
    assert private_imports(bad) == ["eir.sigtran.tcap._otid", "codec._to_pycrate"]


def imported_modules(path: Path) -> list[str]:
    """What a file imports, `from package import module` resolved to the module."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend(
                f"{node.module}.{alias.name}"
                if _is_module(f"{node.module}.{alias.name}")
                else node.module
                for alias in node.names
            )
    return found


def tier_of(package: str, module: str) -> int:
    inner = module.removeprefix(package + ".")
    tiers = [i for i, tier in enumerate(INNER[package]) if inner in tier]
    assert len(tiers) == 1, f"{module} is in no tier of {package}: add it to INNER"
    return tiers[0]


INNER_FILES = [
    path
    for path in EIR_FILES
    if module_name(path).startswith(tuple(INNER)) and path.name != "__init__.py"
]


@pytest.mark.parametrize("path", INNER_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_protocol_packages_import_only_downwards(path: Path) -> None:
    name = module_name(path)
    package = next(p for p in INNER if name.startswith(p + "."))
    mine = tier_of(package, name)
    for imported in imported_modules(path):
        if imported.startswith(package + ".") and imported != name:
            theirs = tier_of(package, imported)
            assert theirs <= mine, f"{name} (tier {mine}) imports {imported} (tier {theirs})"


def test_the_diameter_base_never_names_the_s13_application() -> None:
    for path in INNER_FILES:
        name = module_name(path)
        if name.startswith("eir.diameter.") and not name.startswith("eir.diameter.s13"):
            bad = [m for m in imported_modules(path) if m.startswith("eir.diameter.s13")]
            assert bad == [], f"{name} imports {bad}"
