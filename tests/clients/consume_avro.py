"""A downstream consumer that is not roadpulse: confluent-kafka (librdkafka) reads a topic
with isolation.level=read_committed, and fastavro decodes every record's Confluent wire format
with the writer schema from the registry resolved against the repository's schemas/ file.

Writes each decoded record as one JSON line to --out and prints a JSON summary:
{"records": N, "undecodable": K, "schema_ids": [...], "errors": [...]}.
"""
import argparse
import datetime
import io
import json
import struct
import time
import urllib.request
import uuid

import fastavro
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

MEDIA = "application/vnd.schemaregistry.v1+json"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(v):
    if isinstance(v, datetime.datetime):
        return (v - EPOCH) // datetime.timedelta(milliseconds=1)
    return v


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--schema", required=True, help="reader schema (.avsc)")
    p.add_argument("--registry", help="registry URL (writer schemas by id)")
    p.add_argument("--writer", help="without a registry: the writer schema (.avsc) of --id")
    p.add_argument("--id", type=int, help="without a registry: the schema id every record carries")
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--out", required=True)
    a = p.parse_args()

    with open(a.schema) as f:
        reader = fastavro.parse_schema(json.load(f))
    writers = {}

    def writer(schema_id):
        if a.registry is None:
            assert schema_id == a.id, f"schema id {schema_id}, expected {a.id}"
            with open(a.writer) as f:
                return fastavro.parse_schema(json.load(f))
        if schema_id not in writers:
            req = urllib.request.Request(f"{a.registry}/schemas/ids/{schema_id}", headers={"Accept": MEDIA})
            with urllib.request.urlopen(req, timeout=10) as r:
                writers[schema_id] = fastavro.parse_schema(json.loads(json.load(r)["schema"]))
        return writers[schema_id]

    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": f"py-{uuid.uuid4()}",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    parts = c.list_topics(a.topic, timeout=10).topics[a.topic].partitions
    c.assign([TopicPartition(a.topic, p, OFFSET_BEGINNING) for p in parts])
    records, undecodable, errors, ids = 0, 0, [], set()
    deadline = time.monotonic() + a.timeout
    last = time.monotonic()
    with open(a.out, "w") as out:
        while time.monotonic() < deadline:
            if records >= a.expect and time.monotonic() - last > 2:
                break
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            last = time.monotonic()
            records += 1
            v = m.value()
            try:
                magic, schema_id = struct.unpack(">bI", v[:5])
                assert magic == 0, f"magic byte {magic}"
                ids.add(schema_id)
                buf = io.BytesIO(v[5:])
                rec = fastavro.schemaless_reader(buf, writer(schema_id), reader)
                assert buf.tell() == len(v) - 5, "bytes left after the record"
                assert m.key().decode() == rec["segment_id"], "key is the segment"
                out.write(json.dumps({k: plain(x) for k, x in rec.items()}) + "\n")
            except Exception as e:  # counted and reported, never hidden
                undecodable += 1
                errors.append(repr(e)[:200])
    c.close()
    print(json.dumps({"records": records, "undecodable": undecodable,
                      "schema_ids": sorted(ids), "errors": errors[:5]}))


if __name__ == "__main__":
    main()
