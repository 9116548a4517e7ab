// bench_ceiling: the raw ceiling for any Kafka stream processor on this machine and broker. A minimal
// consume -> produce passthrough with librdkafka: one consumer in a group, one producer, no parsing, key, value
// and timestamp copied as they are. Client settings match sluice's (range assignor, read_committed input,
// idempotent producer with acks=all, murmur2 partitioner, linger.ms=5, the same queue bounds).
//
//   bench_ceiling --bootstrap H:P --input T --output T --group G [--transactional] [--commit-interval-ms 100]
//                 [--mode passthrough|consume|produce] [--consumer-set name=value] [--producer-set name=value]
//
// Without --transactional: asynchronous produce; every commit interval, flush (wait for every acknowledgement)
// and then commit the consumed offsets synchronously (at-least-once).
// With --transactional: begin; produce for one commit interval; send_offsets_to_transaction with the
// consumer's group metadata; commit_transaction (exactly-once). Transactional id: G.
// Prints "ceiling: RUNNING" once partitions are assigned; SIGTERM commits what was consumed and exits 0.
//
// The broker's own limits on this machine, each measured by the program itself and printed as one JSON line
// ({"records": N, "seconds": S, "cpu_seconds": C}; CPU of this process only):
//   --mode consume: reads the whole input in the group (read_committed, the same fetch settings), committing
//     offsets every commit interval; from the first record to the last.
//   --mode produce: reads the whole input into memory first (not timed), then writes it to --output
//     (idempotent, acks=all; with --transactional in transactions of one commit interval); from the first write
//     to the last acknowledgement.
#include <signal.h>
#include <sys/resource.h>

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

std::atomic<bool> stop_requested{false};

struct Options {
  std::string bootstrap = "127.0.0.1:9092";
  std::string input;
  std::string output;
  std::string group;
  bool transactional = false;
  int commit_interval_ms = 100;
  std::string mode = "passthrough";  // passthrough | consume | produce
  std::vector<std::pair<std::string, std::string>> consumer_settings, producer_settings;  // --consumer-set k=v
};

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "bench_ceiling: %s\n", message.c_str());
  std::exit(1);
}

void set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) die(error);
}

void check(rd_kafka_error_t* error, const char* what) {
  if (error == nullptr) return;
  std::string message = std::string(what) + ": " + rd_kafka_error_string(error);
  rd_kafka_error_destroy(error);
  die(message);
}

class Ceiling {
 public:
  explicit Ceiling(const Options& options) : options_(options) {}

