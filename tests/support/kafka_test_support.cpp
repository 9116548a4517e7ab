#include "support/kafka_test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "sluice/kafka/librdkafka.hpp"

extern char** environ;

namespace sluice::testing {

using namespace std::chrono_literals;

std::string bootstrap() {
  const char* value = std::getenv("SLUICE_TEST_BOOTSTRAP");
  if (value == nullptr || *value == '\0') {
    std::cerr << "SLUICE_TEST_BOOTSTRAP is not set: run the tests through `make test` (scripts/run-tests), which "
                 "starts the local broker\n";
    std::abort();
  }
  return value;
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch() / 1ms;
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(now % 100000000) + "-" +
         std::to_string(counter++);
}

std::string source_dir() { return SLUICE_SOURCE_DIR; }

std::string sluice_binary() {
  const char* build = std::getenv("SLUICE_BUILD_DIR");
  std::string directory = build != nullptr && *build != '\0' ? build : SLUICE_BINARY_DIR;
  return directory + "/sluice";
}

namespace {

kafka::Config base_config() { return {{"bootstrap.servers", bootstrap()}}; }

kafka::ClientCallbacks quiet_callbacks() {
  kafka::ClientCallbacks callbacks;
  callbacks.log = [](int level, std::string_view facility, std::string_view message) {
    if (level <= 3) std::cerr << "[test kafka] " << facility << ": " << message << "\n";
  };
  return callbacks;
}

}  // namespace

namespace {

TestRecord to_test_record(const kafka::Message& message) {
  TestRecord record;
  if (message.has_key()) record.key = std::string(message.key());
  if (message.has_value()) record.value = std::string(message.value());
  record.partition = message.partition();
  record.offset = message.offset();
  record.timestamp_ms = message.timestamp_ms();
  record.headers = message.headers();
  return record;
}

}  // namespace

void create_topic(const std::string& topic, int partitions, const std::map<std::string, std::string>& configs) {
  auto admin_client = kafka::make_admin(base_config(), quiet_callbacks());
  kafka::Admin& admin = *admin_client;
  kafka::NewTopic request;
  request.name = topic;
  request.partitions = partitions;
  request.configs = configs;
  auto error = admin.create_topics({request}, 30s);
  if (!error.ok()) throw std::runtime_error("create topic " + topic + ": " + error.message);
  // Topic creation is asynchronous on the broker: wait until metadata shows every partition.
  bool visible = eventually(
      [&] {
        std::vector<kafka::TopicInfo> topics;
        if (!admin.list_topics(topics, 5s).ok()) return false;
        for (const auto& info : topics) {
          if (info.name == topic && info.partitions == partitions) return true;
        }
        return false;
      },
      30s);
  if (!visible) throw std::runtime_error("topic " + topic + " did not appear in metadata");
}

std::string TestRecord::header(const std::string& name) const {
  const core::Header* found = find_header(name);
  return found != nullptr ? found->value.value_or("") : "";
}

const core::Header* TestRecord::find_header(const std::string& name) const {
  for (const auto& header : headers) {
    if (header.name == name) return &header;
  }
  return nullptr;
}

void produce(const std::string& topic, const std::vector<TestRecord>& records) {
  std::atomic<int> failures{0};
  kafka::Config config = base_config();
  config["enable.idempotence"] = "true";
  config["linger.ms"] = "5";
  auto producer_client = kafka::make_producer(config, quiet_callbacks(), [&](const kafka::KafkaError& error, const kafka::DeliveryReport&) {
    if (!error.ok()) ++failures;
  });
  kafka::Producer& producer = *producer_client;
  for (const auto& record : records) {
    for (;;) {
      auto error = producer.produce(topic, record.key ? std::optional<std::string_view>(*record.key) : std::nullopt,
                                    record.value ? std::optional<std::string_view>(*record.value) : std::nullopt,
                                    record.timestamp_ms, &record.headers, record.partition);
      if (error.code == kafka::ErrorCode::queue_full) {
        producer.poll(10ms);
        continue;
      }
      if (!error.ok()) throw std::runtime_error("produce to " + topic + ": " + error.message);
      break;
    }
  }
  auto error = producer.flush(60s);
  if (!error.ok() || failures > 0) throw std::runtime_error("produce to " + topic + " not acknowledged");
}

std::vector<TestRecord> consume(const std::string& topic, std::size_t count, std::chrono::milliseconds timeout,
                                std::chrono::milliseconds settle) {
  kafka::Config config = base_config();
  config["group.id"] = unique_name("test-reader");
  config["auto.offset.reset"] = "earliest";
  config["enable.auto.commit"] = "false";
  config["isolation.level"] = "read_committed";
  config["partition.assignment.strategy"] = "range";
  auto consumer_client = kafka::make_consumer(config, quiet_callbacks(), nullptr);
  kafka::Consumer& consumer = *consumer_client;
  auto error = consumer.subscribe({topic});
  if (!error.ok()) throw std::runtime_error("subscribe " + topic + ": " + error.message);
  std::vector<TestRecord> records;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<std::chrono::steady_clock::time_point> settle_until;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (settle_until ? now >= *settle_until : now >= deadline) break;
    kafka::Message message = consumer.poll(100ms);
    if (!message || !message.ok()) continue;
    records.push_back(to_test_record(message));
    if (records.size() >= count && !settle_until) settle_until = std::chrono::steady_clock::now() + settle;
  }
  consumer.close();
  return records;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

int free_port() {
  int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length);
  int port = ntohs(address.sin_port);
  ::close(socket_fd);
  return port;
}

