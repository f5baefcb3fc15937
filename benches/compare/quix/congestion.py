"""The Quix Streams contender of benches/compare: roadpulse's congestion windows written the
way a Quix Streams user would. Raw JSON events keyed by segment id, 1-minute tumbling windows
with 30 s grace on the record timestamp (the loader sets it to the event's ts), one final
result per (segment, window): probe count, time-mean and space-mean (harmonic) probe speed,
detector readings.

Usage: congestion.py BOOTSTRAP INPUT OUTPUT GROUP GUARANTEE STATE_DIR
GUARANTEE is exactly-once or at-least-once. Prints FIRST_RECORD_MS=epoch-ms when the first
record reaches the window; runs until SIGTERM.
"""

import sys
import time

from quixstreams import Application

_first_seen = False


def _mark_first() -> None:
    global _first_seen
    if not _first_seen:
        _first_seen = True
        print(f"FIRST_RECORD_MS={int(time.time() * 1000)}", flush=True)


def _add(agg: list, event: dict) -> list:
    """Window state: [probes, readings, standstill, sum speed, sum 1/speed]."""
    kind = event.get("type")
    if kind == "probe":
        speed = event.get("speed_kph")
        if isinstance(speed, (int, float)) and 0 <= speed <= 400:
            agg[0] += 1
            agg[3] += speed
            if speed == 0:
                agg[2] += 1
            else:
                agg[4] += 1.0 / speed
    elif kind == "detector":
        agg[1] += 1
    return agg


def initializer(event: dict) -> list:
    _mark_first()
    return _add([0, 0, 0, 0.0, 0.0], event)


def reducer(agg: list, event: dict) -> list:
    return _add(agg, event)


def to_output(window: dict, key, _timestamp, _headers) -> dict:
    probes, readings, standstill, total, inverse = window["value"]
    out = {
        "segment_id": key,
        "window_start": window["start"],
        "window_end": window["end"],
        "samples": probes,
        "readings": readings,
    }
    if probes:
        out["mean_speed_kph"] = total / probes
        out["speed_kph"] = 0.0 if standstill else probes / inverse
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap, input_topic, output_topic, group, guarantee, state_dir = argv[1:]
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        # One commit interval for every contender of the benchmark.
        commit_interval=0.1,
        processing_guarantee=guarantee,
        state_dir=state_dir,
        loglevel="WARNING",
    )
    raw = app.topic(input_topic, key_deserializer="str", value_deserializer="json")
    congestion = app.topic(output_topic, key_serializer="str", value_serializer="json")
    sdf = app.dataframe(raw)
    sdf = sdf.tumbling_window(duration_ms=60_000, grace_ms=30_000)
    # Close windows by the partition's stream time, as Kafka Streams and roadpulse do (Quix
    # closes per key by default: a quiet segment's last window would wait for its next record).
    sdf = sdf.reduce(reducer=reducer, initializer=initializer).final(closing_strategy="partition")
    # Incident reports advance stream time but open no congestion window.
    sdf = sdf.filter(lambda w: w["value"][0] + w["value"][1] > 0)
    sdf = sdf.apply(to_output, metadata=True)
    sdf.to_topic(congestion)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
