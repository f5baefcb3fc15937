package io.roadpulse.bench;

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.WindowStore;

/**
 * roadpulse's congestion windows written the way a Kafka Streams user would: raw JSON events
 * keyed by segment id, 1-minute tumbling event-time windows with 30 s grace, one final result
 * per (segment, window) through suppress(untilWindowCloses). Event time is the record
 * timestamp (the benchmark's loader sets it to the event's ts).
 *
 * <p>Usage: CongestionApp BOOTSTRAP INPUT OUTPUT APPLICATION_ID GUARANTEE STATE_DIR [THREADS]
 * with GUARANTEE exactly_once_v2 or at_least_once. Prints FIRST_RECORD_MS=epoch-ms when the
 * first input record reaches the topology; runs until SIGTERM.
 */
public final class CongestionApp {
    private static final AtomicBoolean SEEN_FIRST = new AtomicBoolean();

    private CongestionApp() {}

    public static void main(String[] args) throws InterruptedException {
        if (args.length < 6) {
            System.err.println(
                    "usage: CongestionApp BOOTSTRAP INPUT OUTPUT APPLICATION_ID GUARANTEE STATE_DIR [THREADS]");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[3]);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args[4]);
        props.put(StreamsConfig.STATE_DIR_CONFIG, args[5]);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, args.length > 6 ? args[6] : "1");
        // One commit interval for every contender of the benchmark (roadpulse's default, and
        // Kafka Streams' own default under exactly_once_v2).
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        KafkaStreams streams = new KafkaStreams(topology(args[1], args[2]), props);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(20));
            stopped.countDown();
        }));
        streams.setUncaughtExceptionHandler(e -> {
            e.printStackTrace();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
                    .StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.start();
        stopped.await();
    }

    static Topology topology(String input, String output) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
                .peek((key, value) -> markFirstRecord())
                .groupByKey(Grouped.with(Serdes.String(), Serdes.ByteArray()))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(1), Duration.ofSeconds(30)))
                .aggregate(
                        Agg::new,
                        (segment, value, agg) -> agg.add(value),
                        Materialized.<String, Agg, WindowStore<Bytes, byte[]>>as("congestion-agg")
                                .withKeySerde(Serdes.String())
                                .withValueSerde(new Agg.AggSerde()))
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
                .toStream()
                // Incident reports advance stream time but open no congestion window.
                .filter((window, agg) -> agg.probes + agg.readings > 0)
                .map((window, agg) -> KeyValue.pair(window.key(),
                        agg.toJson(window.key(), window.window().start(), window.window().end())))
                .to(output, Produced.with(Serdes.String(), Serdes.String()));
        return builder.build();
    }

    private static void markFirstRecord() {
        if (!SEEN_FIRST.get() && SEEN_FIRST.compareAndSet(false, true)) {
            System.out.println("FIRST_RECORD_MS=" + System.currentTimeMillis());
            System.out.flush();
        }
    }
}