  // --mode consume: the input once through the group, offsets committed every interval.
  void consume_only() {
    create_clients();
    subscribe();
    auto interval = std::chrono::milliseconds(options_.commit_interval_ms);
    auto next_commit = std::chrono::steady_clock::now() + interval;
    std::int64_t records = 0;
    double cpu_start = 0;
    std::chrono::steady_clock::time_point first, last;
    while (!stop_requested && (records == 0 || !at_end())) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 10);
      if (message != nullptr) {
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          if (records++ == 0) {
            first = std::chrono::steady_clock::now();
            cpu_start = cpu_seconds();
          }
          last = std::chrono::steady_clock::now();
          next_offsets_[message->partition] = message->offset + 1;
          ++uncommitted_;
        }
        rd_kafka_message_destroy(message);
      }
      if (std::chrono::steady_clock::now() >= next_commit) {
        commit_offsets();
        next_commit = std::chrono::steady_clock::now() + interval;
      }
    }
    commit_offsets();
    const double cpu = cpu_seconds() - cpu_start;
    rd_kafka_consumer_close(consumer_);
    rd_kafka_destroy(consumer_);
    rd_kafka_destroy(producer_);
    report(records, std::chrono::duration<double>(last - first).count(), cpu);
  }

  // --mode produce: the input read into memory, then written as fast as the producer and broker allow.
  void produce_only() {
    create_clients();
    subscribe();
    std::vector<std::pair<std::string, std::string>> records;  // key, value
    std::vector<std::int64_t> timestamps;
    while (!stop_requested && (records.empty() || !at_end())) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 10);
      if (message == nullptr) continue;
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        records.emplace_back(std::string(static_cast<const char*>(message->key), message->key_len),
                             std::string(static_cast<const char*>(message->payload), message->len));
        rd_kafka_timestamp_type_t type;
        timestamps.push_back(rd_kafka_message_timestamp(message, &type));
        next_offsets_[message->partition] = message->offset + 1;
      }
      rd_kafka_message_destroy(message);
    }
    rd_kafka_consumer_close(consumer_);
    rd_kafka_destroy(consumer_);
    consumer_ = nullptr;
    const auto started = std::chrono::steady_clock::now();
    const double cpu_start = cpu_seconds();
    auto interval = std::chrono::milliseconds(options_.commit_interval_ms);
    auto next_commit = started + interval;
    if (options_.transactional) check(rd_kafka_begin_transaction(producer_), "begin_transaction");
    for (std::size_t i = 0; i < records.size() && !stop_requested; ++i) {
      write(records[i].first, records[i].second, timestamps[i]);
      if (options_.transactional && std::chrono::steady_clock::now() >= next_commit) {
        check(rd_kafka_commit_transaction(producer_, 60000), "commit_transaction");
        check(rd_kafka_begin_transaction(producer_), "begin_transaction");
        next_commit = std::chrono::steady_clock::now() + interval;
      }
    }
    if (options_.transactional) {
      check(rd_kafka_commit_transaction(producer_, 60000), "commit_transaction");
    } else if (rd_kafka_flush(producer_, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      die("flush timed out");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double cpu = cpu_seconds() - cpu_start;
    rd_kafka_destroy(producer_);
    if (delivery_failures_ > 0) die(std::to_string(delivery_failures_) + " writes failed");
    report(static_cast<std::int64_t>(records.size()), seconds, cpu);
  }

  void run() {
    create_clients();
    subscribe();
    if (options_.transactional) check(rd_kafka_begin_transaction(producer_), "begin_transaction");
    auto interval = std::chrono::milliseconds(options_.commit_interval_ms);
    auto next_commit = std::chrono::steady_clock::now() + interval;
    while (!stop_requested) {
      // What the consumer has fetched is served as one batch (up to kBatch), and the producer's delivery reports
      // once per batch: per record, that poll cost as much as the forwarding (the ceiling then read 285k
      // records/s at-least-once and 139k with transactions, below sluice).
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 10);
      for (int served = 0; message != nullptr;) {
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          forward(message);
        } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          std::fprintf(stderr, "bench_ceiling: consumer: %s\n", rd_kafka_message_errstr(message));
        }
        rd_kafka_message_destroy(message);
        message = ++served < kBatch ? rd_kafka_consumer_poll(consumer_, 0) : nullptr;
      }
      rd_kafka_poll(producer_, 0);
      auto now = std::chrono::steady_clock::now();
      if (now >= next_commit) {
        commit();
        next_commit = now + interval;
      }
    }
    commit();
    if (options_.transactional) check(rd_kafka_abort_transaction(producer_, 30000), "abort empty transaction");
    rd_kafka_consumer_close(consumer_);
    rd_kafka_destroy(consumer_);
    rd_kafka_flush(producer_, 30000);
    rd_kafka_destroy(producer_);
    if (delivery_failures_ > 0) die(std::to_string(delivery_failures_) + " outputs failed");
  }

 private:
  void subscribe() {
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, options_.input.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t subscribed = rd_kafka_subscribe(consumer_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (subscribed != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("subscribe: ") + rd_kafka_err2str(subscribed));
  }

  // Every assigned partition read up to its end (the input is written before the run and does not grow).
  bool at_end() {
    if (ends_.empty()) {
      rd_kafka_topic_partition_list_t* assigned = nullptr;
      if (rd_kafka_assignment(consumer_, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR || assigned->cnt == 0) {
        if (assigned != nullptr) rd_kafka_topic_partition_list_destroy(assigned);
        return false;
      }
      for (int i = 0; i < assigned->cnt; ++i) {
        std::int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(consumer_, options_.input.c_str(), assigned->elems[i].partition, &low,
                                             &high, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
          die("cannot read the input's end offsets");
        }
        ends_[assigned->elems[i].partition] = high;
      }
      rd_kafka_topic_partition_list_destroy(assigned);
    }
    for (const auto& [partition, end] : ends_) {
      auto found = next_offsets_.find(partition);
      if (end > 0 && (found == next_offsets_.end() || found->second < end)) return false;
    }
    return true;
  }

  void commit_offsets() {
    if (uncommitted_ == 0) return;
    rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets_.size()));
    for (const auto& [partition, offset] : next_offsets_) {
      rd_kafka_topic_partition_list_add(offsets, options_.input.c_str(), partition)->offset = offset;
    }
    rd_kafka_resp_err_t committed = rd_kafka_commit(consumer_, offsets, 0);
    if (committed != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("commit: ") + rd_kafka_err2str(committed));
    rd_kafka_topic_partition_list_destroy(offsets);
    uncommitted_ = 0;
  }

  static void report(std::int64_t records, double seconds, double cpu) {
    std::printf("{\"records\": %lld, \"seconds\": %.6f, \"cpu_seconds\": %.6f}\n", static_cast<long long>(records),
                seconds, cpu);
    std::fflush(stdout);
  }

  void create_clients() {
    char error[512];
    rd_kafka_conf_t* consumer_conf = rd_kafka_conf_new();
    set(consumer_conf, "bootstrap.servers", options_.bootstrap);
    set(consumer_conf, "group.id", options_.group);
    set(consumer_conf, "partition.assignment.strategy", "range");
    set(consumer_conf, "enable.auto.commit", "false");
    set(consumer_conf, "enable.auto.offset.store", "false");
    set(consumer_conf, "auto.offset.reset", "earliest");
    set(consumer_conf, "isolation.level", "read_committed");
    set(consumer_conf, "queued.max.messages.kbytes", "65536");
    set(consumer_conf, "queued.min.messages", "10000000");  // as sluice: the byte bound alone (client_config.cpp)
    for (const auto& [name, value] : options_.consumer_settings) set(consumer_conf, name.c_str(), value);
    rd_kafka_conf_set_opaque(consumer_conf, this);
    rd_kafka_conf_set_rebalance_cb(consumer_conf, &Ceiling::rebalance);
    consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, consumer_conf, error, sizeof error);
    if (consumer_ == nullptr) die(error);
    rd_kafka_poll_set_consumer(consumer_);

    rd_kafka_conf_t* producer_conf = rd_kafka_conf_new();
    set(producer_conf, "bootstrap.servers", options_.bootstrap);
    set(producer_conf, "enable.idempotence", "true");
    set(producer_conf, "acks", "all");
    set(producer_conf, "partitioner", "murmur2_random");
    set(producer_conf, "linger.ms", "5");
    set(producer_conf, "queue.buffering.max.messages", "100000");
    if (options_.transactional) set(producer_conf, "transactional.id", options_.group);
    for (const auto& [name, value] : options_.producer_settings) set(producer_conf, name.c_str(), value);
    rd_kafka_conf_set_opaque(producer_conf, this);
    rd_kafka_conf_set_dr_msg_cb(producer_conf, [](rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        auto* self = static_cast<Ceiling*>(opaque);
        if (self->delivery_failures_++ == 0) {
          std::fprintf(stderr, "bench_ceiling: delivery failed: %s\n", rd_kafka_err2str(message->err));
        }
      }
    });
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, producer_conf, error, sizeof error);
    if (producer_ == nullptr) die(error);
    if (options_.transactional) check(rd_kafka_init_transactions(producer_, 60000), "init_transactions");
  }

  void forward(const rd_kafka_message_t* message) {
    rd_kafka_timestamp_type_t type;
    write(std::string_view(static_cast<const char*>(message->key), message->key_len),
          std::string_view(static_cast<const char*>(message->payload), message->len),
          rd_kafka_message_timestamp(message, &type));
    next_offsets_[message->partition] = message->offset + 1;
    ++uncommitted_;
  }

  void write(std::string_view key, std::string_view value, std::int64_t timestamp) {
    for (;;) {
// librdkafka's RD_KAFKA_V_* macros use GNU statement expressions, which clang's -Wpedantic reports here.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-statement-expression"
#endif
      rd_kafka_resp_err_t error = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(options_.output.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_TIMESTAMP(timestamp < 0 ? 0 : timestamp), RD_KAFKA_V_END);
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
      if (error == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (error != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(std::string("produce: ") + rd_kafka_err2str(error));
      rd_kafka_poll(producer_, 5);
    }
  }

  // Commits everything forwarded so far, with the offsets of the inputs behind it.
  void commit() {
    if (uncommitted_ == 0) return;
    rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets_.size()));
    for (const auto& [partition, offset] : next_offsets_) {
      rd_kafka_topic_partition_list_add(offsets, options_.input.c_str(), partition)->offset = offset;
    }
    if (options_.transactional) {
      rd_kafka_consumer_group_metadata_t* metadata = rd_kafka_consumer_group_metadata(consumer_);
      check(rd_kafka_send_offsets_to_transaction(producer_, offsets, metadata, 30000), "send_offsets_to_transaction");
      rd_kafka_consumer_group_metadata_destroy(metadata);
      check(rd_kafka_commit_transaction(producer_, 60000), "commit_transaction");
      check(rd_kafka_begin_transaction(producer_), "begin_transaction");
    } else {
      rd_kafka_resp_err_t flushed = rd_kafka_flush(producer_, 60000);
      if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("flush: ") + rd_kafka_err2str(flushed));
      if (delivery_failures_ > 0) die("an output failed; not committing");
      rd_kafka_resp_err_t committed = rd_kafka_commit(consumer_, offsets, 0);
      if (committed != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("commit: ") + rd_kafka_err2str(committed));
    }
    rd_kafka_topic_partition_list_destroy(offsets);
    uncommitted_ = 0;
  }

  static void rebalance(rd_kafka_t* consumer, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions,
                        void* opaque) {
    auto* self = static_cast<Ceiling*>(opaque);
    if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      rd_kafka_assign(consumer, partitions);
      std::printf("ceiling: RUNNING (%d partitions)\n", partitions->cnt);
      std::fflush(stdout);
    } else {
      self->commit();  // eager revoke: commit what was forwarded before giving the partitions up
      self->next_offsets_.clear();
      rd_kafka_assign(consumer, nullptr);
    }
  }

  static constexpr int kBatch = 500;  // as sluice's processing loop
  const Options& options_;
  rd_kafka_t* consumer_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::map<std::int32_t, std::int64_t> next_offsets_;
  std::map<std::int32_t, std::int64_t> ends_;
  std::int64_t uncommitted_ = 0;
  std::atomic<std::int64_t> delivery_failures_{0};
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--mode" && i + 1 < argc) {
      options.mode = argv[++i];
      if (options.mode != "passthrough" && options.mode != "consume" && options.mode != "produce") {
        die("--mode: passthrough, consume or produce");
      }
      continue;
    }
    if (flag == "--transactional") {
      options.transactional = true;
      continue;
    }
    if (i + 1 >= argc) die(flag + " needs a value");
    std::string value = argv[++i];
    if (flag == "--bootstrap") options.bootstrap = value;
    else if (flag == "--input") options.input = value;
    else if (flag == "--output") options.output = value;
    else if (flag == "--group") options.group = value;
    else if (flag == "--commit-interval-ms") options.commit_interval_ms = std::atoi(value.c_str());
    else if (flag == "--consumer-set" || flag == "--producer-set") {
      auto equals = value.find('=');
      if (equals == std::string::npos) die(flag + " needs name=value");
      (flag == "--consumer-set" ? options.consumer_settings : options.producer_settings)
          .emplace_back(value.substr(0, equals), value.substr(equals + 1));
    }
    else die("unknown option " + flag);
  }
  if (options.input.empty() || (options.output.empty() && options.mode != "consume") || options.group.empty()) {
    die("usage: bench_ceiling --bootstrap H:P --input T --output T --group G [--transactional] [--commit-interval-ms 100]");
  }
  struct sigaction action {};
  action.sa_handler = [](int) { stop_requested = true; };
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  if (options.mode == "consume") {
    Ceiling(options).consume_only();
  } else if (options.mode == "produce") {
    Ceiling(options).produce_only();
  } else {
    Ceiling(options).run();
  }
  return 0;
}