HttpResult http_get(int port, const std::string& path, const std::string& fields) {
  HttpResult result;
  int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  timeval timeout{5, 0};
  ::setsockopt(socket_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(socket_fd);
    return result;
  }
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + fields + "\r\n";
  if (::send(socket_fd, request.data(), request.size(), 0) < 0) {
    ::close(socket_fd);
    return result;
  }
  std::string response;
  char buffer[8192];
  ssize_t received;
  while ((received = ::recv(socket_fd, buffer, sizeof buffer, 0)) > 0) response.append(buffer, static_cast<std::size_t>(received));
  ::close(socket_fd);
  auto space = response.find(' ');
  if (space == std::string::npos) return result;
  result.status = std::atoi(response.c_str() + space + 1);
  auto body = response.find("\r\n\r\n");
  if (body != std::string::npos) result.body = response.substr(body + 4);
  return result;
}

SluiceProcess::SluiceProcess(std::vector<std::string> arguments, std::map<std::string, std::string> environment) {
  log_path_ = "/tmp/" + unique_name("sluice-test") + ".log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::string binary = sluice_binary();
  std::vector<std::string> argv_storage;
  argv_storage.push_back(binary);
  for (auto& argument : arguments) argv_storage.push_back(std::move(argument));
  std::vector<char*> argv;
  for (auto& argument : argv_storage) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::vector<std::string> environment_storage;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text(*entry);
    std::string name = text.substr(0, text.find('='));
    if (environment.count(name) == 0) environment_storage.push_back(text);
  }
  for (const auto& [name, value] : environment) environment_storage.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : environment_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);
  int error = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::runtime_error("cannot start " + binary + ": " + std::strerror(error));
}

SluiceProcess::~SluiceProcess() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(10s);
  }
}

void SluiceProcess::signal(int signal_number) {
  if (!exit_code_) ::kill(pid_, signal_number);
}

std::optional<int> SluiceProcess::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

bool SluiceProcess::running() { return !wait(0ms).has_value(); }

std::string SluiceProcess::log() const {
  std::ifstream file(log_path_);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

RunningTopology start_sluice(const std::string& topology_path, const std::vector<std::string>& extra_arguments,
                             bool wait_ready) {
  RunningTopology running;
  running.port = free_port();
  std::vector<std::string> arguments = {"run", topology_path, "--bootstrap", bootstrap(), "--set",
                                        "http_address=127.0.0.1", "--set", "http_port=" + std::to_string(running.port)};
  arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
  running.process = std::make_unique<SluiceProcess>(arguments);
  if (wait_ready) {
    bool ready = eventually([&] { return http_get(running.port, "/readyz").status == 200 || !running.process->running(); },
                            60s);
    if (!ready || !running.process->running()) {
      throw std::runtime_error("sluice did not become ready; log:\n" + running.process->log());
    }
  }
  return running;
}

std::string write_temp_file(const std::string& name, const std::string& content) {
  std::string path = "/tmp/" + unique_name(name);
  std::ofstream(path) << content;
  return path;
}

std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
  std::istringstream lines(exposition);
  std::string line;
  std::optional<double> total;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    char next = line.size() > name.size() ? line[name.size()] : ' ';
    if (next != '{' && next != ' ') continue;
    bool matches = true;
    for (const auto& [label, value] : labels) {
      if (line.find(label + "=\"" + value + "\"") == std::string::npos) matches = false;
    }
    if (!matches) continue;
    total = total.value_or(0) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

}  // namespace sluice::testing

