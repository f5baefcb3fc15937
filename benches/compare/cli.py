"""Command line of the drain benchmark. Stdlib only: `run` checks the arguments (and answers
--help) with it before building anything."""

import argparse
import sys
from pathlib import Path

from contenders import ALIASES, CONTENDERS, ROOT, with_baseline

DESCRIPTION = ("Side-by-side drain benchmark (see benches/compare/README.md): one broker, one "
               "pre-loaded input topic, then every contender drains it from the start, "
               "repetition after repetition.")
# Contenders a scale-out run can start several workers of.
SCALABLE = ["roadpulse-eos", "roadpulse-alos", "roadpulse-eos-default",
            "roadpulse-eos-default-nodetect"]


def _workers(text: str) -> list[int]:
    try:
        counts = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        counts = []
    if not counts or any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of worker counts like 1,2,3")
    return counts


def parse_args(argv):
    p = argparse.ArgumentParser(prog="benches/compare/run", description=DESCRIPTION)
    p.add_argument("--events", type=int, default=5_000_000, help="raw events to pre-load")
    p.add_argument("--segments", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=5_000, help="events per second of event time")
    p.add_argument("--reps", type=int, default=3, help="repetitions of every contender")
    p.add_argument("--contenders", default=None,
                   help="comma-separated (default: all; none with --scale-out), from: "
                   + ", ".join([*ALIASES, *CONTENDERS]) + " (bare = every bare-* consumer)")
    p.add_argument("--scale-out", type=_workers, default=None, metavar="N,N,...",
                   help="also run --scale-contender with each number of workers in one group "
                   "(e.g. 1,2,3; at most the 12 partitions); results in scale-out.md/json")
    p.add_argument("--scale-contender", default="roadpulse-eos", choices=SCALABLE)
    p.add_argument("--out", type=Path, default=ROOT / "benches/compare/results")
    p.add_argument("--work", type=Path, default=ROOT / "target/bench-compare",
                   help="generated input, reference output and per-run logs")
    p.add_argument("--jvm-opts", default="-Xms1g -Xmx1g", help="Kafka Streams JVM options")
    p.add_argument("--roadpulse-set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra roadpulse config override, e.g. kafka.commit_interval=1s (repeatable)")
    p.add_argument("--baseline-binary", type=Path, default=None, metavar="PATH",
                   help="another roadpulse binary (e.g. a build from before a change): every "
                   "roadpulse contender NAME can then also run as NAME@baseline with it, "
                   "side by side in the same run (list both in --contenders to alternate)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one run may take")
    args = p.parse_args(argv)
    if args.baseline_binary is not None:
        if not args.baseline_binary.is_file():
            p.error(f"--baseline-binary: {args.baseline_binary} is not a file")
        with_baseline(str(args.baseline_binary.resolve()))
    if args.contenders is None:
        names = [] if args.scale_out else list(CONTENDERS)
    else:
        names = [c.strip() for c in args.contenders.split(",") if c.strip()]
    args.contenders = list(dict.fromkeys(n for c in names for n in ALIASES.get(c, [c])))
    unknown = [c for c in args.contenders if c not in CONTENDERS]
    if unknown:
        p.error(f"unknown contenders {unknown}; known: {', '.join([*ALIASES, *CONTENDERS])}")
    if args.scale_out and max(args.scale_out) > 12:
        p.error("--scale-out: at most 12 workers (the input has 12 partitions)")
    if not args.contenders and not args.scale_out:
        p.error("nothing to run: no contenders and no --scale-out")
    return args


if __name__ == "__main__":
    parse_args(sys.argv[1:])
