// bench_nexmark_probe: the measuring side of bench/nexmark/run, outside the processor under test.
//
//   progress --bootstrap H:P --group G --topic T --partitions P (--pid PID | --pid-file F) [--then-topic R] [--broker-pid B]
//            [--then-repartition-of PREFIX] [--from-fraction 0.1] [--stall-seconds 120]
//       Watches the group's committed offsets on T (asked of the group coordinator every 20 ms, without joining).
//       t_from: the committed input first passes from-fraction of T's records; t_end: every partition of T is
//       committed to its end and then, for each --then-topic (a repartition topic, in order), every partition
//       is committed past its last record (read read_committed from the tail: a transactional topic ends with
//       a commit marker, so its committed offset may stay one below the high watermark). CPU seconds
//       (utime+stime of PID and of the broker, /proc/<pid>/stat) are sampled at both points; peak RSS (VmHWM)
//       at the end. --then-repartition-of X: every topic named X...-repartition, found once T is done (sluice
//       and Kafka Streams name their repartition topics after the application id). Prints one JSON line.
//   latency --bootstrap H:P --topic OUT --partitions P --seconds D [--warmup W] [--tail T]
//           [--origin record|window_end] [--extra-ms X]
//       Reads OUT read_committed from its current end for D + T seconds; each record's latency is the wall
//       time it was received minus its origin: the record's timestamp (stateless queries: the input's
//       timestamp, the wall clock when the generator produced it), or window_end + X from its JSON value
//       (windowed emit-final queries: the earliest moment the window could close, X = grace, + gap for
//       sessions). Counts records whose origin lies in [start + W, start + D]. Prints "probe: READY", then one
//       JSON line.
//   create --bootstrap H:P --topic T --partitions P          creates a topic (an existing one is fine)
//   delete --bootstrap H:P --prefix X                        deletes every topic whose name starts with X
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "bench_nexmark_probe: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  std::string mode, bootstrap = "127.0.0.1:9092", group, topic, prefix, origin = "record", repartition_of;
  std::vector<std::string> then_topics;
  int partitions = 1;
  long pid = 0, broker_pid = 0;
  std::string pid_file;  // progress: the processor's pid is written here once it is started
  double from_fraction = 0.1, seconds = 10, warmup = 2, tail = 5, stall_seconds = 120;
  long extra_ms = 0;
};

rd_kafka_t* make_client(rd_kafka_type_t type, const std::map<std::string, std::string>& properties) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) die(error);
  }
  rd_kafka_t* client = rd_kafka_new(type, conf, error, sizeof error);
  if (client == nullptr) die(error);
  return client;
}

double cpu_seconds(long pid) {
  if (pid <= 0) return 0;
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int index = 3; rest >> field; ++index) {  // field 3 is the state; utime is 14, stime 15
    if (index == 14 || index == 15) ticks += std::stod(field);
    if (index == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long peak_rss_kb(long pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

bool alive(long pid) { return pid <= 0 || std::ifstream("/proc/" + std::to_string(pid) + "/stat").good(); }

void watermarks(rd_kafka_t* client, const std::string& topic, int partition, std::int64_t& low, std::int64_t& high) {
  rd_kafka_resp_err_t error = rd_kafka_query_watermark_offsets(client, topic.c_str(), partition, &low, &high, 30000);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) die("watermarks of " + topic + ": " + rd_kafka_err2str(error));
}

// Next offset the group has committed per partition (-1: none). nullopt-like: returns false on a failed ask.
bool committed(rd_kafka_t* group_client, const std::string& topic, int partitions, std::vector<std::int64_t>& out) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int partition = 0; partition < partitions; ++partition) rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
  rd_kafka_resp_err_t error = rd_kafka_committed(group_client, list, 10000);
  bool ok = error == RD_KAFKA_RESP_ERR_NO_ERROR;
  out.assign(partitions, -1);
  for (int i = 0; ok && i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) ok = false;
    out[list->elems[i].partition] = list->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(list);
  return ok;
}

