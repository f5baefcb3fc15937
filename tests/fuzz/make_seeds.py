#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/seed-*: a few
valid inputs of each format (the fuzzer mutates from there) and a few hostile ones found in
the issues (timestamps at the end of time, broken framing). Avro datums are written with
fastavro, from the venv that tests/clients/setup makes (pass its python: 
~/.cache/roadpulse/clients/venv/bin/python tests/fuzz/make_seeds.py [GROUP...]; `poll` writes
the poll presets' seeds only, from tests/fixtures/sources). Existing seeds are
replaced; corpus files the fuzzer added are left alone.
"""
import io
import json
import pathlib
import struct
import sys

import fastavro

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BASE = 1767225600000  # 2026-01-01T00:00:00Z


def write(target, seeds):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("seed-*"):
        old.unlink()
    for i, s in enumerate(seeds):
        (d / f"seed-{i:02}").write_bytes(s if isinstance(s, bytes) else s.encode())


EVENTS = [
    {"type": "probe", "segment_id": "A1-N-012", "ts": BASE, "speed_kph": 87.5, "vehicle_id": "v-77"},
    {"type": "probe", "segment_id": "A1-N-012", "ts": "2026-01-01T00:00:01.250+01:00", "speed_kph": 0},
    {"type": "detector", "segment_id": "M4-E-06", "ts": BASE, "detector_id": "d1", "lane": 2,
     "interval_s": 30, "volume": 12, "occupancy": 0.31, "speed_kph": 54.0},
    {"type": "report", "segment_id": "M4-E-06", "ts": BASE, "report_id": "r-1",
     "category": "accident", "severity": "major", "description": "two lanes blocked"},
    {"type": "probe", "segment_id": "S\u00e9gment \"7\"", "ts": 9223372036854775000, "speed_kph": 400},
    {"type": "probe", "segment_id": "x", "ts": 4102444800000, "speed_kph": 1e-300, "extra": [1, {"a": None}]},
]


def json_seeds():
    seeds = [json.dumps(e) for e in EVENTS]
    seeds += ['{"type":"probe","segment_id":"a","ts":-1,"speed_kph":5}',
              '{"type":"probe","segment_id":"a","ts":1,"ts":2,"speed_kph":5}',
              '{"type":"detector","segment_id":"a","ts":18446744073709551616,"volume":1,"occupancy":1}',
              '{"type":"probe"', "[]", "\"probe\"", '{"segment_id":"\\ud800","type":"probe","ts":0,"speed_kph":1}']
    return seeds


def avro_seeds():
    schemas = [ROOT / "schemas/raw_event.avsc", ROOT / "schemas/released/v1/raw_event.avsc",
               ROOT / "tests/clients/raw_event_v0.avsc"]
    seeds = []
    for mode, path in enumerate(schemas):
        text = path.read_text()
        schema = fastavro.parse_schema(json.loads(text))
        names = {f["name"] for f in json.loads(text)["fields"]}
        for e in EVENTS[:4]:
            rec = {k: v for k, v in e.items() if k in names}
            if isinstance(rec.get("ts"), str):
                rec["ts"] = BASE + 1250
            if "firmware" in names:
                rec["firmware"] = "v0"
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, schema, rec)
            datum = buf.getvalue()
            seeds.append(bytes([mode]) + datum)
            if mode == 0:
                # The framed form a topic with fixed schema id 7 reads.
                seeds.append(bytes([mode, 0]) + struct.pack(">I", 7) + datum)
                # The same datum with its schema carried in the input.
                raw = text.encode()
                seeds.append(bytes([3]) + struct.pack("<H", len(raw)) + raw + datum)
    seeds.append(bytes([0, 0, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0x0f]))
    return seeds


def registry_seeds():
    schema = (ROOT / "schemas/raw_event.avsc").read_text()
    status = lambda s: struct.pack("<H", s - 100)
    return [
        status(200) + json.dumps({"schema": schema}).encode(),
        status(200) + json.dumps({"schema": schema, "schemaType": "AVRO", "id": 1}).encode(),
        status(200) + json.dumps({"schema": "{\"type\":\"string\"}", "schemaType": "JSON"}).encode(),
        status(200) + b'{"id":7}',
        status(404) + b'{"error_code":40403,"message":"Schema 1 not found"}',
        status(401) + b'{"error_code":401,"message":"Unauthorized"}',
        status(409) + b'{"error_code":409,"message":"incompatible"}',
        status(503) + b"<html>down</html>",
    ]


def checkpoint_seeds():
    off = lambda o: struct.pack("<q", o)
    return [
        off(7) + b"rp1;st=1767225600000;pos=12",
        off(0) + b"rp1;st=-;pos=-",
        off(3) + b"rp1;st=9223372036854775000;pos=0",
        off(9223372036854775807) + b"rp1;st=-9223372036854775808;pos=9223372036854775807",
        off(-1) + b"written by someone else",
        off(5) + b"rp1;pos=4;st=1767225600000;st=12;x=y",
    ]


def changelog_seeds():
    return [
        '{"level":"heavy","pending":["severe",1],"speeds":{"buckets":[[200,3],[250,1]],"zero_count":2}}',
        '{"level":null,"pending":null,"speeds":{"buckets":[],"zero_count":0}}',
        '{"level":"free","speeds":{"buckets":[[-5,4294967295],[32767,4294967295]],"zero_count":18446744073709551615}}',
        '{"level":"light","pending":["moderate",4294967295],"speeds":{"buckets":[[100,1]],"zero_count":0}}',
        '{"speeds":{"buckets":[[5,1],[3,1]],"zero_count":0}}',
    ]


def catalog_seeds():
    return [
        "segment_id,free_flow_kph,lanes,length_m,upstream,downstream\n"
        "A1-N-011,120,3,1800,,A1-N-012\nA1-N-012,120,3,1800,A1-N-011,A1-N-013\n"
        "A1-N-013,100,2,900,A1-N-012|B7-S-001,\n",
        "# comment\nfree_flow_kph,segment_id\n50,a\n\n60,b\n",
        "segment_id,free_flow_kph,upstream,downstream\na,50,a,a\nb,50,a|c,a\nc,50,b,b\n",
        "segment_id,free_flow_kph\na,0\nb,-3\nc,NaN\nd,inf\n",
        "segment_id\na\n",
    ]


def config_seeds():
    readme_example = """[kafka]
bootstrap_servers = "broker-1:9092,broker-2:9092"
group_id = "roadpulse"
input_topics = ["traffic.raw"]

[window]
size = "60s"
grace = "30s"
max_future = "1h"

[kafka.properties]
"security.protocol" = "SASL_SSL"
"sasl.password" = "hunter2"
"""
    return [
        readme_example,
        '[window]\nsize = "9223372036854775807ms"\nadvance = "1ms"\ngrace = "9223372036854775807ms"\n',
        '[formats]\ninput = "avro"\n[schema_registry]\nurl = "https://u@r:8081"\npassword = "p"\nusername = "u"\n',
        '[http]\nlisten = "[::1]:0"\n[incidents]\nenabled = false\nlateness = "0s"\n',
        "--set\nwindow.size=2m\nwindow.idle_timeout=0\nkafka.input_topics=a, b\nkafka.properties.linger.ms=5\n",
        "--set\nwindow.max_future=5\n=\n.\nkafka..x=1\n",
    ]


FIXTURES = ROOT / "tests/fixtures/sources"


def fixture(name):
    return (FIXTURES / name).read_bytes()


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(tag, wire, payload):
    """One protobuf field: wire 0 varint (payload an int), 2 bytes, 5 a float."""
    key = varint(tag << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 5:
        return key + struct.pack("<f", payload)
    return key + varint(len(payload)) + payload


def vehicle(vid, ts, lat, lon, speed=None, bearing=None):
    """A GTFS-Realtime FeedEntity with a VehiclePosition (the specification's field numbers)."""
    pos = field(1, 5, lat) + field(2, 5, lon)
    if bearing is not None:
        pos += field(3, 5, bearing)
    if speed is not None:
        pos += field(5, 5, speed)
    vp = field(2, 2, pos) + field(5, 0, ts) + field(8, 2, field(1, 2, vid.encode()))
    return field(2, 2, field(1, 2, vid.encode()) + field(4, 2, vp))


def gtfs_seeds():
    header = field(1, 2, field(1, 2, b"2.0") + field(3, 0, 1767252630))
    return [
        fixture("gtfs_rt_vehicle_positions_1.pb"),
        fixture("gtfs_rt_vehicle_positions_2.pb"),
        # B again, 30 s on, without a speed: derived from the warm-up answer's position.
        header + vehicle("B", 1767252630, 52.37001, 4.8942),
        # Times at the end of u64 and in the distant past, a speed past the contract's range.
        header + vehicle("X", 2**64 - 1, 52.37001, 4.895, 10.0)
        + vehicle("Y", 1, 52.37001, 4.895, 1e30, 400.0),
        fixture("gtfs_rt_vehicle_positions_2.pb")[:-7],
    ]


def poll_seeds():
    """The presets' fixtures (tests/fixtures/sources) and hostile variants of each."""
    tt_open, tt_closed = fixture("tomtom_flow_v4_open.json"), fixture("tomtom_flow_v4_closed.json")
    here_flow, here_inc = fixture("here_flow_v7.json"), fixture("here_incidents_v7.json")
    tt_inc = fixture("tomtom_incidents_v5.json")
    write("poll_tomtom_flow", [
        tt_open, tt_closed, tt_open[:80],
        '{"flowSegmentData":{"currentSpeed":1e308,"freeFlowSpeed":-1,"confidence":2,"openlr":"OLR-OPEN"}}',
        '{"flowSegmentData":{"currentSpeed":0,"roadClosure":true,"openLR":""}}',
    ])
    write("poll_tomtom_incidents", [
        tt_inc, tt_inc[:200],
        '{"incidents":[{"type":"Feature","geometry":{"type":"Point","coordinates":[4.9101,52.381]},'
        '"properties":{"id":"","iconCategory":-9,"magnitudeOfDelay":99,"lastReportTime":"9999-12-31T23:59:59Z"}},'
        '{"geometry":{"coordinates":[[4.9101,52.38],[1e308,-1e308],[]]},"properties":{"id":"z",'
        '"startTime":"1970-01-01T00:00:00+23:59"}}]}',
    ])
    write("poll_here_flow", [
        here_flow, here_flow[:300],
        '{"sourceUpdated":"2026-01-01T07:30:00.123456789Z","results":[{"location":{"olr":"L1"},'
        '"currentFlow":{"speed":1e308,"freeFlow":-3,"jamFactor":11,"confidence":-1}},'
        '{"location":{"description":"d"},"currentFlow":{"traversability":"reversibleNotRoutable"}}]}',
    ])
    write("poll_here_incidents", [
        here_inc, here_inc[:250],
        '{"results":[{"location":{"shape":{"links":[{"points":[{"lat":52.3845,"lng":4.92}]}]}},'
        '"incidentDetails":{"id":"1","originalId":"","type":"weather","criticality":"","entryTime":"2026-01-01T07:40:00+14:00"}}]}',
    ])
    write("poll_gtfs_rt", gtfs_seeds())
    write("poll_json", [
        b"\0" + b'{"items":[{"id":"L1","t":1767252600,"v":25,"q":0.8,"shut":false,"pos":[52.42,4.85],"h":90},'
        b'{"id":"L2","t":1767252600.5,"shut":true},{"id":7,"t":1e300,"v":-1}]}',
        b"\1" + b'[{"site":"RWS01_MONIBAS_0021hrl0403ra","time":"2026-01-01T07:29:00Z","n":12,"occ":0.2,"kph":88},'
        b'{"site":"s2","time":-5,"n":-1}]',
        b"\2" + b'{"vehicles":[{"id":"bus-1","ts":1767252600000,"mps":8,"vid":42,"lat":52.37001,"lon":4.895},'
        b'{"id":"bus-2","ts":9223372036854775807,"mps":1e308}]}',
        b"\3" + b'{"reports":[{"id":"L1","at":"2026-01-01T07:00:00Z","cat":"closure","rid":"r1","sev":"major"},'
        b'{"id":"r2","at":"2026-01-01T07:00:00Z","cat":"meteor","lat":52.38,"lon":4.9101}]}',
    ])


def main(only):
    """Every target's seeds, or only those of the groups named (`poll`: the poll presets)."""
    groups = {
        "json_raw_event": lambda: write("json_raw_event", json_seeds()),
        "avro_raw_event": lambda: write("avro_raw_event", avro_seeds()),
        "registry_response": lambda: write("registry_response", registry_seeds()),
        "checkpoint": lambda: write("checkpoint", checkpoint_seeds()),
        "changelog": lambda: write("changelog", changelog_seeds()),
        "catalog_csv": lambda: write("catalog_csv", catalog_seeds()),
        "config_toml": lambda: write("config_toml", config_seeds()),
        "poll": poll_seeds,
    }
    for name in only or groups:
        groups[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
