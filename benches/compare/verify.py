"""Is a contender's output right? Its final windows against `roadpulse replay --partitions N`
of the same file: the windows that must have closed by the end of the drain (window end +
grace <= the stream time of the segment's partition), each once, with the same probe count,
time-mean and space-mean probe speed (the fields every contender computes)."""

import json

GRACE_MS = 30_000
# The reference rounds speeds to 2 decimals; contenders may not.
SPEED_TOLERANCE = 0.006


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2 (as src/domain/partition.rs)."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def partition_for(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def load_reference(path: str, stream_time: list[int]) -> dict:
    """(segment, window_start) -> reference window, only windows closed by the drain's end."""
    partitions = len(stream_time)
    closed = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            w = json.loads(line)
            p = partition_for(w["segment_id"], partitions)
            if w["window_end"] + GRACE_MS <= stream_time[p]:
                closed[(w["segment_id"], w["window_start"])] = w
    return closed


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= SPEED_TOLERANCE


def compare(reference: dict, output: list[dict]) -> dict:
    """Counts of missing, extra, duplicate and differing windows, and value checksums."""
    seen = set()
    duplicates = extra = differ = 0
    samples_sum = 0
    mean_sum = 0.0
    for w in output:
        key = (w["segment_id"], w["window_start"])
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        ref = reference.get(key)
        if ref is None:
            extra += 1
            continue
        samples_sum += w["samples"]
        mean_sum += w.get("mean_speed_kph") or 0.0
        harmonic = ref["speed_kph"] if ref.get("speed_source") == "probe" else None
        got_harmonic = w.get("speed_kph") if w["samples"] else None
        if (
            w["samples"] != ref["samples"]
            or not _close(w.get("mean_speed_kph"), ref.get("mean_speed_kph"))
            or not _close(got_harmonic, harmonic)
        ):
            differ += 1
    missing = len(reference.keys() - seen)
    ref_samples = sum(w["samples"] for w in reference.values())
    ref_mean = sum(w.get("mean_speed_kph") or 0.0 for w in reference.values())
    return {
        "ok": missing == 0 and extra == 0 and duplicates == 0 and differ == 0,
        "windows_expected": len(reference),
        "windows_output": len(output),
        "missing": missing,
        "extra": extra,
        "duplicates": duplicates,
        "differ": differ,
        "samples_checksum": samples_sum,
        "samples_checksum_expected": ref_samples,
        "mean_speed_checksum": round(mean_sum, 1),
        "mean_speed_checksum_expected": round(ref_mean, 1),
    }
