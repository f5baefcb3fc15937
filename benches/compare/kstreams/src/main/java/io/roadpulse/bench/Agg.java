package io.roadpulse.bench;

import java.io.IOException;
import java.nio.ByteBuffer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Window state of one segment: probe count, sum and sum of inverses of probe speeds (time-mean
 * and space-mean), probes at standstill (they make the harmonic mean 0), detector readings.
 */
final class Agg {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BYTES = 3 * Long.BYTES + 2 * Double.BYTES;

    long probes;
    long readings;
    long standstill;
    double sumSpeed;
    double sumInverseSpeed;

    /** Adds one raw JSON event; records that are not valid probes or detector readings add nothing. */
    Agg add(byte[] value) {
        JsonNode event;
        try {
            event = JSON.readTree(value);
        } catch (IOException e) {
            return this;
        }
        if (event == null) {
            return this;
        }
        String type = event.path("type").asText("");
        if (type.equals("probe")) {
            JsonNode speed = event.get("speed_kph");
            if (speed == null || !speed.isNumber()) {
                return this;
            }
            double v = speed.asDouble();
            if (v < 0 || v > 400) {
                return this;
            }
            probes++;
            sumSpeed += v;
            if (v == 0) {
                standstill++;
            } else {
                sumInverseSpeed += 1.0 / v;
            }
        } else if (type.equals("detector")) {
            readings++;
        }
        return this;
    }

    String toJson(String segment, long start, long end) {
        StringBuilder out = new StringBuilder(160);
        out.append("{\"segment_id\":\"").append(segment)
                .append("\",\"window_start\":").append(start)
                .append(",\"window_end\":").append(end)
                .append(",\"samples\":").append(probes)
                .append(",\"readings\":").append(readings);
        if (probes > 0) {
            double harmonic = standstill > 0 ? 0.0 : probes / sumInverseSpeed;
            out.append(",\"mean_speed_kph\":").append(sumSpeed / probes)
                    .append(",\"speed_kph\":").append(harmonic);
        }
        return out.append('}').toString();
    }

    static final class AggSerde implements Serde<Agg> {
        @Override
        public Serializer<Agg> serializer() {
            return (topic, agg) -> ByteBuffer.allocate(BYTES)
                    .putLong(agg.probes).putLong(agg.readings).putLong(agg.standstill)
                    .putDouble(agg.sumSpeed).putDouble(agg.sumInverseSpeed).array();
        }

        @Override
        public Deserializer<Agg> deserializer() {
            return (topic, bytes) -> {
                if (bytes == null) {
                    return null;
                }
                ByteBuffer b = ByteBuffer.wrap(bytes);
                Agg agg = new Agg();
                agg.probes = b.getLong();
                agg.readings = b.getLong();
                agg.standstill = b.getLong();
                agg.sumSpeed = b.getDouble();
                agg.sumInverseSpeed = b.getDouble();
                return agg;
            };
        }
    }
}
