"""One contender run, measured: start the process, watch its first record, its CPU time
(/proc/PID/stat) and the group's committed offsets until the input is consumed, stop it, and
sample its peak RSS (VmHWM). Contenders are not niced."""

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
    extra: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return max(self.done_ms - self.first_record_ms, 1) / 1000

    @property
    def events_per_s(self) -> float:
        return self.records / self.seconds


class RunFailed(RuntimeError):
    pass


def _cpu_seconds(pid: int) -> float | None:
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


def measure(contender: Contender, run: Run, argv: list[str], end_offsets: list[int],
            timeout_s: float, watcher: str) -> Measurement:
    run.workdir.mkdir(parents=True, exist_ok=True)
    stdout_path = run.workdir / "stdout.log"
    total = sum(end_offsets)
    progress = None
    if contender.first_record != "self":
        progress = GroupProgress(watcher, run.bootstrap, run.group, run.input_topic,
                                 len(end_offsets))
    with open(stdout_path, "wb") as out, open(run.workdir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    samples: list[tuple[int, float]] = []
    first_ms = None
    peak_rss = 0.0
    started = time.monotonic()
    try:
        while True:
            now_ms = int(time.time() * 1000)
            cpu = _cpu_seconds(proc.pid)
            peak_rss = max(peak_rss, _peak_rss_mb(proc.pid) or 0.0)
            if progress is None:
                reaped = _reap(proc.pid, block=False)
                if reaped:
                    return _self_reported(reaped, stdout_path, samples, peak_rss)
            else:
                if cpu is not None:
                    samples.append((now_ms, cpu))
                if first_ms is None:
                    first_ms = contender.first_record_ms(run, stdout_path)
                if first_ms is not None and progress.covered >= total:
                    done_ms = int(time.time() * 1000)
                    drain_end_cpu = _cpu_seconds(proc.pid) or samples[-1][1]
                    peak_rss = max(peak_rss, _peak_rss_mb(proc.pid) or 0.0)
                    commits = contender.commit_stats(run)
                    code, usage = _stop(proc)
                    return Measurement(
                        records=total,
                        first_record_ms=first_ms,
                        done_ms=done_ms,
                        drain_cpu_s=drain_end_cpu - _cpu_at(samples, first_ms),
                        process_cpu_s=usage.ru_utime + usage.ru_stime,
                        peak_rss_mb=peak_rss,
                        exit_code=code,
                        extra=commits,
                    )
                if proc.poll() is not None:
                    raise RunFailed(f"{contender.name} exited early, see {run.workdir}")
            if cpu is not None and progress is None:
                samples.append((now_ms, cpu))
            if time.monotonic() - started > timeout_s:
                raise RunFailed(f"{contender.name} did not finish within {timeout_s:.0f} s")
            time.sleep(0.02 if first_ms is None and progress else 0.1)
    finally:
        if proc.returncode is None:
            try:
                if _reap(proc.pid, block=False) is None:
                    _stop(proc, grace_s=10)
            except ChildProcessError:
                pass
        if progress:
            progress.close()


def _cpu_at(samples: list[tuple[int, float]], ms: int) -> float:
    """CPU seconds at the last sample taken at or before `ms`."""
    before = [cpu for t, cpu in samples if t <= ms]
    return before[-1] if before else 0.0


def _self_reported(reaped, stdout_path, samples, peak_rss) -> Measurement:
    code, usage = reaped
    if code != 0:
        raise RunFailed(f"bare consumer exited {code}, see {stdout_path.parent}")
    report = json.loads(stdout_path.read_text().strip().splitlines()[-1])
    total_cpu = usage.ru_utime + usage.ru_stime
    return Measurement(
        records=report["records"],
        first_record_ms=report["first_record_ms"],
        done_ms=report["last_record_ms"],
        drain_cpu_s=total_cpu - _cpu_at(samples, report["first_record_ms"]),
        process_cpu_s=total_cpu,
        peak_rss_mb=max(peak_rss, report["peak_rss_kb"] / 1024),
        exit_code=code,
        extra={"bytes": report["bytes"]},
    )
