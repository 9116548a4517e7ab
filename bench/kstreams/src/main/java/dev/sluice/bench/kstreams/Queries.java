package dev.sluice.bench.kstreams;

import java.time.Duration;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindowedKStream;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindowedKStream;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The nine queries as Kafka Streams DSL topologies (q1-avro: q1 on Avro values). Event time is the record timestamp (the default
 * timestamp extractor); the generator sets it to the event's date_time.
 */
final class Queries {
    /** How a windowed aggregate emits one final result per window. */
    enum FinalMode {
        /** windowedBy(...).emitStrategy(EmitStrategy.onWindowClose()) (KIP-825): time-ordered store, no buffer. */
        EMIT_STRATEGY,
        /** aggregate (emit on update, record cache) then suppress(untilWindowCloses(unbounded())). */
        SUPPRESS
    }

    private static final Duration WINDOW = Duration.ofSeconds(10);
    private static final Duration HOP = Duration.ofSeconds(2);
    private static final Duration SESSION_GAP = Duration.ofSeconds(10);
    /** q8: how long each side of the join is kept after its window (bench/nexmark/q8.json: "grace": "60s"). */
    private static final Duration Q8_GRACE = Duration.ofSeconds(60);
    private static final java.util.Set<String> Q3_STATES = java.util.Set.of("OR", "ID", "CA");
    /** q1-avro's output value: bench/nexmark/q1-avro.json's sink schema. */
    private static final Schema Q1_SCHEMA = new Schema.Parser().parse("""
            {"type": "record", "name": "Q1", "namespace": "nexmark", "fields": [
              {"name": "auction", "type": "long"}, {"name": "bidder", "type": "long"},
              {"name": "price", "type": "long"}, {"name": "date_time", "type": "long"}]}""");

    private final String input;
    private final String output;
    /** q3's persons table topic (the generator's --persons-topic); null for the other queries. */
    private final String persons;
    private final FinalMode finalMode;
    /** Retention of the window and session stores; null keeps Kafka Streams' default (window size or gap + grace). */
    private final Duration retention;
    /** q1-avro's schema registry (its Confluent-compatible API); null for the other queries. */
    private final String schemaRegistry;
    private final Serde<Event> events = Json.serde(Event.class);

    Queries(String input, String output, String persons, FinalMode finalMode, Duration retention,
            String schemaRegistry) {
        this.input = input;
        this.output = output;
        this.persons = persons;
        this.finalMode = finalMode;
        this.retention = retention;
        this.schemaRegistry = schemaRegistry;
    }

