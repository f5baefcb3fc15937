"""`tests/sumo/run`: prepares the SUMO scenarios, replays each through roadpulse's incident
detection at 30 s and 60 s windows, and prints DR, FAR, MTTD and level accuracy by set and
class (from `roadpulse evaluate --json`), and the speed error by road class.

Usage: tests/sumo/run [--set tuning|test|all] [--ci] [--only NAME ...] [--bin PATH]
                      [--evaluate-bin PATH] [--json FILE] [--check]
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from . import prepare as prep
from .scenarios import CI, CLASSES, SCENARIOS
from .simulate import WINDOWS_S

ALGORITHMS = "combined,probe,california,apid"


def replay(binary, folder, window_s, out):
    cong, inc = out / f"congestion{window_s}.jsonl", out / f"incidents{window_s}.jsonl"
    subprocess.run(
        [binary, "replay", "--input", str(folder / "raw.jsonl"), "--output", str(cong),
         "--window", f"{window_s}s", "--set", f'congestion.catalog="{folder / "catalog.csv"}"',
         "--incidents", str(inc), "--detect", ALGORITHMS],
        check=True, capture_output=True, text=True)
    return cong, inc


def evaluate(binary, runs):
    """`roadpulse evaluate --json` over several (truth, incidents, congestion) runs."""
    cmd = [binary, "evaluate", "--json"]
    for truth, inc, cong in runs:
        cmd += ["--truth", str(truth), "--incidents", str(inc), "--congestion", str(cong)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def pct(v, digits=1):
    return "-" if v is None else f"{v * 100:.{digits}f} %"


def row(label, r):
    a = r["algorithms"]
    dr = " ".join(f"{a.get(k, {}).get('detection_rate', 0) * 100:5.1f}"
                  for k in ("probe", "california", "apid"))
    mttd = "-" if r["mttd_s"] is None else f"{r['mttd_s']:.0f} s"
    fa = a["combined"]["false_alarms"]
    return (f"{label:<34} {r['incidents']:>3} {pct(r['detection_rate']):>8} "
            f"{pct(r['false_alarm_rate'], 4):>10} ({fa:>3}) {mttd:>7} "
            f"{pct(r['level_accuracy'], 2):>9} {r['level_windows']:>6}   {dr}")


HEADER = (f"{'set / class / window':<34} {'inc':>3} {'DR':>8} {'FAR':>10} {'(n)':>5} "
          f"{'MTTD':>7} {'level':>9} {'lvl n':>6}   DR probe/calif/apid %")


def speed_rows(label, r):
    out = []
    for source, s in sorted(r.get("speed_error", {}).items()):
        out.append(f"{label:<34} {source:<12} {s['windows']:>7} {pct(s['median']):>9} "
                   f"{pct(s['mean']):>9} {s.get('zero_windows', 0):>6}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="tests/sumo/run", description=__doc__.split("\n")[0])
    p.add_argument("--set", choices=["tuning", "test", "all"], default="all")
    p.add_argument("--ci", action="store_true", help="only the small CI subset")
    p.add_argument("--only", nargs="*", default=None, help="only these scenarios")
    p.add_argument("--bin", default="target/release/roadpulse", help="roadpulse for replay")
    p.add_argument("--evaluate-bin", default=None, help="roadpulse for evaluate (default --bin)")
    p.add_argument("--cache", required=True)
    p.add_argument("--tools", required=True, help="JSON: sumo, netconvert, version")
    p.add_argument("--json", default=None, help="also write every figure here")
    p.add_argument("--check", action="store_true", help="hold the CI bounds (exit 1 if not)")
    args = p.parse_args(argv)
    tools = json.loads(args.tools)
    chosen = [s for s in SCENARIOS if args.set in ("all", s.split)]
    if args.ci:
        chosen = [s for s in chosen if s.name in CI]
    if args.only:
        chosen = [s for s in chosen if s.name in args.only]
    if not chosen:
        sys.exit("tests/sumo/run: no scenario selected")
    started = time.time()
    runs = {}
    for s in chosen:
        t0 = time.time()
        folder = prep.prepare(s, args.cache, tools, log=lambda m: print(m, file=sys.stderr))
        out = folder / "replay"
        out.mkdir(exist_ok=True)
        for w in WINDOWS_S:
            cong, inc = replay(args.bin, folder, w, out)
            runs[(s.name, w)] = (s, (folder / f"truth{w}.jsonl", inc, cong))
        print(f"  {s.name}: ready in {time.time() - t0:.0f} s", file=sys.stderr)
    report = summarise(runs, args.evaluate_bin or args.bin)
    report["seconds"] = round(time.time() - started)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.check:
        from .checks import check
        sys.exit(check(report))


def summarise(runs, binary):
    groups = {}
    for (name, w), (s, files) in runs.items():
        for key in [(s.split, s.cls, w), (s.split, "all", w), ("road", s.road.kind, w)]:
            groups.setdefault(key, []).append(files)
    report = {"groups": []}
    for (split, cls, w), files in sorted(groups.items(), key=_order):
        r = evaluate(binary, files)
        report["groups"].append({"set": split, "class": cls, "window_s": w, "report": r})
    return report


def _order(item):
    (split, cls, w), _ = item
    classes = CLASSES + ["all", "freeway", "arterial"]
    sets = ["tuning", "test", "road"]
    return (sets.index(split), classes.index(cls), w)


def print_report(report):
    print(HEADER)
    for g in report["groups"]:
        if g["set"] == "road":
            continue
        print(row(f"{g['set']} / {g['class']} / {g['window_s']} s", g["report"]))
    print(f"\n{'road class / window':<34} {'speed from':<12} {'windows':>7} {'median':>9} "
          f"{'mean':>9} {'0 km/h':>6}")
    for g in report["groups"]:
        if g["set"] == "road":
            label = f"{g['class']} / {g['window_s']} s"
            r = g["report"]
            print(f"{label:<34} {'level':<12} {r['level_windows']:>7} "
                  f"{pct(r['level_accuracy'], 2):>9} (accuracy)")
            for line in speed_rows(label, r):
                print(line)
    print(f"\n{report.get('seconds', 0)} s")
