"""Medians over repetitions, ratios, and the markdown tables of a benchmark run."""

import statistics

# Each contender is compared with Kafka Streams under the same delivery guarantee.
KSTREAMS_FOR = {"exactly_once": "kstreams-eos", "at_least_once": "kstreams-alos"}
MEDIANS = ["events_per_s", "seconds", "drain_cpu_s", "process_cpu_s", "cpu_us_per_event",
           "peak_rss_mb"]


def _median(reps: list[dict], key: str):
    values = [r[key] for r in reps if r.get(key) is not None]
    return statistics.median(values) if values else None


def _row(label: str, reps: list[dict]) -> dict:
    ok = [r for r in reps if "error" not in r]
    if not ok:
        return {"label": label, "error": reps[-1]["error"]}
    row = {"label": label, "repetitions": len(ok), "failed_repetitions": len(reps) - len(ok)}
    for key in MEDIANS + ["broker_cpu_s"]:
        row[key] = _median(ok, key)
    checked = [r["correct"]["ok"] for r in ok if "correct" in r]
    row["correct"] = all(checked) if checked else None
    if any("workers" in r for r in ok):
        n = len(ok[0]["workers"])
        row["worker_cpu_s"] = [statistics.median(r["workers"][i]["drain_cpu_s"] for r in ok)
                               for i in range(n)]
    return row


def summarise(contenders: dict, runs: dict) -> dict:
    """runs: name -> list of per-repetition dicts (events_per_s, drain_cpu_s, ... , correct).
    The ceiling is the fastest bare consumer of the run (by median)."""
    rows = {name: _row(contenders[name].label, reps) for name, reps in runs.items()}
    bare = {n: r for n, r in rows.items() if n.startswith("bare-") and "error" not in r}
    ceiling = max(bare, key=lambda n: bare[n]["events_per_s"]) if bare else None
    for name, row in rows.items():
        if "error" in row:
            continue
        if ceiling:
            row["ceiling"] = name == ceiling
            row["vs_ceiling"] = row["events_per_s"] / rows[ceiling]["events_per_s"]
        ks = rows.get(KSTREAMS_FOR.get(contenders[name].guarantee, ""))
        if ks and "error" not in ks and not name.startswith("kstreams"):
            row["vs_kstreams_rate"] = row["events_per_s"] / ks["events_per_s"]
            row["kstreams_rss_ratio"] = ks["peak_rss_mb"] / row["peak_rss_mb"]
    return rows


def _fmt(v, spec: str, suffix: str = "") -> str:
    return "–" if v is None else f"{v:{spec}}{suffix}"


def markdown(rows: dict) -> str:
    lines = [
        "| contender | events/s | drain s | CPU s (drain) | CPU µs/event | broker CPU s | peak RSS MB | output right | vs Kafka Streams (same guarantee) | vs ceiling | Kafka Streams RSS / this |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows.values():
        if "error" in r:
            lines.append(f"| {r['label']} | failed: {r['error']} | | | | | | | | | |")
            continue
        right = {True: "yes", False: "**no**", None: "n/a"}[r["correct"]]
        label = f"**{r['label']} (ceiling)**" if r.get("ceiling") else r["label"]
        lines.append(
            f"| {label} | {r['events_per_s']:,.0f} | {r['seconds']:.1f} | "
            f"{r['drain_cpu_s']:.1f} | {r['cpu_us_per_event']:.2f} | "
            f"{_fmt(r['broker_cpu_s'], '.1f')} | {r['peak_rss_mb']:.0f} | {right} | "
            f"{_fmt(r.get('vs_kstreams_rate'), '.2f', '×')} | {_fmt(r.get('vs_ceiling'), '.0%')} | "
            f"{_fmt(r.get('kstreams_rss_ratio'), '.1f', '×')} |"
        )
    return "\n".join(lines) + "\n"


def scale_markdown(rows: dict) -> str:
    """Scale-out rows: name -> row with worker_cpu_s (one per worker) when more than one."""
    lines = [
        "| workers | events/s (all workers) | drain s | CPU s per worker (drain) | CPU s, all workers | CPU µs/event | broker CPU s | peak RSS MB (largest worker) | output right |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for name, r in rows.items():
        workers = name.rsplit("x", 1)[1]
        if "error" in r:
            lines.append(f"| {workers} | failed: {r['error']} | | | | | | | |")
            continue
        per = r.get("worker_cpu_s") or [r["drain_cpu_s"]]
        right = {True: "yes", False: "**no**", None: "n/a"}[r["correct"]]
        lines.append(
            f"| {workers} | {r['events_per_s']:,.0f} | {r['seconds']:.1f} | "
            f"{', '.join(f'{c:.1f}' for c in per)} | {r['drain_cpu_s']:.1f} | "
            f"{r['cpu_us_per_event']:.2f} | {_fmt(r['broker_cpu_s'], '.1f')} | "
            f"{r['peak_rss_mb']:.0f} | {right} |"
        )
    return "\n".join(lines) + "\n"
