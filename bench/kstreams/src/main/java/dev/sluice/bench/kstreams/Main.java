package dev.sluice.bench.kstreams;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;

/**
 * Kafka Streams side of the sluice benchmarks: runs one Nexmark-style query until SIGTERM.
 *
 * <p>Protocol with the benchmark runner: prints "kstreams: RUNNING" on stdout once the client first
 * reaches RUNNING; on SIGTERM closes the client (KafkaStreams.close with a timeout) and exits 0, or 1 when
 * the close timed out; a fatal stream-thread error shuts the client down and exits 1. Logs go to stderr.
 */
public final class Main {
    private static final String USAGE = """
            usage: java -jar sluice-kstreams-bench.jar --bootstrap HOST:PORT --query q0|q1|q1-avro|q2|q3|q5|q7|q8|q11
                     --input TOPIC --output TOPIC --application-id ID
                     [--persons TOPIC]                             (q3: the persons table topic)
                     [--schema-registry URL]                       (q1-avro: the registry's Confluent-compatible API)
                     [--guarantee exactly_once_v2|at_least_once]   (default exactly_once_v2)
                     [--commit-interval-ms N]                      (default 100, for both guarantees)
                     [--state-dir DIR]                             (default /tmp/kafka-streams)
                     [--threads N]                                 (default 1)
                     [--final-mode emit-strategy|suppress]         (default emit-strategy; q5, q7, q11)
                     [--retention-ms N]                            (window/session store retention; default: Kafka Streams')
                     [--close-timeout-ms N]                        (default 30000)
                     [--config KEY=VALUE]...                       (any further StreamsConfig property)
                     [--describe]                                  (print the topology and exit)
            """;

    private Main() {}

    public static void main(String[] args) throws InterruptedException {
        String bootstrap = null, query = null, input = null, output = null, applicationId = null, persons = null;
        String schemaRegistry = null;
        String guarantee = StreamsConfig.EXACTLY_ONCE_V2;
        String commitIntervalMs = "100";
        String stateDir = null;
        String threads = "1";
        Queries.FinalMode finalMode = Queries.FinalMode.EMIT_STRATEGY;
        long closeTimeoutMs = 30_000;
        Duration retention = null;
        boolean describe = false;
        List<String> extra = new ArrayList<>();
        try {
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                switch (arg) {
                    case "--describe" -> describe = true;
                    case "-h", "--help" -> {
                        System.out.print(USAGE);
                        return;
                    }
                    default -> {
                        if (i + 1 >= args.length) {
                            throw new IllegalArgumentException("missing value after " + arg);
                        }
                        String value = args[++i];
                        switch (arg) {
                            case "--bootstrap" -> bootstrap = value;
                            case "--query" -> query = value;
                            case "--input" -> input = value;
                            case "--output" -> output = value;
                            case "--persons" -> persons = value;
                            case "--schema-registry" -> schemaRegistry = value;
                            case "--application-id" -> applicationId = value;
                            case "--guarantee" -> guarantee = switch (value) {
                                case "exactly_once_v2", "at_least_once" -> value;
                                default -> throw new IllegalArgumentException(
                                        "--guarantee must be exactly_once_v2 or at_least_once, not " + value);
                            };
                            case "--commit-interval-ms" -> commitIntervalMs = Long.toString(Long.parseLong(value));
                            case "--state-dir" -> stateDir = value;
                            case "--threads" -> threads = Integer.toString(Integer.parseInt(value));
                            case "--final-mode" -> finalMode = switch (value) {
                                case "emit-strategy" -> Queries.FinalMode.EMIT_STRATEGY;
                                case "suppress" -> Queries.FinalMode.SUPPRESS;
                                default -> throw new IllegalArgumentException(
                                        "--final-mode must be emit-strategy or suppress, not " + value);
                            };
                            case "--close-timeout-ms" -> closeTimeoutMs = Long.parseLong(value);
                            case "--retention-ms" -> retention = Duration.ofMillis(Long.parseLong(value));
                            case "--config" -> {
                                if (!value.contains("=")) {
                                    throw new IllegalArgumentException("--config takes KEY=VALUE, not " + value);
                                }
                                extra.add(value);
                            }
                            default -> throw new IllegalArgumentException("unknown option " + arg);
                        }
                    }
                }
            }
            if (query == null || input == null || output == null) {
                throw new IllegalArgumentException("--query, --input and --output are required");
            }
            if (!describe && (bootstrap == null || applicationId == null)) {
                throw new IllegalArgumentException("--bootstrap and --application-id are required");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("kstreams: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(2);
            return;
        }

        Topology topology;
        try {
            topology = new Queries(input, output, persons, finalMode, retention, schemaRegistry).build(query);
        } catch (IllegalArgumentException e) {
            System.err.println("kstreams: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (describe) {
            System.out.print(topology.describe());
            return;
        }

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitIntervalMs);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, "1");
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        if (stateDir != null) {
            props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        }
        for (String kv : extra) {
            int eq = kv.indexOf('=');
            props.put(kv.substring(0, eq), kv.substring(eq + 1));
        }

        KafkaStreams streams = new KafkaStreams(topology, props);
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean announced = new AtomicBoolean(false);
        AtomicBoolean fatal = new AtomicBoolean(false);
        AtomicBoolean terminating = new AtomicBoolean(false);

        streams.setStateListener((newState, oldState) -> {
            if (newState == KafkaStreams.State.RUNNING && announced.compareAndSet(false, true)) {
                System.out.println("kstreams: RUNNING");
                System.out.flush();
            }
            if (newState == KafkaStreams.State.ERROR) {
                fatal.set(true);
                stopped.countDown();
            } else if (newState == KafkaStreams.State.NOT_RUNNING) {
                stopped.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(error -> {
            System.err.println("kstreams: fatal stream thread error, shutting down: " + error);
            error.printStackTrace(System.err);
            fatal.set(true);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });

        final long closeTimeout = closeTimeoutMs;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (!terminating.compareAndSet(false, true)) {
                return; // the fatal-error path below already closed the client and chose the exit status
            }
            boolean closed = streams.close(Duration.ofMillis(closeTimeout));
            System.err.println(closed ? "kstreams: closed" : "kstreams: close timed out");
            System.out.flush();
            System.err.flush();
            // SIGTERM is the normal way to stop: a clean close exits 0 rather than the JVM's 143.
            Runtime.getRuntime().halt(closed && !fatal.get() ? 0 : 1);
        }, "kstreams-shutdown"));

        try {
            streams.start();
        } catch (RuntimeException e) {
            System.err.println("kstreams: cannot start: " + e);
            e.printStackTrace(System.err);
            terminating.set(true);
            streams.close(Duration.ofMillis(closeTimeoutMs));
            System.exit(1);
        }
        stopped.await();
        if (fatal.get() && terminating.compareAndSet(false, true)) {
            streams.close(Duration.ofMillis(closeTimeoutMs));
            System.err.println("kstreams: stopped after a fatal error");
            System.exit(1);
        }
        // Otherwise a SIGTERM is being handled: the shutdown hook finishes the close and exits.
    }
}
