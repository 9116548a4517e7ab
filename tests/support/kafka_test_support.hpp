// Support for tests against the real local broker (scripts/local-kafka): topic creation, producing and reading
// records, running the sluice binary as a child process, and plain HTTP GETs against its port. Everything
// waits by polling a condition with a deadline, never by sleeping a fixed time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/core/record.hpp"

namespace sluice::testing {

// The broker started by scripts/run-tests (SLUICE_TEST_BOOTSTRAP); aborts the test binary if unset.
std::string bootstrap();
// A name unique to this test run, for topics and groups: "<prefix>-<pid>-<counter>".
std::string unique_name(const std::string& prefix);
// The build directory's sluice binary.
std::string sluice_binary();
std::string source_dir();

void create_topic(const std::string& topic, int partitions);

struct TestRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int32_t partition = -1;  // -1: the partitioner decides
  std::int64_t timestamp_ms = 0;
  std::vector<core::Header> headers;
  std::int64_t offset = -1;
  std::string header(const std::string& name) const;  // "" if absent
};

// Produces and waits for every acknowledgement.
void produce(const std::string& topic, const std::vector<TestRecord>& records);

// Reads `topic` from the beginning (read_committed) until `count` records arrived or `timeout` passed;
// then keeps reading for `settle` more to catch records beyond the expected count.
std::vector<TestRecord> consume(const std::string& topic, std::size_t count, std::chrono::milliseconds timeout,
                                std::chrono::milliseconds settle = std::chrono::milliseconds(0));

// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// A free TCP port on 127.0.0.1 (bound and released).
int free_port();

struct HttpResult {
  int status = 0;  // 0: no answer
  std::string body;
};
HttpResult http_get(int port, const std::string& path);

// The sluice binary as a child process; stderr+stdout go to a log file. Killed (SIGKILL) on destruction if
// still running.
class SluiceProcess {
 public:
  SluiceProcess(std::vector<std::string> arguments, std::map<std::string, std::string> environment = {});
  ~SluiceProcess();
  SluiceProcess(const SluiceProcess&) = delete;
  SluiceProcess& operator=(const SluiceProcess&) = delete;

  void signal(int signal_number);
  // Exit code, or nullopt if still running after `timeout`. A death by signal yields 128 + signal.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();
  std::string log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// Runs `sluice run` on a topology file with its HTTP port on 127.0.0.1:<port>, then waits for /readyz.
struct RunningTopology {
  int port = 0;
  std::unique_ptr<SluiceProcess> process;
};
RunningTopology start_sluice(const std::string& topology_path, const std::vector<std::string>& extra_arguments = {},
                             bool wait_ready = true);

// Writes a topology document to a temporary file and returns its path.
std::string write_temp_file(const std::string& name, const std::string& content);

// Value of a Prometheus sample (summing series that match every given label), or nullopt if none matched.
std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {});

}  // namespace sluice::testing
