"""The ``eir-sim`` command.

* ``eir-sim run``: S13 or MAP traffic against an EIR, every answer checked (`sim.runner`),
  reports and CI gates (run by `sim.commands`);
* ``eir-sim compare``: two runs' JSON reports side by side, with a verdict (`sim.commands`,
  `sim.compare`);
* ``eir-sim replay``: captured PDUs sent and their answers decoded (`sim.replay`);
* ``eir-sim generate``: list files of valid, distinct IMEIs with realistic TACs, and the files
  of the ``identities`` scenario (`sim.identities`, `sim.identity_files`).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import sys
from collections.abc import Sequence

import numpy as np

import eir
from eir.observations.record import MAX_DAY
from sim.compare import DEFAULT_TOLERANCE, ToleranceError, parse_tolerance
from sim.groups import GROUPS
from sim.workload import generate_imeis

REASONS = ("stolen", "lost", "fraud", "unpaid")


def _write(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        return
    if path.endswith(".gz"):
        data = gzip.compress(data, compresslevel=1)
    with open(path, "wb") as handle:
        handle.write(data)


def _generate(args: argparse.Namespace) -> int:
    tacs = None
    if args.devices is not None:
        from sim.device_db import DeviceDbError, read_tacs

        try:
            tacs = read_tacs(args.devices)
        except DeviceDbError as exc:  # bad data, as eir-sim run --devices says it
            print(f"eir-sim: {exc}", file=sys.stderr)
            return 1
    try:
        imeis = generate_imeis(args.count, seed=args.seed, from_tacs=tacs)
    except ValueError as exc:
        print(f"eir-sim: --devices {args.devices}: {exc}", file=sys.stderr)
        return 1
    if args.format == "txt":
        _write(args.output, imeis.lines(15))
    elif args.format == "csv":
        _write(args.output, b"imei\n" + imeis.lines(15))
    else:
        rng = np.random.default_rng(args.seed + 1)
        reasons = rng.integers(0, len(REASONS), len(imeis)).tolist()
        lines = ["imei,reason,reference"]
        for number, (imei, reason) in enumerate(zip(imeis.as_text(), reasons, strict=True)):
            lines.append(f"{imei},{REASONS[reason]},RPT-{args.seed}-{number:08d}")
        _write(args.output, ("\n".join(lines) + "\n").encode())
    print(f"eir-sim: wrote {len(imeis)} IMEIs to {args.output}", file=sys.stderr)
    return 0


RUN_EPILOG = """
examples:
  eir-sim run --target tcp://127.0.0.1:3868 --protocol s13 --rate 500 --duration 10
  eir-sim run --target 127.0.0.1:2905 --protocol map --map-version 2 --concurrency 32 \\
      --requests 100000 --lists conf/lists/demo.csv --mix black=0.2,pair=0.05,malformed=0.01
  eir-sim run --scenario conf/scenarios/smoke.toml --target s13=tcp://127.0.0.1:3868 \\
      --target map=tcp://127.0.0.1:2905 --json var/smoke.json --html var/smoke.html
  eir-sim run --target tcp://127.0.0.1:3868 --requests 20000 --json - --junit var/s13.xml \\
      --baseline var/last-good.json --max-regression 10% | jq .gates

Every answer is checked against the answer the EIR's policy gives for the request (computed
from --lists, the same files loaded into the EIR, and --policy-config, its eir.toml). Kinds of
the mix: black, grey, white (entries of those lists), pair (an IMEI+IMSI pair entry, sent with
its IMSI), anomaly (bad check digit, one digit repeated, zero TAC), malformed (requests a
conformant EIR must refuse) and unknown (valid IMEIs on no list: the rest of the shares).
With --identities (an identities scenario's pairs), the kinds shared, near, paired, stolen,
swap and ordinary send that group's IMEI+IMSI pairs (MAP v1 and v2 with the IMSI); with
--observations, the IMEIs eir's duplicate rules find in those deltas are expected in the class
duplicate (policy.classes decides their answer), and an IMEI first seen in them before a device
rule's exempt_seen_before is expected exempt from it. With --devices (the device database loaded
with eir devices load) and --approved (its approved-models list), the kinds unallocated (a TAC
not in the database), unapproved (a TAC whose model is not approved) and rule:NAME (a device
the [[policy.device_rules]] NAME of --policy-config matches) send IMEIs of that class, and
every expected answer takes the device database into account.

