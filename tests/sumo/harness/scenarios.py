"""The SUMO scenario library: every scenario, its class, and whether it belongs to the tuning
set or the test set.

The split was fixed before any detector was tuned on these scenarios, and it must not move:
thresholds may be tuned on the `tuning` scenarios only, and the `test` scenarios are run to
report, never to tune. Each class has scenarios on both sides, with different seeds, segments,
times, demand and severities, so a rule tuned on one side meets traffic it has not seen.

Everything is deterministic: SUMO runs with the scenario's seed (day d of a scenario uses
seed + d), so a scenario regenerates bit for bit from this file.
"""

from dataclasses import dataclass, field

from .network import Road

CLASSES = [
    "no_history",
    "sparse_detectors",
    "probes_only",
    "closure",
    "minor_incident",
    "recurrent_no_incident",
    "rush_hour_incident",
    "arterial_signals",
]

FREEWAY = Road("freeway", "F", [800, 650, 900, 700, 1000, 750, 600, 850, 700, 950], 3, 100)
# The same freeway with a lane drop (3 -> 2 lanes) from segment 9: a recurrent bottleneck.
FREEWAY_DROP = Road("freeway", "F", FREEWAY.lengths_m, 3, 100, lane_drop=(9, 2))
ARTERIAL = Road(
    "arterial", "A", [550, 620, 700, 500, 650, 580, 680, 520], 2, 50,
    cycle_s=90, green_s=50, offsets_s=[0, 20, 45, 10, 60, 30, 75, 5],
)


@dataclass
class Incident:
    """Vehicles stopped at `pos` (share of the segment's length) on the given lanes (0 = the
    rightmost), from `at` for `duration_s`: a crash, a breakdown, or with every lane a full
    closure. `day` counts from 1 (default: the scenario's last day)."""

    segment: int
    at: str
    duration_s: int
    lanes: list
    kind: str = "accident"
    pos: float = 0.6
    day: int = 0


@dataclass
class Scenario:
    name: str
    cls: str
    split: str
    seed: int
    road: Road
    begin: str
    end: str
    # Demand entering the road: (time of day, veh/h) points, linear in between.
    demand: list
    detectors: str = "all"  # all | every_other | none
    penetration: float = 0.03
    ping_s: int = 10
    incidents: list = field(default_factory=list)
    days: int = 1
    # Arterials: vehicles per hour on each cross street.
    cross_vph: int = 250
    warmup_s: int = 900


def _crash(segment, at, minutes, lanes, **kw):
    return Incident(segment, at, minutes * 60, lanes, **kw)


