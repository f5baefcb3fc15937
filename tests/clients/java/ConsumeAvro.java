// A downstream consumer that is not roadpulse: the Apache Kafka Java client reads a topic with
// isolation.level=read_committed, and Apache Avro decodes every record's Confluent wire format
// with the writer schema from the registry resolved against the repository's schemas/ file.
// Run with the JDK's source launcher: java -cp 'LIB/*' ConsumeAvro.java BOOTSTRAP TOPIC AVSC
// REGISTRY EXPECT TIMEOUT_S OUT. Writes each record as JSON to OUT and prints a JSON summary.

import java.io.File;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ConsumeAvro {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], registry = args[3];
        Schema reader = new Schema.Parser().parse(new File(args[2]));
        int expect = Integer.parseInt(args[4]);
        long deadline = System.currentTimeMillis() + 1000L * Long.parseLong(args[5]);
        ObjectMapper json = new ObjectMapper();
        HttpClient http = HttpClient.newHttpClient();
        Map<Integer, GenericDatumReader<GenericRecord>> readers = new HashMap<>();

        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "java-" + UUID.randomUUID());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        int records = 0, undecodable = 0;
        Set<Integer> ids = new TreeSet<>();
        List<String> errors = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p);
             PrintWriter out = new PrintWriter(args[6], StandardCharsets.UTF_8)) {
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo pi : c.partitionsFor(topic)) parts.add(new TopicPartition(topic, pi.partition()));
            c.assign(parts);
            c.seekToBeginning(parts);
            long last = System.currentTimeMillis();
            while (System.currentTimeMillis() < deadline) {
                if (records >= expect && System.currentTimeMillis() - last > 2000) break;
                for (ConsumerRecord<byte[], byte[]> m : c.poll(Duration.ofMillis(200))) {
                    last = System.currentTimeMillis();
                    records++;
                    try {
                        ByteBuffer b = ByteBuffer.wrap(m.value());
                        if (b.get() != 0) throw new IllegalStateException("magic byte is not 0");
                        int id = b.getInt();
                        ids.add(id);
                        GenericDatumReader<GenericRecord> r = readers.get(id);
                        if (r == null) {
                            HttpRequest req = HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id))
                                .header("Accept", "application/vnd.schemaregistry.v1+json").build();
                            String body = http.send(req, HttpResponse.BodyHandlers.ofString()).body();
                            Schema writer = new Schema.Parser().parse(json.readTree(body).get("schema").asText());
                            r = new GenericDatumReader<>(writer, reader);
                            readers.put(id, r);
                        }
                        BinaryDecoder d = DecoderFactory.get().binaryDecoder(m.value(), 5, m.value().length - 5, null);
                        GenericRecord rec = r.read(null, d);
                        if (!d.isEnd()) throw new IllegalStateException("bytes left after the record");
                        if (!new String(m.key(), StandardCharsets.UTF_8).equals(rec.get("segment_id").toString()))
                            throw new IllegalStateException("key is not the segment");
                        out.println(rec.toString());
                    } catch (Exception e) {
                        undecodable++;
                        if (errors.size() < 5) errors.add(e.toString());
                    }
                }
            }
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("records", records);
        summary.put("undecodable", undecodable);
        summary.put("schema_ids", ids);
        summary.put("errors", errors);
        System.out.println(json.writeValueAsString(summary));
    }
}
