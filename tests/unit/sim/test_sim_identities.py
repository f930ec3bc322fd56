"""The identities scenario (`sim.identities`, `sim.identity_files`, `sim.classes`): repeatable
for a seed, simulated days, each group on its side of the duplicate rules as
`eir.observations.duplicate.detect` judges it, the files read back, and the answers the
simulator expects for every group."""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from eir.config.keys import DIRBS_RULE, DuplicateRuleConfig
from eir.identity import Imei, Imsi
from eir.model import CheckRequest
from eir.observations.duplicate import detect
from eir.observations.record import DAY, Observed, checked
from eir.policy import decide
from sim.classes import finding_rows, findings, merged
from sim.groups import GROUPS
from sim.identities import Plan, generate
from sim.identity_files import (
    IDENTITIES,
    LISTS,
    OBSERVATIONS,
    SCENARIO,
    IdentitiesError,
    read_members,
    read_observations,
    write_scenario,
)
from sim.settings import build, load_scenario
from tests.support.cli import EIR_SIM, eir

PLAN = Plan(count=12, days=60, nodes=3, seed=5)
SAME_TIME = DuplicateRuleConfig(name="same-time", kind="concurrent", window_days=1, minutes=10)


def _by_imei(observed: list[Observed]) -> dict[str, list[Observed]]:
    out: dict[str, list[Observed]] = defaultdict(list)
    for o in observed:
        out[o.imei].append(o)
    return out


def test_the_same_seed_gives_the_same_scenario() -> None:
    one, two = generate(PLAN), generate(PLAN)
    assert one.members == two.members and one.observed == two.observed and one.lists == two.lists
    other = generate(Plan(count=12, days=60, nodes=3, seed=6))
    assert other.observed != one.observed


def test_simulated_days_and_nodes() -> None:
    scenario = generate(PLAN)
    first, last = PLAN.start, PLAN.start + PLAN.days - 1
    assert all(checked(o.record) == o.record for o in scenario.observed)
    assert min(d for o in scenario.observed for d in o.record.days) == first
    assert scenario.clock // DAY == last
    assert {o.node for o in scenario.observed} == {"node-1", "node-2", "node-3"}
    counts = Counter(m.group for m in scenario.members)
    assert set(counts) == set(GROUPS)
    assert counts["shared"] == 2 * PLAN.count and counts["ordinary"] == PLAN.count
    assert counts["stolen"] == PLAN.count and counts["swap"] == 2 * PLAN.count


def test_sixty_days_of_a_thousand_imeis_a_group_in_seconds() -> None:
    scenario = generate(Plan(count=1000, days=60))
    assert len({m.imei for m in scenario.members}) == 5000 + 500  # one new handset per swap


def _detected(rules: tuple[DuplicateRuleConfig, ...]) -> dict[str, set[str]]:
    scenario = generate(PLAN)
    now = scenario.clock
    found: dict[str, set[str]] = {}
    for imei, pairs in _by_imei(scenario.observed).items():
        found[imei] = {f.rule for f in detect(pairs, now, rules)}
    return found


def test_the_groups_land_on_their_side_of_the_dirbs_rule() -> None:
    scenario = generate(PLAN)
    found = _detected((DIRBS_RULE,))
    for member in scenario.members:
        expected = {"dirbs"} if member.group == "shared" else set()
        assert found[member.imei] == expected, member


def test_shared_at_once_is_also_concurrent_use_and_near_is_not() -> None:
    scenario = generate(PLAN)
    found = _detected((DIRBS_RULE, SAME_TIME))
    for member in scenario.members:
        if member.group == "shared":
            want = {"dirbs", "same-time"} if member.note == "at-once" else {"dirbs"}
        else:
            want = set()
        assert found[member.imei] == want, member


def test_near_is_just_under_the_rule() -> None:
    scenario = generate(PLAN)
    by_imei = _by_imei(scenario.observed)
    loose = dataclasses.replace(DIRBS_RULE, min_average=DIRBS_RULE.min_average - 1, min_days=1)
    for member in scenario.group("near"):
        assert detect(by_imei[member.imei], scenario.clock, [loose]), member