// ---- Exactly-once and broker-restart tests -------------------------------------------------------------------

namespace sluice::testing {

namespace {

// A consumer that never joins a group: manual assignment only, or offset queries for another group.
std::unique_ptr<kafka::Consumer> side_consumer(const std::string& group, bool read_committed) {
  kafka::Config config = base_config();
  config["group.id"] = group;
  config["enable.auto.commit"] = "false";
  config["enable.auto.offset.store"] = "false";
  config["isolation.level"] = read_committed ? "read_committed" : "read_uncommitted";
  return kafka::make_consumer(config, quiet_callbacks(), nullptr);
}

}  // namespace

PartitionOffsets end_offsets(const std::string& topic, int partitions) {
  auto consumer = side_consumer(unique_name("test-watermarks"), false);
  PartitionOffsets offsets;
  for (std::int32_t partition = 0; partition < partitions; ++partition) {
    std::int64_t low = 0, high = 0;
    auto error = consumer->query_watermarks(topic, partition, low, high, 30s);
    if (!error.ok()) {
      throw std::runtime_error("watermarks of " + topic + "[" + std::to_string(partition) + "]: " + error.message);
    }
    offsets[partition] = high;
  }
  consumer->close();
  return offsets;
}

PartitionOffsets committed_offsets(const std::string& group, const std::string& topic, int partitions) {
  // read_uncommitted: the broker answers with the offsets of committed transactions at once, where a
  // read_committed client would wait for an open transaction to finish.
  auto consumer = side_consumer(group, false);
  std::vector<kafka::TopicPartition> query;
  for (std::int32_t partition = 0; partition < partitions; ++partition) {
    query.push_back({topic, partition, kafka::offset_invalid});
  }
  auto error = consumer->committed(query, 30s);
  if (!error.ok()) throw std::runtime_error("committed offsets of " + group + " on " + topic + ": " + error.message);
  PartitionOffsets offsets;
  for (const auto& entry : query) offsets[entry.partition] = entry.offset < 0 ? -1 : entry.offset;
  consumer->close();
  return offsets;
}

PartitionOffsets last_record_offsets(const std::string& topic, int partitions, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  PartitionOffsets last;
  auto watermarks = side_consumer(unique_name("test-watermarks"), false);
  for (std::int32_t partition = 0; partition < partitions; ++partition) {
    std::int64_t low = 0, high = 0;
    auto error = watermarks->query_watermarks(topic, partition, low, high, 30s);
    if (!error.ok()) throw std::runtime_error("watermarks of " + topic + ": " + error.message);
    last[partition] = -1;
    // Read the tail [start, high); widen it until a record shows up or the whole partition was read.
    for (std::int64_t window = 1024;; window *= 8) {
      std::int64_t start = std::max(low, high - window);
      if (start >= high) break;
      auto reader = side_consumer(unique_name("test-tail"), true);
      auto assigned = reader->assign({{topic, partition, start}});
      if (!assigned.ok()) throw std::runtime_error("assign " + topic + ": " + assigned.message);
      for (;;) {
        if (std::chrono::steady_clock::now() >= deadline) {
          throw std::runtime_error("reading the tail of " + topic + "[" + std::to_string(partition) + "] up to " +
                                   std::to_string(high) + " timed out (a transaction left open?)");
        }
        kafka::Message message = reader->poll(100ms);
        if (message && message.ok() && message.offset() < high) {
          last[partition] = std::max(last[partition], message.offset());
        }
        // The position moves past transaction markers and aborted records too.
        auto position = reader->position(topic, partition);
        if (position && *position >= high) break;
      }
      reader->close();
      if (last[partition] >= 0 || start == low) break;
    }
  }
  watermarks->close();
  return last;
}

bool wait_group_processed(const std::string& group, const std::vector<std::string>& topics_in_order, int partitions,
                          std::chrono::milliseconds timeout, std::string* why) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& topic : topics_in_order) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (remaining <= 0ms) remaining = 1ms;
    PartitionOffsets last = last_record_offsets(topic, partitions, remaining);
    PartitionOffsets committed;
    bool done = eventually(
        [&] {
          try {
            committed = committed_offsets(group, topic, partitions);
          } catch (const std::exception&) {
            return false;  // the coordinator is moving (a broker restart): ask again
          }
          for (const auto& [partition, offset] : last) {
            if (offset >= 0 && committed[partition] < offset + 1) return false;
          }
          return true;
        },
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (!done) {
      if (why != nullptr) {
        std::ostringstream text;
        text << "group " << group << " did not commit past the last record of " << topic << ":";
        for (const auto& [partition, offset] : last) {
          text << " [" << partition << "] last " << offset << " committed " << committed[partition];
        }
        *why = text.str();
      }
      return false;
    }
  }
  return true;
}

