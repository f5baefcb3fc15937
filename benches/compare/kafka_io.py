"""Kafka side of the benchmark driver: topics, a consumer group's committed progress, and
reading a whole output topic back. Uses confluent-kafka (installed with quixstreams)."""

import json
import subprocess
import threading
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Creates a topic and waits until it exists; an existing one is an error."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1)])
    futures[name].result(timeout=30)


class GroupProgress:
    """Records covered by a consumer group's committed state, from the group_progress bench
    program (Rust: confluent-kafka's Python binding misreads commit metadata that is not
    NUL-terminated, and roadpulse keeps its read position there)."""

    def __init__(self, watcher: str, bootstrap: str, group: str, topic: str, partitions: int):
        self._proc = subprocess.Popen(
            [watcher, bootstrap, topic, str(partitions), group],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.covered = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                self.covered = int(parts[1])

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()


def read_topic(bootstrap: str, topic: str, partitions: int, timeout_s: float = 120) -> list[dict]:
    """Every committed record of `topic` (read_committed), values decoded as JSON objects."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{topic}-{time.time_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": False,
        }
    )
    tps = [TopicPartition(topic, p, 0) for p in range(partitions)]
    ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
    consumer.assign(tps)
    records = []
    deadline = time.monotonic() + timeout_s
    pending = {tp.partition for tp, end in zip(tps, ends) if end > 0}
    while pending and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=10_000, timeout=0.5):
            if msg.error():
                raise KafkaException(msg.error())
            records.append(json.loads(msg.value()))
        # Transaction markers take offsets too: compare positions, not record counts.
        positions = consumer.position([TopicPartition(topic, p) for p in pending])
        pending = {tp.partition for tp in positions if tp.offset < ends[tp.partition]}
    consumer.close()
    if pending:
        raise TimeoutError(f"{topic}: partitions {sorted(pending)} not read to the end")
    return records