def test_findings_and_finding_rows_follow_detect() -> None:
    scenario = generate(PLAN)
    found = findings(scenario.observed + scenario.observed[:40], (DIRBS_RULE,))
    shared = {m.imei for m in scenario.group("shared")}
    assert {f.imei for f in found} == shared
    rows = finding_rows(found)
    assert [r.imei for r in rows] == sorted(shared)
    assert all(r.rule == "dirbs" and r.added == scenario.clock for r in rows)
    assert merged(scenario.observed[:5] * 3) == sorted(scenario.observed[:5])


def test_every_group_expects_its_answer(tmp_path: Path) -> None:
    from sim.runner import expected_store

    scenario = generate(PLAN)
    write_scenario(scenario, str(tmp_path))
    settings = build(load_scenario(str(tmp_path / SCENARIO)), {}, {}, ["tcp://127.0.0.1:1"])
    lists = expected_store(settings)
    answers: dict[str, set[str]] = defaultdict(set)
    for member in scenario.members:
        request = CheckRequest(Imei(member.imei), Imsi(member.imsi), "s13")
        result = decide(request, lists.lookup, settings.policy)
        answers[f"{member.group} {member.note}".strip()].add(result.answer)
    assert dict(answers) == {
        "shared at-once": {"greylisted"},
        "shared over-days": {"greylisted"},
        "near average": {"whitelisted"},
        "near few-days": {"whitelisted"},
        "paired owner": {"whitelisted"},
        "stolen thief": {"blacklisted"},
        "swap new-handset": {"whitelisted"},
        "swap old-handset": {"blacklisted"},
        "swap new-sim": {"whitelisted"},
        "swap old-sim": {"whitelisted"},
        "ordinary": {"whitelisted"},
    }


def test_the_files_read_back(tmp_path: Path) -> None:
    scenario = generate(PLAN)
    write_scenario(scenario, str(tmp_path))
    assert sorted(read_observations([str(tmp_path / OBSERVATIONS)])) == sorted(scenario.observed)
    members = read_members(str(tmp_path / IDENTITIES))
    assert [m for g in GROUPS for m in members[g]] == scenario.members
    values = load_scenario(str(tmp_path / SCENARIO))
    settings = build(values, {}, {}, ["tcp://127.0.0.1:1"])
    assert settings.lists == (str(tmp_path / LISTS),)
    assert settings.observations == (str(tmp_path / OBSERVATIONS),)
    assert [f.name for f in settings.flows] == [f"{p}-{g}" for p in ("s13", "map") for g in GROUPS]
    assert {f.map.version for f in settings.flows if f.protocol == "map"} == {2}


def test_the_list_file_loads_into_eir(tmp_path: Path) -> None:
    write_scenario(generate(PLAN), str(tmp_path))
    loaded = eir("load", tmp_path / LISTS, "--list", "black", "--db", tmp_path / "db")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith(f"added {len(generate(PLAN).lists)},")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("imei,imsi\n", "identities.csv:1: the header must be group,imei,imsi,note"),
        (
            "group,imei,imsi,note\nshared,0123,001010000000001,\n",
            "identities.csv:2: IMEI '0123' is not 14 digits",
        ),
        (
            "group,imei,imsi,note\nfriends,01234567890123,001010000000001,\n",
            "identities.csv:2: group 'friends' is not one of shared, near, paired, stolen, "
            "swap, ordinary",
        ),
        ("group,imei,imsi,note\nshared,1\n", "identities.csv:2: 2 fields, expected 4"),
    ],
)
def test_bad_identities_are_refused_with_their_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "identities.csv"
    path.write_text(text)
    with pytest.raises(IdentitiesError) as caught:
        read_members(str(path))
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_bad_observations_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "observations.jsonl"
    path.write_text('{"v":1,"node":"n","pairs":[]}\n\n{"v":2,"node":"n","pairs":[]}\n')
    with pytest.raises(IdentitiesError) as caught:
        read_observations([str(path)])
    assert str(caught.value) == f"{path}:3: delta version '2' is not 1"


