"""Driver of the side-by-side drain benchmark (see README.md here): one broker, one pre-loaded
input topic, then every contender drains it from the start, repetition after repetition."""

import dataclasses
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli import parse_args
from contenders import CONTENDERS, ROOT, Run
from kafka_io import (copy_checksum, create_topic, partitions_of, read_topic, topic_values,
                      topics_like)
from measure import RunFailed, measure
from report import markdown, scale_markdown, summarise
from verify import compare, load_reference

PARTITIONS = 12
INPUT_TOPIC = "bench.raw"


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def sh(argv, **kw) -> str:
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def prepare_input(args, binary: str) -> tuple[Path, Path, Path]:
    """Generated raw events, their reference output (`roadpulse replay`) and the connected road
    network catalogue of their segments, each made once per shape."""
    shape = f"e{args.events}-s{args.segments}-r{args.rate:g}"
    raw = args.work / f"raw-{shape}.jsonl"
    ref = args.work / f"reference-{shape}.jsonl"
    catalog = args.work / f"catalog-s{args.segments}.csv"
    if not raw.exists():
        log(f"generating {args.events} events over {args.segments} segments")
        sh([binary, "generate", "--events", str(args.events), "--segments", str(args.segments),
            "--rate", str(args.rate), "--seed", "42", "--output", f"{raw}.tmp"])
        os.replace(f"{raw}.tmp", raw)
    if not ref.exists():
        log("reference output: roadpulse replay --partitions 12")
        sh([binary, "replay", "--input", str(raw), "--output", f"{ref}.tmp", "--partitions",
            str(PARTITIONS), "--window", "60s", "--grace", "30s", "--strict"])
        os.replace(f"{ref}.tmp", ref)
    if not catalog.exists():
        log(f"road network catalogue of {args.segments} segments: roadpulse generate --catalog")
        sh([binary, "generate", "--events", "0", "--segments", str(args.segments),
            "--output", os.devnull, "--catalog", f"{catalog}.tmp"])
        os.replace(f"{catalog}.tmp", catalog)
    return raw, ref, catalog


def input_checksum(raw: Path) -> dict:
    """What a copy of the input holds: its record count and the sum of its values' CRC-32s."""
    with open(raw, "rb") as lines:
        return copy_checksum(line.rstrip(b"\n") for line in lines if line.strip())


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_start": os.getloadavg(),
    }


def one_run(name, rep, args, ctx, workers=1) -> dict:
    contender = CONTENDERS[name]
    # Topic and group names take no "@" (a NAME@baseline contender).
    tag = f"{name.replace('@', '.')}{'' if workers == 1 else f'x{workers}'}-r{rep}-{int(time.time())}"
    bootstrap = ctx["bootstrap"]
    run = Run(bootstrap, INPUT_TOPIC, f"bench.out.{tag}", f"bench-{tag}", args.work / "runs" / tag,
              catalog=ctx["catalog"])
    run.workdir.mkdir(parents=True, exist_ok=True)
    if contender.verify:
        create_topic(bootstrap, run.output_topic, PARTITIONS)
    argvs = [contender.argv(run, ctx["tools"], i) for i in range(workers)]
    for argv in argvs:
        log(f"{tag}: {' '.join(argv)}")
    m = measure(contender, run, argvs, ctx["load"]["end_offsets"], args.timeout,
                ctx["tools"]["group_progress"])
    result = m.as_dict()
    if contender.verify == "windows":
        output = read_topic(bootstrap, run.output_topic, PARTITIONS)
        result["correct"] = compare(ctx["reference"], output)
    elif contender.verify == "copy":
        got = copy_checksum(topic_values(bootstrap, run.output_topic, PARTITIONS))
        result["correct"] = {"ok": got == ctx["input_checksum"], "output": got,
                             "expected": ctx["input_checksum"]}
    if contender.follows_internal:
        result["internal_records"] = internal_records(bootstrap, run)
    log(f"{tag}: {m.events_per_s:,.0f} events/s over {m.seconds:.1f} s, "
        f"CPU {m.drain_cpu_s:.1f} s ({result['cpu_us_per_event']:.2f} µs/event), "
        f"broker CPU {m.broker_cpu_s or 0:.1f} s, peak RSS {m.peak_rss_mb:.0f} MB, "
        f"correct {result.get('correct', {}).get('ok', 'n/a')}"
        + (f", {m.extra['commit_count']:.0f} commits taking {m.extra['commit_sum']:.1f} s"
           if "commit_count" in m.extra else "")
        + (f", internal topics consumed {m.extra['internal_lag_s']:.1f} s after the input"
           if "internal_lag_s" in m.extra else ""))
    shutil.rmtree(run.workdir / "state", ignore_errors=True)
    return result