With a report on standard output (--json -, --html - or --junit -), the final table goes to
standard error. Output paths are checked before the run starts. A run that cannot start (the
target refuses the connection) still writes --junit (one test case in error, saying why) and
--json (with "error" and no counts), and exits 1.

Exit status: 0 when every answer was right and every gate passed, 1 when not (the reasons on
standard error), 2 for a usage error.
"""

COMPARE_EPILOG = """
examples:
  eir-sim compare var/last-good.json var/smoke.json
  eir-sim compare a.json b.json --max-regression 5% --html var/compare.html --json - | jq .verdict

A is the reference, B the run judged. Judged, in total and for each flow of both (by name): the
rate (B lower by more than the tolerance), p99 (higher by more than the tolerance), the error
rate (higher by more than the tolerance and by 0.1 percentage point at least) and mismatches
(any, when A had none). The other percentiles, result codes and equipment statuses are shown.

Both runs' title, start, duration and versions are shown, and every setting that differs. Runs
that did not drive the same flows (by name) with the same protocol and pacing (rate,
concurrency, ramp, requests, duration) are not comparable: said on the verdict's own line and
exit 1, unless --allow-different.

Exit status: 0 within tolerance, 1 regressed or not comparable, 2 for bad input.
"""


def tolerance(text: str) -> float:
    """argparse's type for --max-regression: 10% or 0.1."""
    try:
        return parse_tolerance(text)
    except ToleranceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="drive an EIR with S13 or MAP traffic and check every answer",
        description="Drive an EIR with S13 (Diameter ECR) or MAP CheckIMEI (over M3UA) "
        "traffic, check every answer, and report throughput and latency.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _run_targets(p)
    pace = p.add_argument_group("pacing (default: --concurrency 16 for 10 s)")
    _run_pacing(pace)
    _run_connections(pace)
    _run_workload(p.add_argument_group("workload"))
    _run_devices(p.add_argument_group("device database"))
    _run_identities(p.add_argument_group("identities"))
    _run_reports_and_gates(p.add_argument_group("reports and gates"))


def _run_targets(p: argparse.ArgumentParser) -> None:
    """What to drive: a scenario, the EIR's address(es), the protocol and its variant."""
    p.add_argument(
        "--scenario",
        metavar="FILE",
        help="a TOML scenario (conf/scenarios/*.toml); options below override it",
    )
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="[NAME=]URL",
        help="[tcp://|sctp://]HOST:PORT of the EIR; NAME=URL sets one flow's "
        "(or protocol's) target in a scenario (repeatable)",
    )
    p.add_argument("--protocol", choices=("s13", "map"), help="s13 (default) or map")
    p.add_argument(
        "--map-version",
        type=int,
        choices=(1, 2, 3),
        help="MAP application context version (default 3)",
    )
    p.add_argument("--sccp", choices=("udt", "xudt"), help="SCCP message type (default udt)")


def _run_pacing(pace: argparse._ArgumentGroup) -> None:
    """How fast and how long: open or closed loop, the ramp, the end of the run."""
    pace.add_argument(
        "--rate",
        type=float,
        metavar="R",
        help="open loop: R requests/s; latency counts from each request's intended send time",
    )
    pace.add_argument(
        "--concurrency", type=int, metavar="N", help="closed loop: N requests in flight"
    )
    pace.add_argument(
        "--ramp", type=float, metavar="S", help="with --rate: rise linearly to R over S seconds"
    )
    pace.add_argument(
        "--ramp-from", type=float, metavar="R0", help="with --ramp: the starting rate (default 0)"
    )
    pace.add_argument("--duration", type=float, metavar="S", help="send for S seconds")
    pace.add_argument("--requests", type=int, metavar="N", help="send N requests in total")


def _run_connections(pace: argparse._ArgumentGroup) -> None:
    """Over what: connections, local addresses, client processes, the timeout, the cap."""
    pace.add_argument(
        "--connections",
        type=int,
        metavar="C",
        help="connections (each its own Diameter peer / M3UA ASP; default 1)",
    )
    pace.add_argument(
        "--local",
        action="append",
        metavar="ADDRESS",
        help="SCTP: bind this local address too (repeatable: a multi-homed "
        "association, e.g. --local 127.0.0.1 --local 127.0.0.2)",
    )
    pace.add_argument(
        "--processes",
        type=int,
        metavar="P",
        help="client processes, for rates one process cannot reach (default 1)",
    )
    pace.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="a request unanswered after S seconds is a timeout (default 5)",
    )
    pace.add_argument(
        "--max-in-flight",
        type=int,
        metavar="N",
        help="open loop: hold requests back past N in flight (default 100000)",
    )


