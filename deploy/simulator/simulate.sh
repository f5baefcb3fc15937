#!/bin/sh
# roadpulse traffic simulator: live synthetic raw events into Kafka, keyed by segment_id.
#
# `roadpulse generate` writes a deterministic workload as fast as it can, with event times
# start_ms + k/rate; it does not pace itself and writes values only (no keys). So this script
# generates one chunk of SIM_CHUNK_SECONDS of event time at a time, stamped with the current
# wall clock, sleeps until the chunk's time is up, and repeats. `sed` prefixes every line with
# its segment_id and a TAB, and kafka-console-producer.sh (parse.key=true) sends the key
# separately, so Kafka's default partitioner (murmur2 on the key, the same rule
# `roadpulse replay --partitions` uses) keeps every segment on one partition: roadpulse's
# per-segment windows need that.
#
# Runs in the `simulator` image (deploy/Dockerfile), which has both `roadpulse` and the Kafka
# CLI tools. Environment:
#   SIM_BOOTSTRAP      kafka:9092     brokers
#   SIM_TOPIC          traffic.raw    topic to write
#   SIM_RATE           2000           events per second (integer)
#   SIM_SEGMENTS       200            road segments (deploy/compose/catalog.csv lists 200)
#   SIM_POISON         0.001          share of poison records (they end up in traffic.dlq)
#   SIM_CHUNK_SECONDS  1              event time generated per step
#   SIM_EVENTS         0              stop after about this many events (0: run forever)
#   KAFKA_HOME         /opt/kafka     where bin/kafka-console-producer.sh lives
set -eu

bootstrap="${SIM_BOOTSTRAP:-kafka:9092}"
topic="${SIM_TOPIC:-traffic.raw}"
rate="${SIM_RATE:-2000}"
segments="${SIM_SEGMENTS:-200}"
poison="${SIM_POISON:-0.001}"
chunk_s="${SIM_CHUNK_SECONDS:-1}"
limit="${SIM_EVENTS:-0}"
kafka_home="${KAFKA_HOME:-/opt/kafka}"

case "$rate$chunk_s$limit" in
  *[!0-9]*) echo "simulate: SIM_RATE, SIM_CHUNK_SECONDS and SIM_EVENTS must be whole numbers" >&2; exit 64 ;;
esac
if [ "$rate" -eq 0 ] || [ "$chunk_s" -eq 0 ]; then
  echo "simulate: SIM_RATE and SIM_CHUNK_SECONDS must be > 0" >&2
  exit 64
fi

now_ms() { date +%s%3N; }

# One chunk after another, each stamped with the wall clock it is meant for.
generate() {
  chunk_events=$((rate * chunk_s))
  next_ms=$(now_ms)
  seed=1
  sent=0
  while [ "$limit" -eq 0 ] || [ "$sent" -lt "$limit" ]; do
    roadpulse generate --events "$chunk_events" --segments "$segments" --rate "$rate" \
      --poison "$poison" --seed "$seed" --start-ms "$next_ms" --output -
    sent=$((sent + chunk_events))
    seed=$((seed + 1))
    next_ms=$((next_ms + chunk_s * 1000))
    wait_ms=$((next_ms - $(now_ms)))
    # Behind schedule (slow producer, paused container): carry on without sleeping.
    if [ "$wait_ms" -gt 0 ]; then
      sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
    fi
  done
}

# "<segment_id>\t<json>"; lines without a segment_id (some poison records) get the key "unknown"
# so the console producer never meets a line without a separator. LC_ALL=C: poison records may
# hold bytes that are not UTF-8.
key_lines() {
  LC_ALL=C sed -u -e 's/^\(.*"segment_id":"\([^"]*\)".*\)$/\2\t\1/' -e t -e 's/^/unknown\t/'
}

tab="$(printf '\t')"
echo "simulate: ${rate} events/s over ${segments} segments into ${topic} at ${bootstrap} (poison share ${poison})" >&2
generate | key_lines | "$kafka_home/bin/kafka-console-producer.sh" \
  --bootstrap-server "$bootstrap" --topic "$topic" \
  --property parse.key=true --property "key.separator=$tab" \
  --producer-property acks=all --producer-property linger.ms=20