// Offset of the last record a read_committed reader sees in each partition (-1: none).
std::vector<std::int64_t> last_records(const Options& options, const std::string& topic) {
  rd_kafka_t* reader = make_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", options.bootstrap},
                                                       {"group.id", "nexmark-probe-tail"},
                                                       {"isolation.level", "read_committed"},
                                                       {"enable.auto.commit", "false"},
                                                       {"enable.partition.eof", "false"}});
  std::vector<std::int64_t> last(options.partitions, -1);
  for (int partition = 0; partition < options.partitions; ++partition) {
    std::int64_t low = 0, high = 0;
    watermarks(reader, topic, partition, low, high);
    for (std::int64_t window = 64;; window *= 8) {
      std::int64_t start = std::max(low, high - window);
      if (start >= high) break;
      rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(1);
      rd_kafka_topic_partition_list_add(assignment, topic.c_str(), partition)->offset = start;
      rd_kafka_assign(reader, assignment);
      rd_kafka_topic_partition_list_destroy(assignment);
      auto deadline = Clock::now() + 60s;
      for (;;) {
        if (Clock::now() > deadline) die("reading the tail of " + topic + " timed out (a transaction left open?)");
        rd_kafka_message_t* message = rd_kafka_consumer_poll(reader, 100);
        if (message != nullptr) {
          if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR && message->offset < high) {
            last[partition] = std::max(last[partition], message->offset);
          }
          rd_kafka_message_destroy(message);
        }
        rd_kafka_topic_partition_list_t* position = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(position, topic.c_str(), partition);
        rd_kafka_position(reader, position);
        std::int64_t at = position->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(position);
        if (at >= high) break;  // past markers and aborted records too
      }
      rd_kafka_assign(reader, nullptr);
      if (last[partition] >= 0 || start == low) break;
    }
  }
  rd_kafka_consumer_close(reader);
  rd_kafka_destroy(reader);
  return last;
}

std::vector<std::string> topic_names(rd_kafka_t* client) {
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t listed = rd_kafka_metadata(client, 1, nullptr, &metadata, 30000);
  if (listed != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("metadata: ") + rd_kafka_err2str(listed));
  std::vector<std::string> names;
  for (int i = 0; i < metadata->topic_cnt; ++i) names.emplace_back(metadata->topics[i].topic);
  rd_kafka_metadata_destroy(metadata);
  return names;
}

int run_progress(Options options) {
  // Started before the processor, so that even a fast one is watched from its first commit.
  for (auto deadline = Clock::now() + 60s; !options.pid_file.empty() && options.pid <= 0;) {
    std::ifstream file(options.pid_file);
    long pid = 0;
    if (file >> pid && pid > 0) options.pid = pid;
    if (Clock::now() > deadline) die("no pid in " + options.pid_file);
    if (options.pid <= 0) std::this_thread::sleep_for(10ms);  // waiting for the runner to start the processor
  }
  rd_kafka_t* group_client = make_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", options.bootstrap},
                                                             {"group.id", options.group},
                                                             {"enable.auto.commit", "false"},
                                                             {"isolation.level", "read_uncommitted"}});
  std::vector<std::int64_t> low(options.partitions), high(options.partitions);
  std::int64_t total = 0;
  for (int partition = 0; partition < options.partitions; ++partition) {
    watermarks(group_client, options.topic, partition, low[partition], high[partition]);
    total += high[partition] - low[partition];
  }
  const auto threshold = static_cast<std::int64_t>(options.from_fraction * static_cast<double>(total));
  auto started = Clock::now();
  Clock::time_point t_from{}, t_input{}, last_change = started;
  double cpu_from = 0, broker_from = 0;
  std::int64_t done_from = 0, done_last = -1;
  std::vector<std::int64_t> offsets;
  auto wait_until = [&](const std::string& topic, const std::vector<std::int64_t>& target, bool input) {
    for (;;) {
      if (!alive(options.pid)) die("the processor (pid " + std::to_string(options.pid) + ") exited");
      auto now = Clock::now();
      if (committed(group_client, topic, options.partitions, offsets)) {
        std::int64_t done = 0;
        bool complete = true;
        for (int partition = 0; partition < options.partitions; ++partition) {
          std::int64_t next = offsets[partition];
          if (input) done += std::max<std::int64_t>(0, next - low[partition]);
          if (target[partition] >= 0 && next < target[partition]) complete = false;
        }
        if (input) {
          if (done != done_last) {
            done_last = done;
            last_change = now;
          }
          if (t_from == Clock::time_point{} && done >= threshold) {
            t_from = now;
            cpu_from = cpu_seconds(options.pid);
            broker_from = cpu_seconds(options.broker_pid);
            done_from = done;
          }
        }
        if (complete) return;
      }
      if (now - last_change > std::chrono::duration<double>(options.stall_seconds)) {
        die("no progress on " + topic + " for " + std::to_string(options.stall_seconds) + " s");
      }
      std::this_thread::sleep_for(20ms);  // polling the coordinator's committed offsets
    }
  };
  std::vector<std::int64_t> input_target(high);  // non-transactional input: its end is its high watermark
  wait_until(options.topic, input_target, true);
  t_input = Clock::now();
  std::vector<std::string> then_topics = options.then_topics;
  if (!options.repartition_of.empty()) {
    for (const std::string& name : topic_names(group_client)) {
      const std::string suffix = "-repartition";
      if (name.rfind(options.repartition_of, 0) == 0 && name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        then_topics.push_back(name);
      }
    }
  }
  for (const std::string& topic : then_topics) {
    std::vector<std::int64_t> last = last_records(options, topic);
    for (auto& offset : last) offset = offset >= 0 ? offset + 1 : -1;
    last_change = Clock::now();
    wait_until(topic, last, false);
  }
  auto t_end = Clock::now();
  double cpu_end = cpu_seconds(options.pid), broker_end = cpu_seconds(options.broker_pid);
  long rss = peak_rss_kb(options.pid);
  rd_kafka_destroy(group_client);
  auto seconds = [](Clock::duration span) { return std::chrono::duration<double>(span).count(); };
  std::printf(
      "{\"records\": %lld, \"measured_records\": %lld, \"seconds\": %.4f, \"input_seconds\": %.4f, "
      "\"cpu_seconds\": %.3f, \"broker_cpu_seconds\": %.3f, \"peak_rss_kb\": %ld, \"total_seconds\": %.3f, "
      "\"then_topics\": %zu}\n",
      static_cast<long long>(total), static_cast<long long>(total - done_from), seconds(t_end - t_from),
      seconds(t_input - t_from), cpu_end - cpu_from, broker_end - broker_from, rss, seconds(t_end - started),
      then_topics.size());
  return 0;
}