def _run_workload(work: argparse._ArgumentGroup) -> None:
    """What is sent: the lists, the mix of kinds, the seed and pool, the expected answers."""
    work.add_argument(
        "--lists",
        nargs="+",
        metavar="[LIST=]FILE",
        help="list files loaded into the EIR (LIST black, grey or white; "
        "default black, or the file's list column)",
    )
    work.add_argument(
        "--mix",
        metavar="KIND=SHARE,...",
        help="shares of black, grey, white, pair, anomaly, malformed (and with --identities "
        "shared, near, paired, stolen, swap, ordinary; with --devices unallocated, unapproved, "
        "rule:NAME); the rest is unknown (default with "
        "lists: black=0.1,grey=0.05,white=0.05,pair=0.02,anomaly=0.02,malformed=0.01)",
    )
    work.add_argument("--seed", type=int, help="same seed, same requests (default 1)")
    work.add_argument(
        "--pool", type=int, metavar="N", help="distinct requests, sent in turn (default 20000)"
    )
    work.add_argument(
        "--policy-config",
        metavar="FILE",
        help="the EIR's eir.toml: its [policy] decides the expected answers (and its "
        "[[observations.duplicate_rules]] the expected duplicates)",
    )
    work.add_argument(
        "--identities",
        metavar="FILE",
        help="identities.csv of eir-sim generate --scenario identities: the pairs the "
        "kinds shared, near, paired, stolen, swap and ordinary send",
    )
    work.add_argument(
        "--observations",
        nargs="+",
        metavar="FILE",
        help="observation deltas imported into the EIR (observations.jsonl): the IMEIs the "
        "duplicate rules find in them are expected in the class duplicate, those first seen "
        "in them before a device rule's exempt_seen_before exempt from it",
    )


def _run_devices(work: argparse._ArgumentGroup) -> None:
    """The device database the EIR holds, for the kinds unallocated, unapproved, rule:NAME."""
    work.add_argument(
        "--devices",
        metavar="FILE",
        help="the device database loaded into the EIR (eir devices load FILE): its classes "
        "are expected, and the kinds unallocated and rule:NAME draw from it",
    )
    work.add_argument(
        "--approved",
        metavar="FILE",
        help="the approved-models list loaded into the EIR: the kind unapproved draws the "
        "database's TACs not on it",
    )


def _run_identities(ident: argparse._ArgumentGroup) -> None:
    """Who the simulator is and whom it addresses: realms, point codes, routing, titles."""
    ident.add_argument("--realm", help="S13: our Origin-Realm (default sim.example)")
    ident.add_argument("--destination-realm", help="S13: Destination-Realm (default localdomain)")
    ident.add_argument("--opc", type=int, help="MAP: our point code (default 100)")
    ident.add_argument("--dpc", type=int, help="MAP: the EIR's point code (default 200)")
    ident.add_argument("--routing-context", type=int, help="MAP: M3UA Routing Context")
    ident.add_argument("--network-appearance", type=int, help="MAP: M3UA Network Appearance")
    ident.add_argument("--called-gt", help="MAP: the EIR's global title (default 491720000009)")
    ident.add_argument("--calling-gt", help="MAP: our global title (default 491720000008)")