    private <S extends org.apache.kafka.streams.processor.StateStore> Materialized<String, Long, S> store(String name) {
        Materialized<String, Long, S> materialized = Materialized.<String, Long, S>as(name)
                .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long());
        return retention == null ? materialized : materialized.withRetention(retention);
    }

    Topology build(String query) {
        StreamsBuilder builder = new StreamsBuilder();
        switch (query) {
            case "q0" -> q0(builder);
            case "q1" -> q1(builder);
            case "q1-avro" -> q1Avro(builder);
            case "q2" -> q2(builder);
            case "q3" -> q3(builder);
            case "q5" -> q5(builder);
            case "q7" -> q7(builder);
            case "q8" -> q8(builder);
            case "q11" -> q11(builder);
            default -> throw new IllegalArgumentException("unknown query " + query + " (q0|q1|q1-avro|q2|q3|q5|q7|q8|q11)");
        }
        return builder.build();
    }

    /** q0: every record unchanged; key and value stay bytes, nothing is parsed. */
    private void q0(StreamsBuilder builder) {
        builder.stream(input, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("source"))
                .to(output, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("sink"));
    }

    /** Parses every input event with Jackson and keeps the bids; the key (the auction id) is unchanged. */
    private KStream<String, Event> bids(StreamsBuilder builder) {
        return builder.stream(input, Consumed.with(Serdes.String(), events).withName("source"))
                .filter((key, event) -> event.isBid(), Named.as("bids"));
    }

    /** q1: bids, price converted with price * 89 / 100 (floor). */
    private void q1(StreamsBuilder builder) {
        bids(builder)
                .mapValues(bid -> new Output.Q1(bid.auction, bid.bidder, Math.floorDiv(bid.price * 89, 100),
                        bid.dateTime), Named.as("convert-price"))
                .to(output, Produced.with(Serdes.String(), Json.serde(Output.Q1.class)).withName("sink"));
    }

    /**
     * q1-avro: q1 on Avro values in the schema registry wire format. The input is nexmark.Event (sluice-nexmark
     * --avro-registry: {type, person|auction|bid: null or that event's record}), decoded into a GenericRecord of the
     * writer's schema (fetched by id); the output is nexmark.Q1, registered under "<output>-value".
     */
    private void q1Avro(StreamsBuilder builder) {
        if (schemaRegistry == null) {
            throw new IllegalArgumentException("q1-avro needs --schema-registry URL");
        }
        Avro.Registry registry = new Avro.Registry(schemaRegistry);
        builder.stream(input, Consumed.with(Serdes.String(), Avro.serde(registry, null)).withName("source"))
                .filter((key, event) -> "bid".equals(event.get("type").toString()), Named.as("bids"))
                .mapValues(event -> {
                    GenericRecord bid = (GenericRecord) event.get("bid");
                    GenericRecord q1 = new GenericData.Record(Q1_SCHEMA);
                    q1.put("auction", bid.get("auction"));
                    q1.put("bidder", bid.get("bidder"));
                    q1.put("price", Math.floorDiv((Long) bid.get("price") * 89, 100));
                    q1.put("date_time", bid.get("date_time"));
                    return q1;
                }, Named.as("convert-price"))
                .to(output, Produced.with(Serdes.String(), Avro.serde(registry, Q1_SCHEMA)).withName("sink"));
    }

    /** q2: bids of auctions whose id is a multiple of 123. */
    private void q2(StreamsBuilder builder) {
        bids(builder)
                .filter((key, bid) -> Math.floorMod(bid.auction, 123L) == 0, Named.as("auction-mod-123"))
                .mapValues(bid -> new Output.Q2(bid.auction, bid.price), Named.as("project"))
                .to(output, Produced.with(Serdes.String(), Json.serde(Output.Q2.class)).withName("sink"));
    }

    /**
     * q3: auctions of category 10 re-keyed by seller (repartition topic) and inner-joined with the persons table
     * (a KTable over its own topic, keyed by person id), kept when the seller lives in OR, ID or CA. Kafka
     * Streams' defaults: the table is materialized in RocksDB with a changelog topic of its own (source-topic
     * reuse needs topology.optimization, which a default application does not set).
     */
    private void q3(StreamsBuilder builder) {
        if (persons == null) {
            throw new IllegalArgumentException("q3 needs --persons TOPIC (the persons table)");
        }
        KTable<String, Event> people = builder.table(persons, Consumed.with(Serdes.String(), events)
                        .withName("persons-source"),
                Materialized.<String, Event, KeyValueStore<Bytes, byte[]>>as("q3-persons")
                        .withKeySerde(Serdes.String()).withValueSerde(events));
        builder.stream(input, Consumed.with(Serdes.String(), events).withName("source"))
                .filter((key, event) -> "auction".equals(event.type) && event.category == 10L,
                        Named.as("auctions-category-10"))
                .selectKey((id, auction) -> Long.toString(auction.seller), Named.as("key-by-seller"))
                .join(people, (auction, person) -> new Output.Q3(person.name, person.city, person.state, auction.id),
                        Joined.with(Serdes.String(), events, events, "with-seller"))
                .filter((seller, result) -> Q3_STATES.contains(result.state()), Named.as("local"))
                .to(output, Produced.with(Serdes.String(), Json.serde(Output.Q3.class)).withName("sink"));
    }

    /** The start of the 10 s tumbling window of event time t (q8's join key). */
    private static long windowStart(long t) {
        return t - Math.floorMod(t, WINDOW.toMillis());
    }

    /**
     * q8: persons and auctions both re-keyed by (person id / seller, 10 s tumbling window start), joined within
     * 10 s (any two records of one window are closer) with 60 s grace: each pair of a new person and an auction
     * they opened in the same window, once, as bench/nexmark/q8.json.
     */
    private void q8(StreamsBuilder builder) {
        KStream<String, Event> all = builder.stream(input, Consumed.with(Serdes.String(), events).withName("source"));
        KStream<String, Event> people = all.filter((key, event) -> "person".equals(event.type), Named.as("persons"))
                .selectKey((key, person) -> person.id + ":" + windowStart(person.dateTime), Named.as("persons-by-window"));
        KStream<String, Event> auctions = all.filter((key, event) -> "auction".equals(event.type), Named.as("auctions"))
                .selectKey((key, auction) -> auction.seller + ":" + windowStart(auction.dateTime),
                        Named.as("auctions-by-window"));
        people.join(auctions, (person, auction) -> new Output.Q8(person.id, person.name, auction.reserve),
                        JoinWindows.ofTimeDifferenceAndGrace(WINDOW, Q8_GRACE),
                        StreamJoined.with(Serdes.String(), events, events).withName("new-sellers")
                                .withStoreName("q8-join"))
                .to(output, Produced.with(Serdes.String(), Json.serde(Output.Q8.class)).withName("sink"));
    }

    /** q5: bids per auction in hopping windows of 10 s every 2 s, one final count per window. */
    private void q5(StreamsBuilder builder) {
        TimeWindowedKStream<String, Event> windowed = bids(builder)
                .groupByKey(Grouped.with("by-auction", Serdes.String(), events))
                .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, Duration.ZERO).advanceBy(HOP));
        if (finalMode == FinalMode.EMIT_STRATEGY) {
            windowed = windowed.emitStrategy(EmitStrategy.onWindowClose());
        }
        KTable<Windowed<String>, Long> counts = windowed.count(Named.as("count"),
                this.<WindowStore<Bytes, byte[]>>store("q5-counts"));
        finalResults(counts, "q5")
                .map((window, count) -> KeyValue.pair(window.key(), new Output.Q5(Long.parseLong(window.key()),
                        window.window().start(), window.window().end(), count)), Named.as("format"))
                .to(output, Produced.with(Serdes.String(), Json.serde(Output.Q5.class)).withName("sink"));
    }

    /** q7: the highest bid price per auction in tumbling 10 s windows, one final result per window. */
    private void q7(StreamsBuilder builder) {
        TimeWindowedKStream<String, Long> windowed = bids(builder)
                .mapValues(bid -> bid.price, Named.as("price"))
                .groupByKey(Grouped.with("by-auction", Serdes.String(), Serdes.Long()))
                .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, Duration.ZERO));
        if (finalMode == FinalMode.EMIT_STRATEGY) {
            windowed = windowed.emitStrategy(EmitStrategy.onWindowClose());
        }
        KTable<Windowed<String>, Long> maxima = windowed.reduce(Math::max, Named.as("max-price"),
                this.<WindowStore<Bytes, byte[]>>store("q7-max-price"));
        finalResults(maxima, "q7")
                .map((window, max) -> KeyValue.pair(window.key(), new Output.Q7(Long.parseLong(window.key()),
                        window.window().start(), window.window().end(), max)), Named.as("format"))
                .to(output, Produced.with(Serdes.String(), Json.serde(Output.Q7.class)).withName("sink"));
    }

    /** q11: bids re-keyed by bidder (repartition topic), session windows with a 10 s gap, final counts. */
    private void q11(StreamsBuilder builder) {
        SessionWindowedKStream<String, Event> windowed = bids(builder)
                .selectKey((auction, bid) -> Long.toString(bid.bidder), Named.as("key-by-bidder"))
                .groupByKey(Grouped.with("by-bidder", Serdes.String(), events))
                .windowedBy(SessionWindows.ofInactivityGapAndGrace(SESSION_GAP, Duration.ZERO));
        if (finalMode == FinalMode.EMIT_STRATEGY) {
            windowed = windowed.emitStrategy(EmitStrategy.onWindowClose());
        }
        KTable<Windowed<String>, Long> counts = windowed.count(Named.as("count"),
                this.<SessionStore<Bytes, byte[]>>store("q11-counts"));
        finalResults(counts, "q11")
                .map((session, count) -> KeyValue.pair(session.key(), new Output.Q11(Long.parseLong(session.key()),
                        session.window().start(), session.window().end(), count)), Named.as("format"))
                .to(output, Produced.with(Serdes.String(), Json.serde(Output.Q11.class)).withName("sink"));
    }

    /**
     * The final results of a windowed aggregate as a stream. With the emit strategy the table already emits
     * only closed windows; otherwise a suppress buffer holds each window until it closes. Tombstones (the
     * deletes of merged sessions) are never a result and are dropped.
     */
    private <V> KStream<Windowed<String>, V> finalResults(KTable<Windowed<String>, V> table, String query) {
        KTable<Windowed<String>, V> closed = finalMode == FinalMode.SUPPRESS
                ? table.suppress(Suppressed.<Windowed<String>>untilWindowCloses(Suppressed.BufferConfig.unbounded())
                        .withName(query + "-final"))
                : table;
        return closed.toStream(Named.as("results")).filter((window, value) -> value != null, Named.as("no-tombstones"));
    }
}
