"""The files of an ``identities`` scenario (`sim.identities`), written by ``eir-sim generate
--scenario identities DIR`` and read back by ``eir-sim run``:

* ``lists.csv``: the list file to ``eir load`` (black IMEIs, white IMEI+IMSI pairs);
* ``observations.jsonl``: what the simulated nodes observed, one delta a line
  (`eir.observations.delta`), for ``eir observations import``;
* ``identities.csv``: the pairs the simulator sends, by group (``group,imei,imsi,note``);
* ``scenario.toml``: the ``eir-sim run --scenario`` of them (one S13 and one MAP v2 flow per
  group), and ``README.md``: what each group is.

Bad input is refused with ``file:line: message`` (:class:`IdentitiesError`).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
from collections import Counter
from collections.abc import Sequence

from eir.observations.delta import decode_delta, encode_delta
from eir.observations.record import DAY, ObservationError, Observed, check_pair
from sim.groups import GROUP_SUMMARY, GROUPS, Member
from sim.identities import Scenario, by_node

LISTS = "lists.csv"
OBSERVATIONS = "observations.jsonl"
IDENTITIES = "identities.csv"
SCENARIO = "scenario.toml"
README = "README.md"
MEMBER_HEADER = ["group", "imei", "imsi", "note"]
#: the requests in flight per flow of the written scenario
FLOW_CONCURRENCY = 2


class IdentitiesError(ValueError):
    """A scenario file that cannot be read: ``file:line: message``."""


def _date(day: int) -> str:
    return datetime.datetime.fromtimestamp(day * DAY, datetime.UTC).strftime("%Y-%m-%d")


def write_scenario(scenario: Scenario, out: str) -> list[str]:
    """Every file of ``scenario`` into the directory ``out`` (made when missing); the paths
    written. The scenario file names the others as ``out`` was given."""
    os.makedirs(out, exist_ok=True)
    texts = {
        LISTS: _lists_text(scenario),
        OBSERVATIONS: _observations_text(scenario.observed),
        IDENTITIES: _members_text(scenario.members),
        SCENARIO: _scenario_text(scenario, out),
        README: _readme_text(scenario),
    }
    paths = []
    for name, text in texts.items():
        path = os.path.join(out, name)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        paths.append(path)
    return paths


def _lists_text(scenario: Scenario) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["imei", "imsi", "list", "reason", "reference"])
    writer.writerows(scenario.lists)
    return buffer.getvalue()


def _observations_text(observed: list[Observed]) -> str:
    lines = [raw.decode() for node, held in by_node(observed) for raw in encode_delta(node, held)]
    return "".join(line + "\n" for line in lines)


def _members_text(members: Sequence[Member]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MEMBER_HEADER)
    writer.writerows(members)
    return buffer.getvalue()


def _title(scenario: Scenario) -> str:
    plan = scenario.plan
    return (
        f"identities: {plan.days} days from {_date(plan.start)}, {plan.count} IMEIs a group, "
        f"{plan.nodes} nodes, seed {plan.seed}"
    )


def _scenario_text(scenario: Scenario, out: str) -> str:

    def path(name: str) -> str:
        return json.dumps(os.path.join(out, name))

    lines = [
        "# eir-sim run --scenario of an identities scenario (eir-sim generate --scenario "
        "identities):",
        "# eir load lists.csv --list black, eir observations import observations.jsonl,",
        "# eir duplicates detect, eir serve; then",
        "#   eir-sim run --scenario THIS --target s13=tcp://HOST:3868 --target map=tcp://HOST:2905",
        f"title = {json.dumps(_title(scenario))}",
        'description = "shared IMEIs, IMEIs near the duplicate rules, paired users, '
        'handset swaps, ordinary users: one S13 and one MAP v2 flow per group"',
        f"lists = [{path(LISTS)}]",
        f"identities = {path(IDENTITIES)}",
        f"observations = [{path(OBSERVATIONS)}]",
        '# policy_config = "conf/eir.toml"   # the EIR\'s config: its [policy] and '
        "[observations] rules",
    ]
    for protocol in ("s13", "map"):
        for group in GROUPS:
            lines += [
                "",
                "[[flow]]",
                f'name = "{protocol}-{group}"',
                f'protocol = "{protocol}"',
                # each group's MMEs in a realm of their own
                *([f'realm = "{group}.sim.example"'] if protocol == "s13" else []),
                *(["map_version = 2"] if protocol == "map" else []),
                f"concurrency = {FLOW_CONCURRENCY}",
                f"mix = {{ {group} = 1.0 }}",
            ]
    return "\n".join(lines) + "\n"


def _readme_text(scenario: Scenario) -> str:
    counts = Counter(m.group for m in scenario.members)
    notes: dict[str, Counter[str]] = {g: Counter() for g in GROUPS}
    for m in scenario.members:
        notes[m.group][m.note] += 1
    lines = [
        f"# {_title(scenario)}",
        "",
        f"Observations up to {_date(scenario.clock // DAY)} (the observation clock), "
        f"{len(scenario.observed)} records of {len({o.node for o in scenario.observed})} nodes.",
        "",
        "| group | pairs sent | cases | what it is |",
        "|---|---|---|---|",
    ]
    for group in GROUPS:
        cases = ", ".join(f"{note} {n}" for note, n in sorted(notes[group].items()) if note)
        lines.append(f"| {group} | {counts[group]} | {cases} | {GROUP_SUMMARY[group]} |")
    lines += [
        "",
        f"Files: {LISTS} (eir load), {OBSERVATIONS} (eir observations import), {IDENTITIES} "
        f"(the pairs sent, by group), {SCENARIO} (eir-sim run --scenario).",
    ]
    return "\n".join(lines) + "\n"


def read_members(path: str) -> dict[str, list[Member]]:
    """The pairs of ``identities.csv`` by group; IdentitiesError (``path:line: ...``) on bad
    input."""
    groups: dict[str, list[Member]] = {g: [] for g in GROUPS}
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise IdentitiesError(f"{path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise IdentitiesError(f"{path}: not a CSV file: {exc}") from None
    if not rows or rows[0] != MEMBER_HEADER:
        raise IdentitiesError(f"{path}:1: the header must be {','.join(MEMBER_HEADER)}")
    for line, row in enumerate(rows[1:], start=2):
        member = _member(row, f"{path}:{line}")
        groups[member.group].append(member)
    return groups


def _member(row: list[str], where: str) -> Member:
    if len(row) != len(MEMBER_HEADER):
        raise IdentitiesError(f"{where}: {len(row)} fields, expected {len(MEMBER_HEADER)}")
    group, imei, imsi, note = row
    if group not in GROUPS:
        raise IdentitiesError(f"{where}: group {group[:20]!r} is not one of {', '.join(GROUPS)}")
    try:
        check_pair(imei, imsi)
    except ObservationError as exc:
        raise IdentitiesError(f"{where}: {exc}") from None
    return Member(group, imei, imsi, note)


def read_observations(paths: Sequence[str]) -> list[Observed]:
    """Every pair record of the delta files (one JSON delta a line, blank lines skipped);
    IdentitiesError (``path:line: ...``) on bad input."""
    out: list[Observed] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                for line, raw in enumerate(handle, start=1):
                    if raw.strip():
                        out.extend(_delta(raw, f"{path}:{line}"))
        except OSError as exc:
            raise IdentitiesError(f"{path}: {exc.strerror or exc}") from None
    return out


def _delta(raw: bytes, where: str) -> tuple[Observed, ...]:
    try:
        return decode_delta(raw).pairs
    except ObservationError as exc:
        raise IdentitiesError(f"{where}: {exc}") from None
