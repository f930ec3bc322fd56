"""The ``eir-sim`` command.

``eir-sim generate`` writes list files of valid, distinct IMEIs with realistic TACs: the bench's
10-million-row blacklist, and lists to load into an EIR under test. Traffic roles (S13, MAP) are
added by the simulator's own issue.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Sequence

import numpy as np

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
    imeis = generate_imeis(args.count, seed=args.seed)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eir-sim",
                                     description="Workloads and traffic for an EIR under test.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("generate", help="write a list file of valid, distinct IMEIs")
    p.add_argument("output", help="file to write (.gz compresses; - for standard output)")
    p.add_argument("--count", type=int, required=True, help="how many IMEIs")
    p.add_argument("--seed", type=int, default=1, help="same seed, same file (default 1)")
    p.add_argument("--format", choices=("csv", "txt", "csv-full"), default="csv",
                   help="csv: header imei; txt: one IMEI per line; "
                        "csv-full: imei,reason,reference (default csv)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.count < 0:
        print("eir-sim: --count must be 0 or more", file=sys.stderr)
        return 2
    return _generate(args)


if __name__ == "__main__":
    sys.exit(main())