def _run_reports_and_gates(out: argparse._ArgumentGroup) -> None:
    """What the run leaves: the JSON and HTML reports, the live line, the CI gates."""
    out.add_argument("--title", help="the report's title (default: the scenario's title)")
    out.add_argument(
        "--target-metrics",
        metavar="URL",
        help="the target's Prometheus metrics page, read for its eir_build_info (its version)",
    )
    out.add_argument("--json", metavar="PATH", help="write the report as JSON (- for stdout)")
    out.add_argument(
        "--html", metavar="PATH", help="write a self-contained HTML report (- for stdout)"
    )
    out.add_argument(
        "--junit",
        metavar="PATH",
        help="write JUnit XML: a test case per flow and per gate (- for stdout)",
    )
    out.add_argument(
        "--live",
        choices=("auto", "always", "never"),
        help="the live line every second (default auto: on a terminal)",
    )
    out.add_argument("--max-p99-ms", type=float, metavar="MS", help="fail above this p99")
    out.add_argument("--min-rate", type=float, metavar="R", help="fail under R answers/s")
    out.add_argument(
        "--max-error-rate",
        type=float,
        metavar="F",
        help="fail when (errors + timeouts) / sent is above F (0.01 = 1 %%)",
    )
    out.add_argument(
        "--baseline",
        metavar="FILE",
        help="an earlier run's JSON report: fail when this run's rate, p99 or error rate is "
        "worse than its by more than --max-regression",
    )
    out.add_argument(
        "--max-regression",
        type=tolerance,
        metavar="TOL",
        help="with --baseline: how much worse, as 10%% or 0.1 (default 10%%)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eir-sim",
        description="Traffic for an EIR under test: S13 and MAP clients that check every "
        "answer, replay of captured PDUs, and list files to load.",
    )
    parser.add_argument("--version", action="version", version=f"eir-sim {eir.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_compare(sub)
    _add_replay(sub)
    _add_generate(sub)
    return parser


def _add_compare(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "compare",
        help="compare two runs' JSON reports, with a verdict against a tolerance",
        description="Compare two eir-sim JSON reports (A the reference, B the run judged): "
        "totals and flows matched by name, rate, latency percentiles, error rate, mismatches, "
        "result codes and equipment statuses.",
        epilog=COMPARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("a", metavar="A.json", help="the reference run's JSON report")
    c.add_argument("b", metavar="B.json", help="the judged run's JSON report")
    c.add_argument(
        "--max-regression",
        type=tolerance,
        default=DEFAULT_TOLERANCE,
        metavar="TOL",
        help="how much worse B may be, as 10%% or 0.1 (default 10%%)",
    )
    c.add_argument(
        "--allow-different",
        action="store_true",
        help="judge runs that are not comparable (other flows, protocol or pacing) all the "
        "same: exit on the metrics alone",
    )
    c.add_argument("--json", metavar="PATH", help="write the comparison as JSON (- for stdout)")
    c.add_argument("--html", metavar="PATH", help="write it as a self-contained HTML page")


def _add_replay(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "replay",
        help="send PDUs from .hex files or a pcap and print the answers decoded",
        description="Send the PDUs of .hex files (one PDU each, hex digits, "
        "# comments) or of a pcap to an EIR, after the handshake "
        "(CER or ASPUP/ASPAC), and print each answer decoded.",
    )
    r.add_argument("files", nargs="+", metavar="FILE", help=".hex files or a .pcap")
    r.add_argument("--target", required=True, help="[tcp://|sctp://]HOST:PORT")
    r.add_argument(
        "--protocol",
        choices=("s13", "map"),
        default=None,
        help="default: guessed from the first PDU",
    )
    r.add_argument(
        "--no-handshake",
        action="store_true",
        help="send the PDUs as they are, without CER / ASPUP+ASPAC first",
    )
    r.add_argument("--timeout", type=float, default=5.0, help="seconds to wait per answer")


def _add_generate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "generate",
        help="write a list file of valid, distinct IMEIs, or a scenario's files",
        description="Write a list file of valid, distinct IMEIs; with --scenario identities, "
        "a directory of simulated days of who uses which handset (see its README.md).",
        epilog=GENERATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "output",
        help="file to write (.gz compresses; - for standard output); with --scenario, "
        "the directory",
    )
    p.add_argument(
        "--count",
        type=int,
        help="how many IMEIs (required); with --scenario, IMEIs per group (default 20)",
    )
    p.add_argument("--seed", type=int, default=1, help="same seed, same file (default 1)")
    p.add_argument(
        "--format",
        choices=("csv", "txt", "csv-full"),
        default="csv",
        help="csv: header imei; txt: one IMEI per line; "
        "csv-full: imei,reason,reference (default csv)",
    )
    devices = p.add_argument_group("device database")
    devices.add_argument(
        "--devices",
        metavar="FILE",
        help="draw the IMEIs' TACs from this device database (any file eir devices load "
        "reads), each TAC as likely as another",
    )
    devices.add_argument(
        "--device-db",
        type=int,
        metavar="N",
        help="write a generated device database of N TACs instead of IMEIs (no real GSMA data)",
    )
    devices.add_argument(
        "--layout",
        choices=("gsma17", "gsma20", "lab", "approved"),
        default="gsma20",
        help="--device-db's layout: the GSMA TAC file's 17- or 20-column layout, the lab CSV, "
        "or the approved-models list of the same devices (default gsma20)",
    )
    scenario = p.add_argument_group("scenario")
    scenario.add_argument(
        "--scenario",
        choices=("identities",),
        help="identities: shared IMEIs, IMEIs near the duplicate rules, paired users, "
        "handset swaps and ordinary users over simulated days",
    )
    scenario.add_argument(
        "--days", type=int, default=60, help="simulated days (default 60, at least 10)"
    )
    scenario.add_argument(
        "--start",
        type=start_day,
        metavar="YYYY-MM-DD",
        help="the first simulated day, UTC (default: --days before today, so that the "
        "simulated days end today)",
    )
    scenario.add_argument(
        "--nodes", type=int, default=2, help="simulated nodes observing the checks (default 2)"
    )


GENERATE_EPILOG = """
examples:
  eir-sim generate var/black.csv --count 1000000 --format csv-full
  eir-sim generate var/tacs.txt --device-db 200000 --layout gsma17
  eir-sim generate var/black.csv --count 10000 --devices var/tacs.txt

--device-db writes a generated device database (made-up brands and models; no real GSMA data)
that eir devices load reads. --devices draws each IMEI's TAC from a device database, every TAC
as likely as another, so that generated lists look like the devices a lab holds.
  eir-sim generate --scenario identities var/ident --days 60 --count 20 --seed 7

With --scenario identities, DIR receives lists.csv, observations.jsonl, identities.csv,
scenario.toml and README.md; a lab then runs
  eir load DIR/lists.csv --list black
  eir observations import DIR/observations.jsonl
  eir duplicates detect
  eir serve ...
  eir-sim run --scenario DIR/scenario.toml --target s13=tcp://HOST:3868 \\
      --target map=tcp://HOST:2905
"""


def start_day(text: str) -> int:
    """argparse's type for --start: YYYY-MM-DD as a UTC day number."""
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None
    return (day - datetime.date(1970, 1, 1)).days


def today() -> int:
    """Today's UTC day number."""
    return (datetime.datetime.now(datetime.UTC).date() - datetime.date(1970, 1, 1)).days


def _generate_scenario(args: argparse.Namespace) -> int:
    """``eir-sim generate --scenario identities DIR``."""
    from sim.identities import MAX_DAYS, MIN_DAYS, Plan, default_start, generate
    from sim.identity_files import write_scenario

    count = 20 if args.count is None else args.count
    if args.start is None:
        args.start = default_start(today(), args.days)
    problem = None
    if not MIN_DAYS <= args.days <= MAX_DAYS:
        problem = f"--days must be {MIN_DAYS} to {MAX_DAYS}"
    elif not 1 <= args.nodes <= 99:
        problem = "--nodes must be 1 to 99"
    elif not 1 <= count <= 100_000:
        problem = "--count must be 1 to 100000 with --scenario"
    elif args.start < 0 or args.start + args.days > MAX_DAY:
        problem = "--start must be from 1970-01-01 on, the last day before 2149"
    elif args.output == "-":
        problem = "--scenario writes a directory: give its path, not -"
    if problem:
        print(f"eir-sim: {problem}", file=sys.stderr)
        return 2
    plan = Plan(count=count, days=args.days, start=args.start, nodes=args.nodes, seed=args.seed)
    scenario = generate(plan)
    try:
        write_scenario(scenario, args.output)
    except OSError as exc:
        print(f"eir-sim: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(
        f"eir-sim: wrote {len(scenario.members)} pairs in {len(GROUPS)} groups, "
        f"{len(scenario.observed)} observation records of {plan.days} days and "
        f"{len(scenario.lists)} list rows to {args.output}",
        file=sys.stderr,
    )
    return 0


def _generate_device_db(args: argparse.Namespace) -> int:
    """``eir-sim generate FILE --device-db N --layout L``: a generated device database."""
    from sim.device_db import write_sample

    if not 1 <= args.device_db <= 10_000_000:
        print("eir-sim: --device-db must be 1 to 10000000", file=sys.stderr)
        return 2
    try:
        _write(args.output, write_sample(args.device_db, args.layout, args.seed))
    except OSError as exc:
        print(f"eir-sim: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"eir-sim: wrote {args.device_db} TACs ({args.layout}) to {args.output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        from sim.commands import run_command

        return run_command(args)
    if args.command == "compare":
        from sim.commands import compare_command

        return compare_command(args)
    if args.command == "replay":
        from sim.replay import replay

        return replay(args.files, args.target, args.protocol, not args.no_handshake, args.timeout)
    if args.scenario is not None:
        return _generate_scenario(args)
    if args.device_db is not None:
        return _generate_device_db(args)
    if args.count is None or args.count < 0:
        print("eir-sim: generate needs --count N (0 or more)", file=sys.stderr)
        return 2
    return _generate(args)


if __name__ == "__main__":
    sys.exit(main())
