"""One contender run, measured: start its process (or, for a scale-out run, several workers of
one group at once), watch its first record, its CPU time (/proc/PID/stat), the broker's CPU
time and the group's committed offsets until the input is consumed, stop it, and sample its
peak RSS (VmHWM). Contenders are not niced."""

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from contenders import Contender, Run
from kafka_io import GroupProgress

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Measurement:
    records: int
    first_record_ms: int
    done_ms: int
    drain_cpu_s: float
    process_cpu_s: float
    peak_rss_mb: float
    exit_code: int
    broker_cpu_s: float | None = None
    # Per worker of a scale-out run: drain CPU s, peak RSS MB.
    workers: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return max(self.done_ms - self.first_record_ms, 1) / 1000

    @property
    def events_per_s(self) -> float:
        return self.records / self.seconds

    def as_dict(self) -> dict:
        return {
            "events_per_s": self.events_per_s, "seconds": self.seconds, "records": self.records,
            "drain_cpu_s": self.drain_cpu_s, "process_cpu_s": self.process_cpu_s,
            "cpu_us_per_event": self.drain_cpu_s / max(self.records, 1) * 1e6,
            "peak_rss_mb": self.peak_rss_mb, "broker_cpu_s": self.broker_cpu_s,
            "exit_code": self.exit_code, **({"workers": self.workers} if self.workers else {}),
            **self.extra,
        }


class RunFailed(RuntimeError):
    pass


def cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _peak_rss_mb(pid: int) -> float | None:
    """VmHWM of the running process. Not ru_maxrss: Linux carries the forking parent's peak
    RSS over exec into it, so a small contender would report the driver's memory."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reap(pid: int, block: bool):
    """(exit code, rusage) once the process has exited, else None."""
    got, status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
    if got == 0:
        return None
    return os.waitstatus_to_exitcode(status), usage


def _stop(proc: subprocess.Popen, grace_s: float = 30):
    os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        reaped = _reap(proc.pid, block=False)
        if reaped:
            return reaped
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    return _reap(proc.pid, block=True)


def _broker_pid() -> int | None:
    try:
        with open(os.path.join(os.environ["RP_KAFKA_DIR"], "pid"), encoding="ascii") as f:
            return int(f.read().strip())
    except (KeyError, OSError, ValueError):
        return None


class _Watch:
    """The running processes of one contender run and what was sampled of them."""

    def __init__(self, argvs: list[list[str]], run: Run):
        self.procs = []
        tag = "" if len(argvs) == 1 else "-0"
        self.stdout = run.workdir / f"stdout{tag}.log"
        for i, argv in enumerate(argvs):
            tag = "" if len(argvs) == 1 else f"-{i}"
            with open(run.workdir / f"stdout{tag}.log", "wb") as out, \
                    open(run.workdir / f"stderr{tag}.log", "wb") as err:
                self.procs.append(subprocess.Popen(argv, stdout=out, stderr=err,
                                                   stdin=subprocess.DEVNULL))
        self.broker = _broker_pid()
        self.peak_rss = [0.0] * len(self.procs)
        # (wall ms, [cpu s per process], broker cpu s)
        self.samples: list[tuple[int, list, float | None]] = []

    def sample(self) -> None:
        now_ms = int(time.time() * 1000)
        cpus = [cpu_seconds(p.pid) for p in self.procs]
        for i, p in enumerate(self.procs):
            self.peak_rss[i] = max(self.peak_rss[i], _peak_rss_mb(p.pid) or 0.0)
        self.samples.append((now_ms, cpus, cpu_seconds(self.broker)))

    def at(self, ms: int) -> tuple[list, float | None]:
        """CPU seconds of the processes and the broker at the last sample at or before `ms`."""
        before = [s for s in self.samples if s[0] <= ms]
        if not before:
            return [0.0] * len(self.procs), None
        return [c or 0.0 for c in before[-1][1]], before[-1][2]

    def stop_all(self) -> list:
        return [_stop(p) for p in self.procs]

    def cleanup(self) -> None:
        for p in self.procs:
            try:
                if p.returncode is None and _reap(p.pid, block=False) is None:
                    _stop(p, grace_s=10)
            except ChildProcessError:
                pass


def measure(contender: Contender, run: Run, argvs: list[list[str]], end_offsets: list[int],
            timeout_s: float, watcher: str) -> Measurement:
    """Runs `argvs` (one per worker) until the input is consumed. A contender watched through
    the group (every one but the bare consumers) starts its interval when every worker has
    seen a record; the records consumed before that are not counted."""
    run.workdir.mkdir(parents=True, exist_ok=True)
    total = sum(end_offsets)
    progress = None
    if contender.first_record != "self":
        progress = GroupProgress(watcher, run.bootstrap, run.group, run.input_topic,
                                 len(end_offsets), "-repartition" if contender.follows_internal else None)
    watch = _Watch(argvs, run)
    first_ms = None
    before_first = 0
    input_done_ms = None
    started = time.monotonic()
    try:
        while True:
            watch.sample()
            if progress is None:
                reaped = _reap(watch.procs[0].pid, block=False)
                if reaped:
                    return _self_reported(reaped, watch)
            else:
                if first_ms is None:
                    before = contender.started(run, watch.stdout)
                    if before is not None:
                        printed = contender.first_record == "stdout"
                        first_ms = (printed and contender.first_record_ms(watch.stdout)
                                    or int(time.time() * 1000))
                        before_first = before
                if first_ms is not None and progress.covered >= total and input_done_ms is None:
                    input_done_ms = int(time.time() * 1000)
                if input_done_ms is not None and progress.internal_behind == 0:
                    return _finish(contender, run, watch, total - before_first, first_ms,
                                   input_done_ms)
                if any(p.poll() is not None for p in watch.procs):
                    raise RunFailed(f"{contender.name} exited early, see {run.workdir}")
            if time.monotonic() - started > timeout_s:
                raise RunFailed(f"{contender.name} did not finish within {timeout_s:.0f} s")
            time.sleep(0.02 if first_ms is None and progress else 0.1)
    finally:
        watch.cleanup()
        if progress:
            progress.close()


def _finish(contender, run, watch: _Watch, records, first_ms, input_done_ms) -> Measurement:
    done_ms = int(time.time() * 1000)
    watch.sample()
    end_cpu, end_broker = watch.at(done_ms)
    start_cpu, start_broker = watch.at(first_ms)
    extra = contender.commit_stats(run)
    if contender.follows_internal:
        extra["input_consumed_s"] = (input_done_ms - first_ms) / 1000
        extra["internal_lag_s"] = (done_ms - input_done_ms) / 1000
    reaped = watch.stop_all()
    extra.update(contender.printed_stats(watch.stdout))
    workers = [
        {"drain_cpu_s": e - s, "peak_rss_mb": rss}
        for e, s, rss in zip(end_cpu, start_cpu, watch.peak_rss)
    ]
    return Measurement(
        records=records,
        first_record_ms=first_ms,
        done_ms=done_ms,
        drain_cpu_s=sum(w["drain_cpu_s"] for w in workers),
        process_cpu_s=sum(u.ru_utime + u.ru_stime for _, u in reaped),
        peak_rss_mb=max(watch.peak_rss),
        exit_code=max(code for code, _ in reaped),
        broker_cpu_s=None if end_broker is None or start_broker is None else end_broker - start_broker,
        workers=workers if len(workers) > 1 else [],
        extra=extra,
    )


def _self_reported(reaped, watch: _Watch) -> Measurement:
    code, usage = reaped
    if code != 0:
        raise RunFailed(f"bare consumer exited {code}, see {watch.stdout.parent}")
    report = json.loads(watch.stdout.read_text().strip().splitlines()[-1])
    total_cpu = usage.ru_utime + usage.ru_stime
    start_cpu, start_broker = watch.at(report["first_record_ms"])
    _, end_broker = watch.at(report["last_record_ms"])
    return Measurement(
        records=report["records"],
        first_record_ms=report["first_record_ms"],
        done_ms=report["last_record_ms"],
        drain_cpu_s=total_cpu - start_cpu[0],
        process_cpu_s=total_cpu,
        peak_rss_mb=max(watch.peak_rss[0], report["peak_rss_kb"] / 1024),
        exit_code=code,
        broker_cpu_s=None if end_broker is None or start_broker is None else end_broker - start_broker,
        extra={"bytes": report["bytes"]},
    )
