"""The bounds `tests/sumo/run --ci --check` holds on the CI subset (one freeway and one
signalised arterial scenario of the tuning set), so that a change that makes roadpulse's speeds
or levels worse on SUMO traffic fails CI. They hold the speed estimate and the levels, and on
the freeway (a first day, no baseline) detection too: its crash found at 30 s and 60 s with a
false-alarm rate within the 0.05 % target. The arterial's detection is printed, not held: the
combined detector still misses it at 60 s (README, "Validation on Eclipse SUMO").
"""

import sys

# road class -> (most median relative error of speed_kph in probe windows,
#                least level accuracy), at 30 s and 60 s windows alike.
BOUNDS = {"freeway": (0.08, 0.85), "arterial": (0.15, 0.65)}
# Probe windows that may read 0 km/h (a probe waiting at a red light made the old harmonic
# mean 0 in a quarter of the arterial's windows; with the mean of the pings 2.5 % remain,
# windows whose every ping was at a red light).
MAX_ZERO_SHARE = 0.05
# Freeway detection: every incident found, false alarms per segment-window at most this.
FREEWAY_MAX_FAR = 0.0005


def check(report):
    failures = []
    for g in report["groups"]:
        if g["set"] != "road":
            continue
        road, w, r = g["class"], g["window_s"], g["report"]
        max_error, min_level = BOUNDS[road]
        probe = r.get("speed_error", {}).get("probe")
        if not probe or not probe["windows"]:
            failures.append(f"{road} {w} s: no probe windows judged")
            continue
        if probe["median"] > max_error:
            failures.append(f"{road} {w} s: median probe speed error {probe['median']:.3f} "
                            f"> {max_error}")
        if probe["zero_windows"] > MAX_ZERO_SHARE * probe["windows"]:
            failures.append(f"{road} {w} s: {probe['zero_windows']} of {probe['windows']} "
                            "probe windows read 0 km/h")
        # Level accuracy counts windows with >= 10 probe samples; at 30 s the arterial has
        # next to none, so the bound holds where there are at least 20.
        if r["level_windows"] >= 20 and r["level_accuracy"] < min_level:
            failures.append(f"{road} {w} s: level accuracy {r['level_accuracy']} < {min_level}")
        if road == "freeway" and r["incidents"] >= 1:
            if r["detection_rate"] < 1.0:
                failures.append(f"{road} {w} s: detection rate {r['detection_rate']} < 1")
            if r["false_alarm_rate"] > FREEWAY_MAX_FAR:
                failures.append(f"{road} {w} s: false-alarm rate {r['false_alarm_rate']} "
                                f"> {FREEWAY_MAX_FAR}")
        if r["incidents"] < 1 or r["decisions"] < 100:
            failures.append(f"{road} {w} s: truth has {r['incidents']} incidents and "
                            f"{r['decisions']} decisions")
    for f in failures:
        print(f"tests/sumo/run --check: {f}", file=sys.stderr)
    if not failures:
        print("tests/sumo/run --check: every bound held", file=sys.stderr)
    return 1 if failures else 0