def internal_records(bootstrap: str, run: Run) -> dict:
    """Records in the run's incidents topic and the group's repartition topics (not verified:
    they show that detection and the repartition path carried load)."""
    counts = {}
    for topic in [f"{run.output_topic}.incidents", *topics_like(bootstrap, f"{run.group}-", "-repartition")]:
        n = partitions_of(bootstrap, topic)
        counts[topic] = sum(1 for _ in topic_values(bootstrap, topic, n)) if n else None
    return counts


def write_results(args, argv, started, ctx, runs, reps_done, contenders, stem, table) -> dict:
    rows = summarise(contenders, runs)
    command = "benches/compare/run " + " ".join(argv)
    load = ctx["load"]
    result = {
        "command": command.strip(), "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": sh(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip(),
        "git_dirty": bool(sh(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]).strip()),
        "machine": ctx["machine"], "load_average_at_end": os.getloadavg(),
        "events": load["records"], "segments": args.segments,
        "rate": args.rate, "partitions": PARTITIONS, "reference_windows": len(ctx["reference"]),
        "load_seconds": load["load_seconds"], "repetitions_done": reps_done,
        "medians": rows, "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    header = (f"{load['records']:,} events, {args.segments:,} segments, {PARTITIONS} partitions, "
              f"median of {reps_done} repetition(s); {m['nproc']} cores ({m['cpu_model']}), "
              f"load average {m['load_average_at_start'][0]:.1f} at the start, "
              f"{result['load_average_at_end'][0]:.1f} at the end; {result['finished']}; "
              f"commit {result['git_commit']}{' (+ uncommitted changes)' if result['git_dirty'] else ''}; "
              f"`{result['command']}`\n\n")
    (args.out / f"{stem}.md").write_text(header + table(rows))
    print(header + table(rows), flush=True)
    return rows


def attempt(runs: list, name: str, rep: int, *call) -> None:
    try:
        runs.append(one_run(*call))
    except (RunFailed, OSError, RuntimeError, TimeoutError) as e:
        log(f"{name} rep {rep} FAILED: {e}")
        runs.append({"error": str(e)})


def main(argv) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so a running contender is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tools = json.loads(os.environ["BENCH_TOOLS"])
    tools["jvm_opts"] = args.jvm_opts.split()
    tools["roadpulse_sets"] = args.roadpulse_set
    args.work.mkdir(parents=True, exist_ok=True)
    binary = str(ROOT / "target/release/roadpulse")
    ctx = {"machine": machine(), "bootstrap": os.environ["BENCH_BOOTSTRAP"], "tools": tools}
    raw, ref_path, ctx["catalog"] = prepare_input(args, binary)
    started = datetime.datetime.now(datetime.timezone.utc)
    create_topic(ctx["bootstrap"], INPUT_TOPIC, PARTITIONS)
    log(f"pre-loading {raw.name} into {INPUT_TOPIC} ({PARTITIONS} partitions)")
    ctx["load"] = load = json.loads(sh([tools["compare_load"], ctx["bootstrap"], INPUT_TOPIC,
                                        str(PARTITIONS), str(raw)]))
    log(f"loaded {load['records']} records in {load['load_seconds']:.1f} s")
    ctx["reference"] = load_reference(str(ref_path), load["stream_time"])
    log(f"reference: {len(ctx['reference'])} windows closed by the end of the input")
    if "pipe-eos" in args.contenders:
        ctx["input_checksum"] = input_checksum(raw)
    runs = {name: [] for name in args.contenders}
    base = CONTENDERS[args.scale_contender]
    scaled = {f"{base.name}x{n}": dataclasses.replace(base, label=f"{base.label}, {n} worker(s)")
              for n in args.scale_out or []}
    scale_runs = {name: [] for name in scaled}
    rows = {}
    for rep in range(1, args.reps + 1):
        for name in args.contenders:
            attempt(runs[name], name, rep, name, rep, args, ctx)
        for n in args.scale_out or []:
            attempt(scale_runs[f"{base.name}x{n}"], f"{base.name}x{n}", rep, base.name, rep, args, ctx, n)
        # Written after every repetition, so an interrupted run still leaves its figures.
        if runs:
            rows.update(write_results(args, argv, started, ctx, runs, rep, CONTENDERS, "compare", markdown))
        if scale_runs:
            rows.update(write_results(args, argv, started, ctx, scale_runs, rep, scaled, "scale-out",
                                      scale_markdown))
    return 0 if all("error" not in r for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