SCENARIOS = [
    # ---- tuning set ---------------------------------------------------------------------
    Scenario("t_nohist_crash", "no_history", "tuning", 1101, FREEWAY, "11:00", "12:45",
             [("10:00", 3000), ("13:00", 3100)],
             incidents=[_crash(6, "11:40:00", 20, [0, 1])]),
    Scenario("t_sparse_crash", "sparse_detectors", "tuning", 1201, FREEWAY, "14:00", "15:30",
             [("13:00", 3300), ("16:00", 3400)], detectors="every_other", penetration=0.015,
             incidents=[_crash(5, "14:20:00", 15, [1, 2])]),
    Scenario("t_probes_3pct", "probes_only", "tuning", 1301, FREEWAY, "10:00", "11:30",
             [("09:00", 3200), ("12:00", 3000)], detectors="none", penetration=0.03,
             incidents=[_crash(7, "10:25:00", 20, [0, 1])]),
    Scenario("t_night_closure", "closure", "tuning", 1401, FREEWAY, "01:00", "02:45",
             [("00:00", 700), ("03:00", 500)],
             incidents=[_crash(6, "01:35:00", 15, [0, 1, 2], kind="closure")]),
    Scenario("t_minor", "minor_incident", "tuning", 1501, FREEWAY, "15:00", "16:45",
             [("14:00", 3500), ("17:00", 3600)],
             incidents=[_crash(6, "15:30:00", 25, [2], kind="breakdown")]),
    Scenario("t_recurrent", "recurrent_no_incident", "tuning", 1601, FREEWAY_DROP, "06:00",
             "09:00", [("05:45", 1800), ("07:00", 4300), ("08:00", 4100), ("09:00", 2500)],
             days=3),
    Scenario("t_rush_crash", "rush_hour_incident", "tuning", 1701, FREEWAY_DROP, "06:00",
             "09:00", [("05:45", 1800), ("07:00", 4200), ("08:00", 4000), ("09:00", 2500)],
             days=3, incidents=[_crash(5, "06:55:00", 20, [0, 1])]),
    Scenario("t_arterial_crash", "arterial_signals", "tuning", 1801, ARTERIAL, "07:30", "09:00",
             [("07:15", 800), ("08:00", 1000), ("09:00", 900)],
             incidents=[_crash(4, "08:05:00", 20, [1])]),
    Scenario("t_arterial_peak", "arterial_signals", "tuning", 1802, ARTERIAL, "16:00", "18:00",
             [("15:45", 700), ("17:00", 1500), ("18:00", 900)]),
    # ---- test set: never tune on these -------------------------------------------------
    Scenario("s_nohist_crash", "no_history", "test", 2101, FREEWAY, "12:00", "13:45",
             [("11:00", 2600), ("14:00", 2800)],
             incidents=[_crash(4, "12:30:00", 30, [1, 2])]),
    Scenario("s_sparse_crash", "sparse_detectors", "test", 2201, FREEWAY, "09:30", "11:00",
             [("09:00", 3500), ("11:00", 3200)], detectors="every_other", penetration=0.015,
             incidents=[_crash(8, "09:55:00", 20, [0, 1])]),
    Scenario("s_probes_1pct", "probes_only", "test", 2301, FREEWAY, "13:00", "14:45",
             [("12:00", 3100), ("15:00", 3300)], detectors="none", penetration=0.01,
             incidents=[_crash(3, "13:25:00", 25, [0, 1])]),
    Scenario("s_probes_2pct", "probes_only", "test", 2302, FREEWAY, "19:00", "20:30",
             [("18:00", 2900), ("21:00", 2000)], detectors="none", penetration=0.02,
             incidents=[_crash(6, "19:20:00", 15, [1, 2])]),
    Scenario("s_night_closure", "closure", "test", 2401, FREEWAY, "02:00", "03:45",
             [("01:00", 500), ("04:00", 600)],
             incidents=[_crash(3, "02:25:00", 20, [0, 1, 2], kind="closure")]),
    Scenario("s_day_closure", "closure", "test", 2402, FREEWAY, "10:30", "12:00",
             [("10:00", 2800), ("12:00", 3000)],
             incidents=[_crash(7, "10:50:00", 20, [0, 1, 2], kind="closure")]),
    Scenario("s_minor", "minor_incident", "test", 2501, FREEWAY, "16:00", "17:45",
             [("15:00", 3400), ("18:00", 3500)],
             incidents=[_crash(5, "16:25:00", 30, [0], kind="breakdown")]),
    Scenario("s_recurrent", "recurrent_no_incident", "test", 2601, FREEWAY_DROP, "06:00",
             "09:00", [("05:45", 2000), ("07:10", 4400), ("08:10", 4000), ("09:00", 2300)],
             days=3),
    Scenario("s_rush_crash", "rush_hour_incident", "test", 2701, FREEWAY_DROP, "06:00",
             "09:00", [("05:45", 2000), ("07:10", 4300), ("08:10", 4000), ("09:00", 2300)],
             days=3, incidents=[_crash(7, "07:25:00", 15, [1, 2])]),
    Scenario("s_arterial_crash", "arterial_signals", "test", 2801, ARTERIAL, "08:00", "09:30",
             [("07:45", 900), ("08:30", 1100), ("09:30", 800)],
             incidents=[_crash(6, "08:30:00", 25, [0])]),
    Scenario("s_arterial_peak", "arterial_signals", "test", 2802, ARTERIAL, "16:30", "18:30",
             [("16:15", 800), ("17:30", 1600), ("18:30", 1000)]),
]

# The small deterministic subset CI runs (one of each road class, tuning set only).
CI = ["t_arterial_crash", "t_nohist_crash"]


def by_name(name):
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario named {name!r}")


def hms(text):
    """`HH:MM` or `HH:MM:SS` as seconds of the day."""
    parts = [int(p) for p in text.split(":")]
    parts += [0] * (3 - len(parts))
    return parts[0] * 3600 + parts[1] * 60 + parts[2]