std::vector<TestRecord> consume_to_end(const std::string& topic, int partitions, std::chrono::milliseconds timeout) {
  PartitionOffsets end = end_offsets(topic, partitions);
  auto reader = side_consumer(unique_name("test-reader"), true);
  std::vector<kafka::TopicPartition> assignment;
  for (std::int32_t partition = 0; partition < partitions; ++partition) {
    assignment.push_back({topic, partition, kafka::offset_beginning});
  }
  auto assigned = reader->assign(assignment);
  if (!assigned.ok()) throw std::runtime_error("assign " + topic + ": " + assigned.message);
  std::vector<TestRecord> records;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool at_end = true;
    for (const auto& [partition, high] : end) {
      auto position = reader->position(topic, partition);
      if (high > 0 && (!position || *position < high)) at_end = false;
    }
    if (at_end) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::ostringstream text;
      text << "reading " << topic << " to its end timed out after " << records.size() << " records:";
      for (const auto& [partition, high] : end) {
        text << " [" << partition << "] at " << reader->position(topic, partition).value_or(-1) << " of " << high;
      }
      throw std::runtime_error(text.str());
    }
    kafka::Message message = reader->poll(100ms);
    if (!message || !message.ok()) continue;
    records.push_back(to_test_record(message));
  }
  reader->close();
  return records;
}

namespace {

// The data directory of the broker scripts/local-kafka manages, after checking that it is the tests' broker;
// throws otherwise, saying which action was refused.
std::string managed_broker_directory(const std::string& action) {
  const char* configured = std::getenv("SLUICE_KAFKA_DIR");
  std::string data = configured != nullptr && *configured != '\0' ? configured : source_dir() + "/build/kafka";
  std::string recorded;
  std::ifstream(data + "/bootstrap") >> recorded;
  if (recorded != bootstrap()) {
    throw std::runtime_error("refusing to " + action + " a broker: the tests use " + bootstrap() +
                             " but scripts/local-kafka's broker in " + data + " is at '" + recorded +
                             "' (set SLUICE_KAFKA_DIR and SLUICE_KAFKA_PORT to those the broker was started with)");
  }
  return data;
}

}  // namespace

std::chrono::milliseconds restart_broker() {
  std::string data = managed_broker_directory("restart");
  std::string recorded = bootstrap();  // the same as the data directory's, checked above
  std::string port = recorded.substr(recorded.rfind(':') + 1);
  std::string log = "/tmp/" + unique_name("local-kafka-restart") + ".log";
  std::string command = "SLUICE_KAFKA_PORT='" + port + "' SLUICE_KAFKA_DIR='" + data + "' '" + source_dir() +
                        "/scripts/local-kafka' restart >'" + log + "' 2>&1";
  auto started = std::chrono::steady_clock::now();
  int status = std::system(command.c_str());
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  if (status != 0) {
    std::ifstream file(log);
    std::stringstream output;
    output << file.rdbuf();
    throw std::runtime_error("scripts/local-kafka restart failed (status " + std::to_string(status) + "):\n" +
                             output.str());
  }
  return took;
}

}  // namespace sluice::testing

