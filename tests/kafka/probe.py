#!/usr/bin/env python3
"""Readiness probe for tests/kafka/up: one real Kafka request, no JVM.

Sends a MetadataRequest v4 (the oldest version Kafka 4.x still serves) to HOST:PORT and
succeeds (exit 0) only if the answer lists at least one live broker, i.e. the broker is
registered with the controller, unfenced and serving clients. Prints the reason on
failure (exit 1). Standard library only.

usage: probe.py HOST:PORT [TIMEOUT_SECONDS]
"""
import socket
import struct
import sys

API_METADATA = 3
VERSION = 4
CORRELATION_ID = 0x524F4144  # "ROAD"
CLIENT_ID = b"roadpulse-probe"


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    # Request header v1: api_key, api_version, correlation_id, client_id (string).
    header = struct.pack(">hhih", API_METADATA, VERSION, CORRELATION_ID, len(CLIENT_ID)) + CLIENT_ID
    # Body v4: topics = null (all topics), allow_auto_topic_creation = false.
    body = struct.pack(">i?", -1, False)
    request = header + body
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", read_exact(sock, 4))
        resp = read_exact(sock, size)
    # Response header v0: correlation_id. Body v4: throttle_time_ms, brokers[...].
    corr, _throttle, n_brokers = struct.unpack_from(">iii", resp, 0)
    if corr != CORRELATION_ID:
        print(f"unexpected correlation id {corr}")
        return 1
    if n_brokers < 1:
        print("broker answered but lists no live broker yet")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - any failure just means "not ready"
        print(f"{type(e).__name__}: {e}")
        sys.exit(1)
