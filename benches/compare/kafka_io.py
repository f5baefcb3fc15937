"""Kafka side of the benchmark driver: topics, a consumer group's committed progress, and
reading a whole output topic back. Uses confluent-kafka (installed with quixstreams)."""

import json
import subprocess
import threading
import time
import zlib

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
    NUL-terminated, and roadpulse keeps its read position there). With `suffix`, also the
    records of the group's internal topics ending in it that the group has not committed."""

    def __init__(self, watcher: str, bootstrap: str, group: str, topic: str, partitions: int,
                 suffix: str | None = None):
        argv = [watcher, bootstrap, topic, str(partitions), group] + ([suffix] if suffix else [])
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True)
        self.covered = 0
        # -1 while unknown; always 0 without a suffix.
        self.internal_behind = -1 if suffix else 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            parts = line.split()
            if len(parts) >= 2:
                self.covered = int(parts[1])
            if len(parts) == 3:
                self.internal_behind = int(parts[2])

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()


def topic_values(bootstrap: str, topic: str, partitions: int, timeout_s: float = 300):
    """Every committed record's value of `topic` (read_committed), partition by partition."""
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
    deadline = time.monotonic() + timeout_s
    pending = {tp.partition for tp, end in zip(tps, ends) if end > 0}
    try:
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                if msg.error():
                    raise KafkaException(msg.error())
                yield msg.value()
            # Transaction markers take offsets too: compare positions, not record counts.
            positions = consumer.position([TopicPartition(topic, p) for p in pending])
            pending = {tp.partition for tp in positions if tp.offset < ends[tp.partition]}
    finally:
        consumer.close()
    if pending:
        raise TimeoutError(f"{topic}: partitions {sorted(pending)} not read to the end")


def read_topic(bootstrap: str, topic: str, partitions: int) -> list[dict]:
    """Every committed record of `topic`, values decoded as JSON objects."""
    return [json.loads(v) for v in topic_values(bootstrap, topic, partitions)]


def copy_checksum(values) -> dict:
    """Count and order-free checksum (sum of CRC-32s) of record values."""
    count = checksum = 0
    for v in values:
        count += 1
        checksum += zlib.crc32(v)
    return {"records": count, "crc32_sum": checksum}


def partitions_of(bootstrap: str, topic: str) -> int:
    """Number of partitions of `topic`, 0 when it does not exist."""
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    t = meta.topics.get(topic)
    return 0 if t is None or t.error is not None else len(t.partitions)


def topics_like(bootstrap: str, prefix: str, suffix: str) -> list[str]:
    """Names of the existing topics that start with `prefix` and end with `suffix`."""
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return sorted(t for t in meta.topics if t.startswith(prefix) and t.endswith(suffix))
