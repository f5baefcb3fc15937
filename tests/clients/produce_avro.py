"""A producer that is not roadpulse: registers a raw-event writer schema (possibly an older or
newer version than the repository's) under <topic>-value in the registry, then writes every
JSON line of --input as Avro in the Confluent wire format with fastavro and confluent-kafka,
keyed by segment_id with the Java-compatible partitioner. --garbage N adds N records no reader
can decode (for the dead-letter path). Prints {"id": N, "records": M}.
"""
import argparse
import io
import json
import struct
import urllib.request

import fastavro
from confluent_kafka import Producer

MEDIA = "application/vnd.schemaregistry.v1+json"


def register(registry, subject, schema_text):
    body = json.dumps({"schema": schema_text}).encode()
    req = urllib.request.Request(f"{registry}/subjects/{subject}/versions", data=body, method="POST",
                                 headers={"Content-Type": MEDIA, "Accept": MEDIA})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["id"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--registry", help="registry URL (else --id)")
    p.add_argument("--id", type=int, help="without a registry: the schema id to write")
    p.add_argument("--schema", required=True, help="writer schema (.avsc)")
    p.add_argument("--input", required=True, help="JSONL raw events")
    p.add_argument("--garbage", type=int, default=0)
    a = p.parse_args()

    with open(a.schema) as f:
        text = f.read()
    schema = fastavro.parse_schema(json.loads(text))
    schema_id = register(a.registry, f"{a.topic}-value", text) if a.registry else a.id
    prod = Producer({"bootstrap.servers": a.bootstrap, "partitioner": "murmur2_random",
                     "enable.idempotence": True, "linger.ms": 10})
    header = struct.pack(">bI", 0, schema_id)
    n = 0
    with open(a.input) as f:
        for line in f:
            event = json.loads(line)
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, schema, event)
            prod.produce(a.topic, key=event["segment_id"].encode(), value=header + buf.getvalue())
            prod.poll(0)
            n += 1
    bad = [b"not avro", struct.pack(">bI", 0, 999_999) + b"\x02", header + b"\x04\x80"]
    for i in range(a.garbage):
        prod.produce(a.topic, key=b"garbage", value=bad[i % len(bad)])
    assert prod.flush(60) == 0, "all records acknowledged"
    print(json.dumps({"id": schema_id, "records": n}))


if __name__ == "__main__":
    main()
