# Sourced by tests/kafka/{up,down,restart,tool}. Not executable on its own.
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

# Java 17+ and python3 (ports, cluster id, readiness probe) are needed to run a broker.
check_runtime() {
  command -v java >/dev/null || die "java not found (Java 17+ needed)"
  local java_major
  java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "${java_major%%.*}" -ge 17 ]] 2>/dev/null || die "Kafka 4 needs Java 17+, found java.specification.version=$java_major"
  command -v python3 >/dev/null || die "python3 not found (used to pick ports and probe the broker)"
}

# Logs shown by fail(), relative to $KAFKA_DIR/logs (restart drops format.log: it is stale there).
dump_files=(stdout.log server.log format.log)
dump_logs() {
  local f
  for f in "${dump_files[@]/#/$KAFKA_DIR/logs/}"; do
    [[ -s "$f" ]] || continue
    printf '[kafka] ----- last 50 lines of %s -----\n' "$f" >&2
    tail -n 50 "$f" >&2
  done
}
# Report, show the broker's last log lines, stop the broker (data is kept) and exit 1.
fail() {
  printf '[kafka] ERROR: %s\n' "$*" >&2
  dump_logs
  "$KAFKA_HERE/down" >&2 || true
  exit 1
}

# start_broker BOOTSTRAP: start kafka.Kafka on the existing (formatted) $KAFKA_DIR with
# $KAFKA_DIR/server.properties, then wait until probe.py gets a live broker from BOOTSTRAP,
# at most RP_KAFKA_START_TIMEOUT seconds (default 90). Sets broker_pid. On failure: fail().
# Used by `up` (fresh state) and `restart` (same ports, same data).
start_broker() {
  local bootstrap="$1"
  local start_timeout="${RP_KAFKA_START_TIMEOUT:-90}"
  local heap_opts="${RP_KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
  local jvm_opts="${RP_KAFKA_JVM_OPTS:-}"
  local -a java_opts
  # shellcheck disable=SC2206 # word splitting of the option strings is intended
  java_opts=($heap_opts -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties" "-Dkafka.logs.dir=$KAFKA_DIR/logs"
    $jvm_opts)

  # A stale pid file would be taken for the new broker's pid below.
  rm -f "$KAFKA_DIR/pid"
  # setsid: the broker outlives this script and is not hit by the caller's Ctrl-C.
  # The inner shell records its own pid and then execs java, so the pid file holds java's
  # pid whether or not setsid forks. stdout/stderr go to a file (appended, so a restart
  # keeps the previous run's JVM output) so that $(tests/kafka/up) returns as soon as the
  # script exits. fd 8/9 (the cache and state-dir locks) are not passed on to the broker.
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_DIR/pid" \
    java "${java_opts[@]}" -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    </dev/null >>"$KAFKA_DIR/logs/stdout.log" 2>&1 8>&- 9>&- &

  local pid _
  for _ in $(seq 100); do [[ -s "$KAFKA_DIR/pid" ]] && break; sleep 0.05; done
  pid="$(cat "$KAFKA_DIR/pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || fail "broker did not record its pid"

  local deadline=$((SECONDS + start_timeout)) why=""
  while :; do
    alive "$pid" || fail "broker process $pid exited during startup"
    if why="$(python3 "$KAFKA_HERE/probe.py" "$bootstrap" 3)"; then
      break
    fi
    ((SECONDS < deadline)) || fail "broker not serving on $bootstrap after ${start_timeout}s (last probe: $why)"
    sleep 0.5
  done
  # shellcheck disable=SC2034 # read by the sourcing script
  broker_pid="$pid"
}
