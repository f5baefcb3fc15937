#!/bin/sh
# kafka-run-class.sh CLASS [ARGS...]: a Kafka tool class on the broker's classpath, logging
# warnings and errors to stderr (like Kafka's own script, without its many knobs).
# shellcheck disable=SC2086 # KAFKA_OPTS and KAFKA_HEAP_OPTS are lists of JVM options
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.properties \
  ${KAFKA_OPTS:-} -cp "/opt/kafka/libs/*" "$@"