std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int run_latency(const Options& options) {
  rd_kafka_t* reader = make_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", options.bootstrap},
                                                       {"group.id", "nexmark-probe-latency"},
                                                       {"isolation.level", "read_committed"},
                                                       {"enable.auto.commit", "false"},
                                                       {"fetch.wait.max.ms", "5"},
                                                       {"enable.partition.eof", "false"}});
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(options.partitions);
  for (int partition = 0; partition < options.partitions; ++partition) {
    std::int64_t low = 0, high = 0;
    watermarks(reader, options.topic, partition, low, high);
    rd_kafka_topic_partition_list_add(assignment, options.topic.c_str(), partition)->offset = high;
  }
  rd_kafka_assign(reader, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  const std::int64_t start_ms = wall_us() / 1000;
  const auto from_ms = start_ms + static_cast<std::int64_t>(options.warmup * 1000);
  const auto to_ms = start_ms + static_cast<std::int64_t>(options.seconds * 1000);
  const auto stop_ms = to_ms + static_cast<std::int64_t>(options.tail * 1000);
  std::printf("probe: READY\n");
  std::fflush(stdout);
  const bool window = options.origin == "window_end";
  std::vector<double> samples;
  std::int64_t received = 0, unparsable = 0;
  for (;;) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(reader, 20);
    const std::int64_t now_us = wall_us();
    if (message != nullptr) {
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++received;
        std::int64_t origin_ms = -1;
        if (window) {
          const char* value = static_cast<const char*>(message->payload);
          const std::string_view text(value == nullptr ? "" : value, value == nullptr ? 0 : message->len);
          auto at = text.find("\"window_end\":");
          if (at != std::string_view::npos) origin_ms = std::atoll(std::string(text.substr(at + 13, 24)).c_str()) + options.extra_ms;
        } else {
          rd_kafka_timestamp_type_t type;
          origin_ms = rd_kafka_message_timestamp(message, &type);
        }
        if (origin_ms < 0) {
          ++unparsable;
        } else if (origin_ms >= from_ms && origin_ms <= to_ms) {
          samples.push_back(static_cast<double>(now_us) / 1000.0 - static_cast<double>(origin_ms));
        }
      }
      rd_kafka_message_destroy(message);
    }
    if (now_us / 1000 >= stop_ms) break;
  }
  rd_kafka_consumer_close(reader);
  rd_kafka_destroy(reader);
  std::sort(samples.begin(), samples.end());
  auto quantile = [&](double q) {
    if (samples.empty()) return -1.0;
    auto index = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
    return samples[std::min(index, samples.size() - 1)];
  };
  std::printf("{\"received\": %lld, \"samples\": %zu, \"unparsable\": %lld, \"p50_ms\": %.2f, \"p99_ms\": %.2f, "
              "\"max_ms\": %.2f}\n",
              static_cast<long long>(received), samples.size(), static_cast<long long>(unparsable), quantile(0.5),
              quantile(0.99), samples.empty() ? -1.0 : samples.back());
  return 0;
}

