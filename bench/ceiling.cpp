// bench_ceiling: the raw ceiling for any Kafka stream processor on this machine and broker. A minimal
// consume -> produce passthrough with librdkafka: one consumer in a group, one producer, no parsing, key, value
// and timestamp copied as they are. Client settings match sluice's (range assignor, read_committed input,
// idempotent producer with acks=all, murmur2 partitioner, linger.ms=5, the same queue bounds).
//
//   bench_ceiling --bootstrap H:P --input T --output T --group G [--transactional] [--commit-interval-ms 100]
//
// Without --transactional: asynchronous produce; every commit interval, flush (wait for every acknowledgement)
// and then commit the consumed offsets synchronously (at-least-once).
// With --transactional: begin; produce for one commit interval; send_offsets_to_transaction with the
// consumer's group metadata; commit_transaction (exactly-once). Transactional id: G.
// Prints "ceiling: RUNNING" once partitions are assigned; SIGTERM commits what was consumed and exits 0.
#include <signal.h>

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
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
};

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

  void run() {
    create_clients();
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, options_.input.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t subscribed = rd_kafka_subscribe(consumer_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (subscribed != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("subscribe: ") + rd_kafka_err2str(subscribed));
    if (options_.transactional) check(rd_kafka_begin_transaction(producer_), "begin_transaction");
    auto interval = std::chrono::milliseconds(options_.commit_interval_ms);
    auto next_commit = std::chrono::steady_clock::now() + interval;
    while (!stop_requested) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 10);
      if (message != nullptr) {
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          forward(message);
        } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          std::fprintf(stderr, "bench_ceiling: consumer: %s\n", rd_kafka_message_errstr(message));
        }
        rd_kafka_message_destroy(message);
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
    std::int64_t timestamp = rd_kafka_message_timestamp(message, &type);
    for (;;) {
// librdkafka's RD_KAFKA_V_* macros use GNU statement expressions, which clang's -Wpedantic reports here.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-statement-expression"
#endif
      rd_kafka_resp_err_t error = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(options_.output.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(message->key, message->key_len), RD_KAFKA_V_VALUE(message->payload, message->len),
          RD_KAFKA_V_TIMESTAMP(timestamp < 0 ? 0 : timestamp), RD_KAFKA_V_END);
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
      if (error == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (error != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(std::string("produce: ") + rd_kafka_err2str(error));
      rd_kafka_poll(producer_, 5);
    }
    next_offsets_[message->partition] = message->offset + 1;
    ++uncommitted_;
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

  const Options& options_;
  rd_kafka_t* consumer_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::map<std::int32_t, std::int64_t> next_offsets_;
  std::int64_t uncommitted_ = 0;
  std::atomic<std::int64_t> delivery_failures_{0};
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
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
    else die("unknown option " + flag);
  }
  if (options.input.empty() || options.output.empty() || options.group.empty()) {
    die("usage: bench_ceiling --bootstrap H:P --input T --output T --group G [--transactional] [--commit-interval-ms 100]");
  }
  struct sigaction action {};
  action.sa_handler = [](int) { stop_requested = true; };
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  Ceiling(options).run();
  return 0;
}
