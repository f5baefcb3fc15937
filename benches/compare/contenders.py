"""The contenders of the drain benchmark: how each is started, how its first record is seen and
how its end is known. Every contender reads the same pre-loaded topic from the start in a
fresh consumer group, commits every 100 ms, and (except the bare consumer) writes its final
windows to its own output topic."""

import re
import socket
import time
import urllib.request
from dataclasses import dataclass
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
    http_port: int = 0


@dataclass
class Contender:
    name: str
    label: str
    # "exactly_once", "at_least_once" or "" (reads only).
    guarantee: str
    # "stdout": prints FIRST_RECORD_MS=...; "metrics": roadpulse's /metrics; "self": the
    # process reports first and last record itself and exits when done.
    first_record: str

    def argv(self, run: Run, tools: dict) -> list[str]:
        if self.name == "bare":
            return [tools["bare_consumer"], run.bootstrap, run.input_topic, run.group]
        if self.name.startswith("roadpulse"):
            config = _roadpulse_config(run, self.guarantee)
            sets = [arg for kv in tools["roadpulse_sets"] for arg in ("--set", kv)]
            return [str(ROOT / "target/release/roadpulse"), "run", "--config", str(config), *sets]
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
        """roadpulse's commit cycles so far (count, seconds spent in them), from /metrics."""
        if self.first_record != "metrics":
            return {}
        found = {}
        for line in _metrics_text(run.http_port).splitlines():
            for suffix in ("sum", "count"):
                if line.startswith(f"roadpulse_commit_seconds_{suffix} "):
                    found[f"commit_{suffix}"] = float(line.rsplit(" ", 1)[1])
        return found

    def first_record_ms(self, run: Run, stdout: Path) -> int | None:
        """Wall-clock ms of the first record, once the contender shows it."""
        if self.first_record == "stdout":
            found = re.search(r"FIRST_RECORD_MS=(\d+)", stdout.read_text(errors="replace"))
            return int(found.group(1)) if found else None
        if self.first_record == "metrics":
            return _consumed_metric(run.http_port)
        return None


CONTENDERS = {
    c.name: c
    for c in [
        Contender("bare", "bare rdkafka consumer (reads only)", "", "self"),
        Contender("roadpulse-eos", "roadpulse exactly_once", "exactly_once", "metrics"),
        Contender("roadpulse-alos", "roadpulse at_least_once", "at_least_once", "metrics"),
        Contender("kstreams-eos", "Kafka Streams exactly_once_v2", "exactly_once", "stdout"),
        Contender("kstreams-alos", "Kafka Streams at_least_once", "at_least_once", "stdout"),
        Contender("quix-eos", "Quix Streams exactly-once", "exactly_once", "stdout"),
        Contender("quix-alos", "Quix Streams at-least-once", "at_least_once", "stdout"),
    ]
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _roadpulse_config(run: Run, guarantee: str) -> Path:
    run.http_port = free_port()
    path = run.workdir / "roadpulse.toml"
    path.write_text(
        f"""# Written by benches/compare for one benchmark run.
[kafka]
bootstrap_servers = "{run.bootstrap}"
group_id = "{run.group}"
input_topics = ["{run.input_topic}"]
congestion_topic = "{run.output_topic}"
incidents_topic = "{run.output_topic}.incidents"
dlq_topic = "{run.output_topic}.dlq"
processing_guarantee = "{guarantee}"
instance_id = "bench"
commit_interval = "100ms"

[window]
size = "60s"
grace = "30s"
# Kafka Streams has no wall-clock idle close: off, so the same windows close.
idle_timeout = "0"

[incidents]
# The compared job is the windowed aggregation alone (Kafka Streams and Quix do no detection).
enabled = false

[http]
listen = "127.0.0.1:{run.http_port}"

[log]
format = "plain"
""",
        encoding="utf-8",
    )
    return path


def _metrics_text(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
            return r.read().decode()
    except OSError:
        return ""


def _consumed_metric(port: int) -> int | None:
    for line in _metrics_text(port).splitlines():
        if line.startswith("roadpulse_events_consumed_total"):
            if float(line.rsplit(" ", 1)[1]) > 0:
                return int(time.time() * 1000)
    return None
