"""Medians over repetitions, ratios, and the markdown table and JSON of a benchmark run."""

import statistics

# Each contender is compared with Kafka Streams under the same delivery guarantee.
KSTREAMS_FOR = {"exactly_once": "kstreams-eos", "at_least_once": "kstreams-alos"}


def summarise(contenders: dict, runs: dict) -> dict:
    """runs: name -> list of per-repetition dicts (events_per_s, drain_cpu_s, ... , correct)."""
    rows = {}
    for name, reps in runs.items():
        ok = [r for r in reps if "error" not in r]
        if not ok:
            rows[name] = {"label": contenders[name].label, "error": reps[-1]["error"]}
            continue
        rows[name] = {
            "label": contenders[name].label,
            "repetitions": len(ok),
            "events_per_s": statistics.median(r["events_per_s"] for r in ok),
            "seconds": statistics.median(r["seconds"] for r in ok),
            "drain_cpu_s": statistics.median(r["drain_cpu_s"] for r in ok),
            "process_cpu_s": statistics.median(r["process_cpu_s"] for r in ok),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in ok),
            "correct": all(r["correct"]["ok"] for r in ok if "correct" in r)
            if any("correct" in r for r in ok)
            else None,
            "failed_repetitions": len(reps) - len(ok),
        }
    for name, row in rows.items():
        if "error" in row:
            continue
        bare = rows.get("bare")
        if bare and "error" not in bare and name != "bare":
            row["vs_bare"] = row["events_per_s"] / bare["events_per_s"]
        ks = rows.get(KSTREAMS_FOR.get(contenders[name].guarantee, ""))
        if ks and "error" not in ks and not name.startswith("kstreams"):
            row["vs_kstreams_rate"] = row["events_per_s"] / ks["events_per_s"]
            row["kstreams_rss_ratio"] = ks["peak_rss_mb"] / row["peak_rss_mb"]
    return rows


def _fmt(v, spec: str, suffix: str = "") -> str:
    return "–" if v is None else f"{v:{spec}}{suffix}"


def markdown(rows: dict) -> str:
    lines = [
        "| contender | events/s | drain s | CPU s (drain) | peak RSS MB | output right | vs Kafka Streams (same guarantee) | vs bare consumer | Kafka Streams RSS / this |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {r['label']} | failed: {r['error']} | | | | | | | |")
            continue
        right = {True: "yes", False: "**no**", None: "n/a"}[r["correct"]]
        lines.append(
            f"| {r['label']} | {r['events_per_s']:,.0f} | {r['seconds']:.1f} | "
            f"{r['drain_cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | {right} | "
            f"{_fmt(r.get('vs_kstreams_rate'), '.2f', '×')} | {_fmt(r.get('vs_bare'), '.0%')} | "
            f"{_fmt(r.get('kstreams_rss_ratio'), '.1f', '×')} |"
        )
    return "\n".join(lines) + "\n"
