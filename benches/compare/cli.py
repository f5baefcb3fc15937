"""Command line of the drain benchmark. Stdlib only: `run` checks the arguments (and answers
--help) with it before building anything."""

import argparse
import sys
from pathlib import Path

from contenders import CONTENDERS, ROOT

DESCRIPTION = ("Side-by-side drain benchmark (see benches/compare/README.md): one broker, one "
               "pre-loaded input topic, then every contender drains it from the start, "
               "repetition after repetition.")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="benches/compare/run", description=DESCRIPTION)
    p.add_argument("--events", type=int, default=5_000_000, help="raw events to pre-load")
    p.add_argument("--segments", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=5_000, help="events per second of event time")
    p.add_argument("--reps", type=int, default=3, help="repetitions of every contender")
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help="comma-separated, from: " + ", ".join(CONTENDERS))
    p.add_argument("--out", type=Path, default=ROOT / "benches/compare/results")
    p.add_argument("--work", type=Path, default=ROOT / "target/bench-compare",
                   help="generated input, reference output and per-run logs")
    p.add_argument("--jvm-opts", default="-Xms1g -Xmx1g", help="Kafka Streams JVM options")
    p.add_argument("--roadpulse-set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra roadpulse config override, e.g. kafka.commit_interval=1s (repeatable)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one run may take")
    args = p.parse_args(argv)
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = [c for c in args.contenders if c not in CONTENDERS]
    if unknown:
        p.error(f"unknown contenders {unknown}; known: {', '.join(CONTENDERS)}")
    return args


if __name__ == "__main__":
    parse_args(sys.argv[1:])
