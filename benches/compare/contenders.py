"""The contenders of the drain benchmark: how each is started, how its first record is seen and
how its end is known. Every contender reads the same pre-loaded topic from the start in a
fresh consumer group, commits every 100 ms, and (except the bare consumers) writes to its own
output topic: final windows, or for the pipe a copy of every record."""

import dataclasses
import json
import re
import socket
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@dataclass
class Run:
    """One contender run's names and places."""

    bootstrap: str
    input_topic: str
    output_topic: str
    group: str
    workdir: Path
    # One /metrics port per roadpulse worker (set when its config is written).
    http_ports: list[int] = field(default_factory=list)
    # The connected road network catalogue (roadpulse-eos-default).
    catalog: Path | None = None


@dataclass
class Contender:
    name: str
    label: str
    # "exactly_once", "at_least_once" or "" (reads only).
    guarantee: str
    # "stdout": prints FIRST_RECORD_MS=...; "metrics": roadpulse's /metrics; "self": the
    # process reports first and last record itself and exits when done.
    first_record: str
    # What its output is checked against: "windows" (the reference's final windows), "copy"
    # (every input record once), "" (no output).
    verify: str = "windows"
    # Its drain also ends when the group's internal repartition topics are consumed.
    follows_internal: bool = False
    # roadpulse: the shipped defaults with the road network catalogue (else the compared
    # aggregation's settings), and with them incident detection on or off.
    defaults: bool = False
    detection: bool = True
    # roadpulse: another binary than target/release/roadpulse (--baseline-binary).
    binary: str | None = None

    def argv(self, run: Run, tools: dict, worker: int = 0) -> list[str]:
        if self.name.startswith("bare-"):
            _, read, settings = self.name.split("-")
            return [tools["bare_consumer"], run.bootstrap, run.input_topic, run.group, read, settings]
        if self.name == "pipe-eos":
            return [tools["bare_pipe"], run.bootstrap, run.input_topic, run.output_topic,
                    run.group, str(COMMIT_INTERVAL_MS)]
        if self.name.startswith("roadpulse"):
            config = _roadpulse_config(run, self.guarantee, worker, self.defaults, self.detection)
            sets = [arg for kv in tools["roadpulse_sets"] for arg in ("--set", kv)]
            binary = self.binary or str(ROOT / "target/release/roadpulse")
            return [binary, "run", "--config", str(config), *sets]
        if self.name.startswith("kstreams"):
            mode = "exactly_once_v2" if self.guarantee == "exactly_once" else "at_least_once"
            jar = HERE / "kstreams/target/kstreams-congestion-0.jar"
            classpath = f"{jar}:{HERE / 'kstreams/target/lib'}/*"
            return [
                "java", *tools["jvm_opts"], "-cp", classpath, "io.roadpulse.bench.CongestionApp",
                run.bootstrap, run.input_topic, run.output_topic, run.group, mode,
                str(run.workdir / "state"),
            ]
        if self.name.startswith("quix"):
            mode = "exactly-once" if self.guarantee == "exactly_once" else "at-least-once"
            return [
                str(HERE / ".venv/bin/python"), str(HERE / "quix/congestion.py"),
                run.bootstrap, run.input_topic, run.output_topic, run.group, mode,
                str(run.workdir / "state"),
            ]
        raise ValueError(f"unknown contender {self.name}")

    def commit_stats(self, run: Run) -> dict:
        """roadpulse's commit cycles so far (count, seconds spent in them), from /metrics,
        summed over its workers."""
        if self.first_record != "metrics":
            return {}
        found = {}
        for port in run.http_ports:
            for line in _metrics_text(port).splitlines():
                for suffix in ("sum", "count"):
                    if line.startswith(f"roadpulse_commit_seconds_{suffix} "):
                        key = f"commit_{suffix}"
                        found[key] = found.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
        return found

    def printed_stats(self, stdout: Path) -> dict:
        """The pipe's own commit figures, from the JSON line it prints when done."""
        if self.name != "pipe-eos" or not stdout.exists():
            return {}
        for line in reversed(stdout.read_text(errors="replace").splitlines()):
            if line.startswith("{"):
                s = json.loads(line)
                return {"commit_count": s["commits"], "commit_sum": s["commit_s"],
                        "first_commit_s": s["first_commit_s"],
                        "longest_commit_s": s["longest_commit_s"]}
        return {}

    def started(self, run: Run, stdout: Path) -> int | None:
        """None until every worker has had its first record; then the records consumed by
        then (roadpulse, from each worker's /metrics), or 0 for a contender that prints the
        moment of its first record."""
        if self.first_record == "stdout":
            return 0 if self.first_record_ms(stdout) is not None else None
        if self.first_record == "metrics":
            consumed = [_consumed_metric(port) for port in run.http_ports]
            return sum(consumed) if all(c > 0 for c in consumed) else None
        return None

    def first_record_ms(self, stdout: Path) -> int | None:
        found = re.search(r"FIRST_RECORD_MS=(\d+)", stdout.read_text(errors="replace"))
        return int(found.group(1)) if found else None


