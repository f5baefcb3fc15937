#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/seed-*: a few
valid inputs of each format (the fuzzer mutates from there) and a few hostile ones found in
the issues (timestamps at the end of time, broken framing). Avro datums are written with
fastavro, from the venv that tests/clients/setup makes (pass its python: 
~/.cache/roadpulse/clients/venv/bin/python tests/fuzz/make_seeds.py). Existing seeds are
replaced; corpus files the fuzzer added are left alone.
"""
import io
import json
import pathlib
import struct

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


def main():
    write("json_raw_event", json_seeds())
    write("avro_raw_event", avro_seeds())
    write("registry_response", registry_seeds())
    write("checkpoint", checkpoint_seeds())
    write("changelog", changelog_seeds())
    write("catalog_csv", catalog_seeds())
    write("config_toml", config_seeds())


if __name__ == "__main__":
    main()
