#!/bin/sh
# The image's default command: the broker, configured like the apache/kafka image. Every
# KAFKA_<NAME> environment variable becomes the broker property <name> (lower case; "_" -> ".",
# "__" -> "_", "___" -> "-"), except the JVM ones (KAFKA_HEAP_OPTS, KAFKA_OPTS, ...).
# CLUSTER_ID formats the log directory on first start. Then runs kafka.Kafka in the foreground.
set -eu
props=/tmp/server.properties
: >"$props"
env | LC_ALL=C sort | while IFS= read -r line; do
  name="${line%%=*}"
  value="${line#*=}"
  case "$name" in
    KAFKA_HOME | KAFKA_VERSION | KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | \
      KAFKA_LOG4J_OPTS | KAFKA_JMX_OPTS | KAFKA_GC_LOG_OPTS) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  key="$(printf '%s' "${name#KAFKA_}" | tr '[:upper:]' '[:lower:]' |
    sed -e 's/___/-/g' -e 's/__/\x01/g' -e 's/_/./g' -e 's/\x01/_/g')"
  printf '%s=%s\n' "$key" "$value" >>"$props"
done
grep -q '^process.roles=' "$props" || { echo "kafka-server-run: set KAFKA_PROCESS_ROLES (KRaft)" >&2; exit 64; }
[ -n "${CLUSTER_ID:-}" ] || { echo "kafka-server-run: set CLUSTER_ID" >&2; exit 64; }

cp="/opt/kafka/libs/*"
log4j="-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties"
# Formats only an empty log directory; a formatted one is left as it is.
# shellcheck disable=SC2086 # the *_OPTS are lists of JVM options
java -Xmx256m -XX:+UseSerialGC "$log4j" -cp "$cp" kafka.tools.StorageTool format \
  --config "$props" --cluster-id "$CLUSTER_ID" --ignore-formatted >&2
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
  -Djava.awt.headless=true "$log4j" ${KAFKA_OPTS:-} -cp "$cp" kafka.Kafka "$props"