# roadpulse's default kafka.commit_interval, which every contender commits at.
COMMIT_INTERVAL_MS = 100

# The bare consumer in every combination of read path and client settings; the fastest in a
# run is that run's ceiling.
BARE = [f"bare-{read}-{settings}" for read in ("poll", "batch") for settings in ("librdkafka", "roadpulse")]

CONTENDERS = {
    c.name: c
    for c in [
        Contender("bare-poll-librdkafka", "bare consumer, poll, librdkafka defaults", "", "self", ""),
        Contender("bare-poll-roadpulse", "bare consumer, poll, roadpulse settings", "", "self", ""),
        Contender("bare-batch-librdkafka", "bare consumer, batch, librdkafka defaults", "", "self", ""),
        Contender("bare-batch-roadpulse", "bare consumer, batch, roadpulse settings", "", "self", ""),
        Contender("pipe-eos", "bare consume→produce pipe, transactions", "exactly_once", "stdout", "copy"),
        Contender("roadpulse-eos", "roadpulse exactly_once", "exactly_once", "metrics"),
        Contender("roadpulse-alos", "roadpulse at_least_once", "at_least_once", "metrics"),
        Contender("roadpulse-eos-default", "roadpulse shipped defaults (detection on, road network)",
                  "exactly_once", "metrics", follows_internal=True, defaults=True),
        Contender("roadpulse-eos-default-nodetect",
                  "roadpulse shipped defaults, detection off (road network)",
                  "exactly_once", "metrics", defaults=True, detection=False),
        Contender("kstreams-eos", "Kafka Streams exactly_once_v2", "exactly_once", "stdout"),
        Contender("kstreams-alos", "Kafka Streams at_least_once", "at_least_once", "stdout"),
        Contender("quix-eos", "Quix Streams exactly-once", "exactly_once", "stdout"),
        Contender("quix-alos", "Quix Streams at-least-once", "at_least_once", "stdout"),
    ]
}
# Names that stand for several contenders on the command line.
ALIASES = {"bare": BARE}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_baseline(binary: str) -> None:
    """Adds `<name>@baseline` for every roadpulse contender: the same run with `binary`."""
    for c in [c for c in CONTENDERS.values() if c.name.startswith("roadpulse")]:
        CONTENDERS[f"{c.name}@baseline"] = dataclasses.replace(
            c, name=f"{c.name}@baseline", label=f"{c.label} [baseline binary]", binary=binary)


def _roadpulse_config(run: Run, guarantee: str, worker: int, defaults: bool,
                      detection: bool) -> Path:
    """The benchmark's roadpulse config; with `defaults`, only names and addresses (and the
    road network catalogue): every other key keeps its shipped default (incident detection
    on unless `detection` is false)."""
    port = free_port()
    run.http_ports.append(port)
    path = run.workdir / f"roadpulse-{worker}.toml"
    names = f"""# Written by benches/compare for one benchmark run.
[kafka]
bootstrap_servers = "{run.bootstrap}"
group_id = "{run.group}"
input_topics = ["{run.input_topic}"]
congestion_topic = "{run.output_topic}"
incidents_topic = "{run.output_topic}.incidents"
dlq_topic = "{run.output_topic}.dlq"
instance_id = "bench-{worker}"
"""
    if defaults:
        body = f"""
[congestion]
catalog = "{run.catalog}"
"""
        if not detection:
            body += """
[incidents]
enabled = false
"""
    else:
        body = f"""processing_guarantee = "{guarantee}"
commit_interval = "{COMMIT_INTERVAL_MS}ms"

[window]
size = "60s"
grace = "30s"
# Kafka Streams has no wall-clock idle close: off, so the same windows close.
idle_timeout = "0"

[incidents]
# The compared job is the windowed aggregation alone (Kafka Streams and Quix do no detection).
enabled = false

[limits]
# The other contenders hold every segment: no segment budget either.
max_segments = 0
"""
    path.write_text(names + body + f"""
[http]
listen = "127.0.0.1:{port}"

[log]
format = "plain"
""", encoding="utf-8")
    return path


def _metrics_text(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
            return r.read().decode()
    except OSError:
        return ""


def _consumed_metric(port: int) -> int:
    """roadpulse_events_consumed_total summed over its series (0 before the first record)."""
    total = 0.0
    for line in _metrics_text(port).splitlines():
        if line.startswith("roadpulse_events_consumed_total"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)