def _generate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EIR_SIM, "generate", *map(str, args)], capture_output=True, text=True, check=False
    )


def test_generate_writes_the_scenario(tmp_path: Path) -> None:
    out = tmp_path / "ident"
    start = ("--start", "2026-01-01")
    result = _generate("--scenario", "identities", out, "--count", "4", "--days", "20", *start)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("eir-sim: wrote 35 pairs in 6 groups, ")
    assert result.stderr.rstrip().endswith(
        f"observation records of 20 days and 13 list rows to {out}"
    )
    names = {"lists.csv", "observations.jsonl", "identities.csv", "scenario.toml", "README.md"}
    assert {p.name for p in out.iterdir()} == names
    again = tmp_path / "again"
    _generate("--scenario", "identities", again, "--count", "4", "--days", "20", *start)
    assert (again / OBSERVATIONS).read_bytes() == (out / OBSERVATIONS).read_bytes()


def _today() -> int:
    return (datetime.datetime.now(datetime.UTC).date() - datetime.date(1970, 1, 1)).days


def test_the_simulated_days_end_today_by_default(tmp_path: Path) -> None:
    """Without --start the days are the last --days before today: all within retention, so
    `eir serve` keeps what was imported."""
    before = _today()
    result = _generate("--scenario", "identities", tmp_path, "--count", "2", "--days", "40")
    assert result.returncode == 0, result.stderr
    days = {d for o in read_observations([str(tmp_path / OBSERVATIONS)]) for d in o.record.days}
    assert (min(days), max(days)) in {(t - 40, t - 1) for t in (before, _today())}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "5"], "eir-sim: --days must be 10 to 3650\n"),
        (["--nodes", "0"], "eir-sim: --nodes must be 1 to 99\n"),
        (["--count", "0"], "eir-sim: --count must be 1 to 100000 with --scenario\n"),
        (["--start", "2026-02-30"], "'2026-02-30' is not a date YYYY-MM-DD"),
    ],
)
def test_generate_refuses_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = _generate("--scenario", "identities", tmp_path / "x", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_map_sends_a_groups_imsi_in_v1_and_v2_only(tmp_path: Path) -> None:
    from sim import msc_role as map_role
    from sim.runner import expected_store
    from sim.workload import Draw

    scenario = generate(PLAN)
    write_scenario(scenario, str(tmp_path))
    settings = build(load_scenario(str(tmp_path / SCENARIO)), {}, {}, ["tcp://127.0.0.1:1"])
    lists = expected_store(settings)
    owner = scenario.group("paired")[0]
    draw = Draw("paired", owner.imei, owner.imsi, owner.note)
    for version, imsi, status in (
        (1, owner.imsi, "white"),
        (2, owner.imsi, "white"),
        (3, None, "black"),
    ):
        probe, _ = map_role.probe(
            draw, map_role.MapOptions(version=version), settings.policy, lists.lookup
        )
        assert (probe.imsi, probe.expected.status, probe.note) == (imsi, status, "owner"), version


def test_the_rules_and_classes_come_from_the_policy_config(tmp_path: Path) -> None:
    from sim.runner import expected_store

    scenario = generate(PLAN)
    write_scenario(scenario, str(tmp_path))
    config = tmp_path / "eir.toml"
    config.write_text(
        '[policy.classes]\nduplicate = "black"\n\n'
        '[[observations.duplicate_rules]]\nname = "same-time"\nkind = "concurrent"\n'
        "window_days = 1\nminutes = 10\n"
    )
    values = load_scenario(str(tmp_path / SCENARIO)) | {"policy_config": str(config)}
    settings = build(values, {}, {}, ["tcp://127.0.0.1:1"])
    assert [r.name for r in settings.rules] == ["same-time"]
    lists = expected_store(settings)
    for member in scenario.group("shared"):
        request = CheckRequest(Imei(member.imei), Imsi(member.imsi), "s13")
        answer = decide(request, lists.lookup, settings.policy).answer
        assert answer == ("blacklisted" if member.note == "at-once" else "whitelisted"), member