int run_admin(const Options& options) {
  rd_kafka_t* admin = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", options.bootstrap}});
  rd_kafka_queue_t* queue = rd_kafka_queue_new(admin);
  char error[512];
  if (options.mode == "create") {
    rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(options.topic.c_str(), options.partitions, 1, error, sizeof error);
    if (topic == nullptr) die(error);
    rd_kafka_CreateTopics(admin, &topic, 1, nullptr, queue);
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 60000);
    if (event == nullptr) die("create " + options.topic + ": no answer");
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    size_t count = 0;
    const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) die(rd_kafka_event_error_string(event));
    for (size_t i = 0; i < count; ++i) {
      rd_kafka_resp_err_t code = rd_kafka_topic_result_error(topics[i]);
      if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        die("create " + options.topic + ": " + rd_kafka_err2str(code));
      }
    }
    rd_kafka_event_destroy(event);
    rd_kafka_NewTopic_destroy(topic);
    // Wait until the metadata shows every partition with a leader, so a client started next finds the topic.
    for (auto deadline = Clock::now() + 30s;;) {
      const rd_kafka_metadata_t* metadata = nullptr;
      rd_kafka_topic_t* handle = rd_kafka_topic_new(admin, options.topic.c_str(), nullptr);
      bool ready = false;
      if (rd_kafka_metadata(admin, 0, handle, &metadata, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ready = metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                metadata->topics[0].partition_cnt == options.partitions;
        for (int i = 0; ready && i < metadata->topics[0].partition_cnt; ++i) {
          ready = metadata->topics[0].partitions[i].leader >= 0;
        }
        rd_kafka_metadata_destroy(metadata);
      }
      rd_kafka_topic_destroy(handle);
      if (ready) break;
      if (Clock::now() > deadline) die("topic " + options.topic + " did not appear in the metadata");
      std::this_thread::sleep_for(100ms);  // polling the metadata with a deadline
    }
  } else {
    const rd_kafka_metadata_t* metadata = nullptr;
    rd_kafka_resp_err_t listed = rd_kafka_metadata(admin, 1, nullptr, &metadata, 30000);
    if (listed != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("metadata: ") + rd_kafka_err2str(listed));
    std::vector<rd_kafka_DeleteTopic_t*> doomed;
    for (int i = 0; i < metadata->topic_cnt; ++i) {
      std::string name = metadata->topics[i].topic;
      if (!options.prefix.empty() && name.rfind(options.prefix, 0) == 0) doomed.push_back(rd_kafka_DeleteTopic_new(name.c_str()));
    }
    rd_kafka_metadata_destroy(metadata);
    if (!doomed.empty()) {
      rd_kafka_DeleteTopics(admin, doomed.data(), doomed.size(), nullptr, queue);
      rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 60000);
      if (event == nullptr) die("delete: no answer");
      rd_kafka_event_destroy(event);
      rd_kafka_DeleteTopic_destroy_array(doomed.data(), doomed.size());
    }
    std::printf("deleted %zu topics\n", doomed.size());
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(admin);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: bench_nexmark_probe progress|latency|create|delete [options] (see the source's header)");
  Options options;
  options.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) die(flag + " needs a value");
    std::string value = argv[++i];
    if (flag == "--bootstrap") options.bootstrap = value;
    else if (flag == "--group") options.group = value;
    else if (flag == "--topic") options.topic = value;
    else if (flag == "--then-topic") options.then_topics.push_back(value);
    else if (flag == "--prefix") options.prefix = value;
    else if (flag == "--then-repartition-of") options.repartition_of = value;
    else if (flag == "--partitions") options.partitions = std::atoi(value.c_str());
      else if (flag == "--pid") options.pid = std::atol(value.c_str());
    else if (flag == "--pid-file") options.pid_file = value;
    else if (flag == "--broker-pid") options.broker_pid = std::atol(value.c_str());
    else if (flag == "--from-fraction") options.from_fraction = std::atof(value.c_str());
    else if (flag == "--stall-seconds") options.stall_seconds = std::atof(value.c_str());
    else if (flag == "--seconds") options.seconds = std::atof(value.c_str());
    else if (flag == "--warmup") options.warmup = std::atof(value.c_str());
    else if (flag == "--tail") options.tail = std::atof(value.c_str());
    else if (flag == "--origin") options.origin = value;
    else if (flag == "--extra-ms") options.extra_ms = std::atol(value.c_str());
    else die("unknown option " + flag);
  }
  if (options.mode == "progress") return run_progress(options);
  if (options.mode == "latency") return run_latency(options);
  if (options.mode == "create" || options.mode == "delete") return run_admin(options);
  die("unknown mode " + options.mode);
}
