# Sourced by tests/kafka/{up,down,tool}. Not executable on its own.
# shellcheck shell=bash

KAFKA_VERSION=4.3.1
KAFKA_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_CACHE="${RP_KAFKA_CACHE:-${HOME:-/tmp}/.cache/roadpulse/kafka-$KAFKA_VERSION}"
KAFKA_DIR="${RP_KAFKA_DIR:-/tmp/roadpulse-kafka}"
KAFKA_LIB="$KAFKA_CACHE/lib"
KAFKA_LIB_MARKER="$KAFKA_LIB/.complete"

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { printf '[kafka] ERROR: %s\n' "$*" >&2; exit 1; }

# Content hash of the pom: the cached jars are valid only for the pom they came from.
pom_hash() { sha256sum "$KAFKA_HERE/pom.xml" | cut -d' ' -f1; }

lib_ready() { [[ -f "$KAFKA_LIB_MARKER" && "$(cat "$KAFKA_LIB_MARKER")" == "$(pom_hash)" ]]; }

# Fetch the broker's jars from Maven Central once (serialised with a lock so that two
# concurrent `up`s do not download into the same place).
ensure_lib() {
  lib_ready && return 0
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka jars)"
  mkdir -p "$KAFKA_CACHE"
  exec 8>"$KAFKA_CACHE/.lock"
  flock -w 600 8 || die "timed out waiting for the lock on $KAFKA_CACHE/.lock"
  if ! lib_ready; then
    log "fetching Kafka $KAFKA_VERSION jars into $KAFKA_LIB (once)"
    local tmp="$KAFKA_CACHE/lib.tmp.$$"
    rm -rf "$tmp"
    if ! mvn -q -B -f "$KAFKA_HERE/pom.xml" dependency:copy-dependencies \
        -Dstyle.color=never -DoutputDirectory="$tmp" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2; then
      rm -rf "$tmp"
      die "mvn dependency:copy-dependencies failed"
    fi
    [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"
    pom_hash >"$tmp/.complete"
    rm -rf "$KAFKA_LIB"
    mv "$tmp" "$KAFKA_LIB"
  fi
  exec 8>&-
  return 0
}

# True if the process exists and is not a zombie (an unreaped zombie still answers kill -0).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ "$state" != Z && -n "$state" ]]
}

# Prints the pid in $KAFKA_DIR/pid if that process is alive and is our broker.
running_pid() {
  local pid
  [[ -f "$KAFKA_DIR/pid" ]] || return 1
  pid="$(cat "$KAFKA_DIR/pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  # Guard against a recycled pid: it must be a kafka.Kafka running our config.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $KAFKA_DIR/server.properties" || return 1
  echo "$pid"
}
