"""Driver of the side-by-side drain benchmark (see README.md here): one broker, one pre-loaded
input topic, then every contender drains it from the start, repetition after repetition."""

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
from kafka_io import create_topic, read_topic
from measure import RunFailed, measure
from report import markdown, summarise
from verify import compare, load_reference

PARTITIONS = 12
INPUT_TOPIC = "bench.raw"


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def sh(argv, **kw) -> str:
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def prepare_input(args, binary: str) -> tuple[Path, Path]:
    """Generated raw events and their reference output (`roadpulse replay`), made once per shape."""
    shape = f"e{args.events}-s{args.segments}-r{args.rate:g}"
    raw = args.work / f"raw-{shape}.jsonl"
    ref = args.work / f"reference-{shape}.jsonl"
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
    return raw, ref


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_start": os.getloadavg(),
    }


def one_run(name, rep, args, bootstrap, tools, load, reference) -> dict:
    contender = CONTENDERS[name]
    tag = f"{name}-r{rep}-{int(time.time())}"
    run = Run(bootstrap, INPUT_TOPIC, f"bench.out.{tag}", f"bench-{tag}", args.work / "runs" / tag)
    run.workdir.mkdir(parents=True, exist_ok=True)
    if name != "bare":
        create_topic(bootstrap, run.output_topic, PARTITIONS)
    argv = contender.argv(run, tools)
    log(f"{name} rep {rep}: {' '.join(argv)}")
    m = measure(contender, run, argv, load["end_offsets"], args.timeout, tools["group_progress"])
    result = {
        "events_per_s": m.events_per_s, "seconds": m.seconds, "records": m.records,
        "drain_cpu_s": m.drain_cpu_s, "process_cpu_s": m.process_cpu_s,
        "peak_rss_mb": m.peak_rss_mb, "exit_code": m.exit_code, **m.extra,
    }
    if name != "bare":
        output = read_topic(bootstrap, run.output_topic, PARTITIONS)
        result["correct"] = compare(reference, output)
    log(f"{name} rep {rep}: {m.events_per_s:,.0f} events/s over {m.seconds:.1f} s, "
        f"CPU {m.drain_cpu_s:.1f} s, peak RSS {m.peak_rss_mb:.0f} MB, "
        f"correct {result.get('correct', {}).get('ok', 'n/a')}"
        + (f", {m.extra['commit_count']:.0f} commits taking {m.extra['commit_sum']:.1f} s"
           if "commit_count" in m.extra else ""))
    shutil.rmtree(run.workdir / "state", ignore_errors=True)
    return result


def write_results(args, argv, started, load, reference, runs, reps_done) -> dict:
    rows = summarise(CONTENDERS, runs)
    command = "benches/compare/run " + " ".join(argv)
    result = {
        "command": command.strip(), "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": sh(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip(),
        "machine": machine(), "events": load["records"], "segments": args.segments,
        "rate": args.rate, "partitions": PARTITIONS, "reference_windows": len(reference),
        "load_seconds": load["load_seconds"], "repetitions_done": reps_done,
        "medians": rows, "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    header = (f"{load['records']:,} events, {args.segments:,} segments, {PARTITIONS} partitions, "
              f"median of {reps_done} repetition(s); {result['machine']['nproc']} cores "
              f"({result['machine']['cpu_model']}), {result['finished']}; `{result['command']}`\n\n")
    (args.out / "compare.md").write_text(header + markdown(rows))
    print(header + markdown(rows), flush=True)
    return rows


def main(argv) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so a running contender is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tools = json.loads(os.environ["BENCH_TOOLS"])
    tools["jvm_opts"] = args.jvm_opts.split()
    tools["roadpulse_sets"] = args.roadpulse_set
    args.work.mkdir(parents=True, exist_ok=True)
    binary = str(ROOT / "target/release/roadpulse")
    raw, ref_path = prepare_input(args, binary)
    bootstrap = os.environ["BENCH_BOOTSTRAP"]
    started = datetime.datetime.now(datetime.timezone.utc)
    create_topic(bootstrap, INPUT_TOPIC, PARTITIONS)
    log(f"pre-loading {raw.name} into {INPUT_TOPIC} ({PARTITIONS} partitions)")
    load = json.loads(sh([tools["compare_load"], bootstrap, INPUT_TOPIC, str(PARTITIONS), str(raw)]))
    log(f"loaded {load['records']} records in {load['load_seconds']:.1f} s")
    reference = load_reference(str(ref_path), load["stream_time"])
    log(f"reference: {len(reference)} windows closed by the end of the input")
    runs = {name: [] for name in args.contenders}
    for rep in range(1, args.reps + 1):
        for name in args.contenders:
            try:
                runs[name].append(one_run(name, rep, args, bootstrap, tools, load, reference))
            except (RunFailed, OSError, RuntimeError, TimeoutError) as e:
                log(f"{name} rep {rep} FAILED: {e}")
                runs[name].append({"error": str(e)})
        # Written after every repetition, so an interrupted run still leaves its figures.
        rows = write_results(args, argv, started, load, reference, runs, rep)
    return 0 if all("error" not in r for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