// ---- Nemesis tests ---------------------------------------------------------------------------------------

namespace sluice::testing {

std::vector<TestRecord> consume_to_end_uncommitted(const std::string& topic, int partitions,
                                                   std::chrono::milliseconds timeout) {
  PartitionOffsets end = end_offsets(topic, partitions);
  auto reader = side_consumer(unique_name("test-uncommitted-reader"), false);
  std::vector<kafka::TopicPartition> assignment;
  for (std::int32_t partition = 0; partition < partitions; ++partition) {
    assignment.push_back({topic, partition, kafka::offset_beginning});
  }
  auto assigned = reader->assign(assignment);
  if (!assigned.ok()) throw std::runtime_error("assign " + topic + ": " + assigned.message);
  std::vector<TestRecord> records;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool at_end = true;
    for (const auto& [partition, high] : end) {
      auto position = reader->position(topic, partition);
      if (high > 0 && (!position || *position < high)) at_end = false;
    }
    if (at_end) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("reading " + topic + " (read_uncommitted) to its end timed out after " +
                               std::to_string(records.size()) + " records");
    }
    kafka::Message message = reader->poll(100ms);
    if (!message || !message.ok()) continue;
    if (message.offset() < end[message.partition()]) records.push_back(to_test_record(message));
  }
  reader->close();
  return records;
}

PartitionOffsets start_offsets(const std::string& topic, int partitions) {
  auto consumer = side_consumer(unique_name("test-watermarks"), false);
  PartitionOffsets offsets;
  for (std::int32_t partition = 0; partition < partitions; ++partition) {
    std::int64_t low = 0, high = 0;
    auto error = consumer->query_watermarks(topic, partition, low, high, 30s);
    if (!error.ok()) {
      throw std::runtime_error("watermarks of " + topic + "[" + std::to_string(partition) + "]: " + error.message);
    }
    offsets[partition] = low;
  }
  consumer->close();
  return offsets;
}

PartitionOffsets delete_records_before(const std::string& topic, const PartitionOffsets& before) {
  auto admin = kafka::make_admin(base_config(), quiet_callbacks());
  std::vector<kafka::TopicPartition> request;
  for (const auto& [partition, offset] : before) request.push_back({topic, partition, offset});
  auto error = admin->delete_records(request, 60s);
  if (!error.ok()) throw std::runtime_error("delete records of " + topic + ": " + error.message);
  int partitions = 0;
  for (const auto& [partition, offset] : before) partitions = std::max(partitions, partition + 1);
  PartitionOffsets low = start_offsets(topic, partitions);
  for (auto it = low.begin(); it != low.end();) it = before.count(it->first) != 0 ? std::next(it) : low.erase(it);
  return low;
}

FrozenBroker::FrozenBroker() {
  std::string data = managed_broker_directory("freeze");
  pid_t recorded = -1;
  std::ifstream(data + "/broker.pid") >> recorded;
  if (recorded <= 1 || ::kill(recorded, 0) != 0) {
    throw std::runtime_error("refusing to freeze a broker: " + data + "/broker.pid names no live process");
  }
  // The pid file could be stale and the pid reused: the process must be the JVM running kafka.Kafka.
  std::ifstream command_line("/proc/" + std::to_string(recorded) + "/cmdline");
  std::string arguments((std::istreambuf_iterator<char>(command_line)), std::istreambuf_iterator<char>());
  if (arguments.find("kafka.Kafka") == std::string::npos || arguments.find(data) == std::string::npos) {
    throw std::runtime_error("refusing to freeze pid " + std::to_string(recorded) +
                             ": it is not the kafka.Kafka process of " + data);
  }
  pid_ = recorded;
  if (::kill(pid_, SIGSTOP) != 0) throw std::runtime_error("SIGSTOP to the broker failed: " + std::string(std::strerror(errno)));
  frozen_ = true;
}

FrozenBroker::~FrozenBroker() { thaw(); }

void FrozenBroker::thaw() {
  if (!frozen_) return;
  ::kill(pid_, SIGCONT);
  frozen_ = false;
}

}  // namespace sluice::testing
