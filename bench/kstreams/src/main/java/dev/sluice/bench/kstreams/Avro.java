package dev.sluice.bench.kstreams;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DatumReader;
import org.apache.avro.io.DatumWriter;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A hand-written Avro serde for the schema registry wire format (byte 0, the schema id as 4 bytes big-endian, the
 * Avro binary encoding), around Apache Avro's GenericDatumReader / GenericDatumWriter, which Confluent's
 * KafkaAvroSerde uses inside too (that one is not on Maven Central). It speaks the Confluent-compatible REST API
 * (Apicurio's /apis/ccompat/v6 or a Confluent Schema Registry) with java.net.http:
 *
 * <ul>
 *   <li>deserializer: checks the magic byte, reads the id, fetches the writer schema once per id
 *       ({@code GET /schemas/ids/{id}}) and decodes the value as a GenericRecord of that schema (no reader schema:
 *       the fields are the writer's, strings are {@link org.apache.avro.util.Utf8});</li>
 *   <li>serializer: registers its one schema under {@code <topic>-value} on the first record of a topic
 *       ({@code POST /subjects/{subject}/versions}, as Confluent's {@code auto.register.schemas=true}) and frames
 *       each record with the returned id.</li>
 * </ul>
 *
 * A registry that cannot be reached or does not know an id makes (de)serialization throw a SerializationException:
 * the application's default handlers then stop it (LogAndFailExceptionHandler on input, a fatal error on output).
 */
final class Avro {
    private static final byte MAGIC = 0;
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";

    private Avro() {}

    /** A client of the registry's Confluent-compatible API, caching schemas by id and ids by (subject, schema). */
    static final class Registry {
        private final String url;
        private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        private final Map<Integer, Schema> schemas = new ConcurrentHashMap<>();
        private final Map<String, Integer> registered = new ConcurrentHashMap<>();

        /** url: the API's base, e.g. http://127.0.0.1:8081 or http://127.0.0.1:8080/apis/ccompat/v6. */
        Registry(String url) {
            this.url = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        }

        /** The schema registered under id (fetched once, then cached). */
        Schema schema(int id) {
            Schema cached = schemas.get(id);
            if (cached != null) {
                return cached;
            }
            JsonNode answer = call(HttpRequest.newBuilder(URI.create(url + "/schemas/ids/" + id)).GET(), "schema id " + id);
            JsonNode text = answer.get("schema");
            if (text == null || !text.isTextual()) {
                throw new SerializationException("registry answer for schema id " + id + " has no \"schema\": " + answer);
            }
            Schema schema = new Schema.Parser().parse(text.asText());
            schemas.putIfAbsent(id, schema);
            return schema;
        }

        /** Registers schema under subject (a no-op for the registry when it is already there) and returns its id. */
        int register(String subject, Schema schema) {
            String key = subject + "\n" + schema;
            Integer cached = registered.get(key);
            if (cached != null) {
                return cached;
            }
            String body;
            try {
                body = MAPPER.writeValueAsString(Map.of("schema", schema.toString()));
            } catch (IOException e) {
                throw new SerializationException("cannot write the registration request", e);
            }
            JsonNode answer = call(HttpRequest.newBuilder(URI.create(url + "/subjects/" + subject + "/versions"))
                    .header("Content-Type", CONTENT_TYPE)
                    .POST(HttpRequest.BodyPublishers.ofString(body)), "registering " + subject);
            JsonNode id = answer.get("id");
            if (id == null || !id.canConvertToInt()) {
                throw new SerializationException("registry answer for " + subject + " has no \"id\": " + answer);
            }
            registered.putIfAbsent(key, id.asInt());
            schemas.putIfAbsent(id.asInt(), schema);
            return id.asInt();
        }

        private JsonNode call(HttpRequest.Builder request, String what) {
            try {
                HttpResponse<String> response = http.send(
                        request.timeout(Duration.ofSeconds(30)).header("Accept", CONTENT_TYPE).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (response.statusCode() != 200) {
                    throw new SerializationException("schema registry " + url + ", " + what + ": HTTP "
                            + response.statusCode() + " " + response.body());
                }
                return MAPPER.readTree(response.body());
            } catch (IOException e) {
                throw new SerializationException("schema registry " + url + ", " + what + ": " + e, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SerializationException("schema registry " + url + ", " + what + ": interrupted", e);
            }
        }
    }

    /**
     * Serde of GenericRecords in the wire format. Deserializing accepts any schema id the registry knows;
     * serializing writes records of {@code schema} (registered under {@code <topic>-value}); null stays null.
     */
    static Serde<GenericRecord> serde(Registry registry, Schema schema) {
        Map<Integer, DatumReader<GenericRecord>> readers = new ConcurrentHashMap<>();
        DatumWriter<GenericRecord> writer = schema == null ? null : new GenericDatumWriter<>(schema);
        Map<String, Integer> ids = new ConcurrentHashMap<>();

        Deserializer<GenericRecord> deserializer = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            if (bytes.length < 5 || bytes[0] != MAGIC) {
                throw new SerializationException("not in the schema registry wire format (magic byte 0, 4-byte id): "
                        + bytes.length + " bytes" + (bytes.length > 0 ? ", first " + bytes[0] : ""));
            }
            int id = ByteBuffer.wrap(bytes, 1, 4).getInt();
            DatumReader<GenericRecord> reader = readers.computeIfAbsent(id,
                    key -> new GenericDatumReader<>(registry.schema(key)));
            try {
                return reader.read(null, DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, null));
            } catch (IOException | RuntimeException e) {
                throw new SerializationException("cannot decode an Avro value of schema id " + id, e);
            }
        };
        Serializer<GenericRecord> serializer = (topic, record) -> {
            if (record == null) {
                return null;
            }
            if (writer == null) {
                throw new SerializationException("this Avro serde has no schema to write with");
            }
            int id = ids.computeIfAbsent(topic, key -> registry.register(key + "-value", schema));
            ByteArrayOutputStream out = new ByteArrayOutputStream(64);
            out.write(MAGIC);
            out.write(id >>> 24);
            out.write(id >>> 16);
            out.write(id >>> 8);
            out.write(id);
            try {
                BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
                writer.write(record, encoder);
                encoder.flush();
            } catch (IOException | RuntimeException e) {
                throw new SerializationException("cannot encode " + schema.getFullName() + " as Avro", e);
            }
            return out.toByteArray();
        };
        return Serdes.serdeFrom(serializer, deserializer);
    }
}
