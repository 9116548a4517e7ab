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

// With `configs`: topic settings (e.g. {"retention.ms", "-1"} for records whose timestamps are older than the
// broker's default retention, which its next retention check would delete, active segment included).
void create_topic(const std::string& topic, int partitions, const std::map<std::string, std::string>& configs = {});

struct TestRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int32_t partition = -1;  // -1: the partitioner decides
  std::int64_t timestamp_ms = 0;
  std::vector<core::Header> headers;
  std::int64_t offset = -1;
  std::string header(const std::string& name) const;  // "" if absent or null
  const core::Header* find_header(const std::string& name) const;  // nullptr if absent
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
// `fields`: extra request header lines, each ending in \r\n (e.g. "Authorization: Bearer x\r\n").
HttpResult http_get(int port, const std::string& path, const std::string& fields = "");

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
  pid_t pid() const { return pid_; }  // for /proc figures (RSS, CPU time) in benchmarks

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

// ---- Exactly-once and broker-restart tests -------------------------------------------------------------------

namespace sluice::testing {

// Offsets per partition number.
using PartitionOffsets = std::map<std::int32_t, std::int64_t>;

// High watermarks of partitions 0..partitions-1 (asked of the broker).
PartitionOffsets end_offsets(const std::string& topic, int partitions);

// Offsets `group` has committed for `topic` (-1: none). Asked without joining the group, and only offsets of
// committed transactions count (a transaction still open shows its group's previous offsets).
PartitionOffsets committed_offsets(const std::string& group, const std::string& topic, int partitions);

// Offset of the last record a read_committed consumer sees in each partition (-1: none), read from the tail.
// Transaction markers and aborted records are not records: the last one can be well below the high watermark.
PartitionOffsets last_record_offsets(const std::string& topic, int partitions, std::chrono::milliseconds timeout);

// Waits until `group` has committed, for each topic in turn (upstream first), an offset past the last record a
// read_committed reader sees in every partition. With the sources first and then the repartition topics, this
// means every input went through every sub-topology and the transactions holding their effects committed.
// A topic's tail is read only once the topics before it are done, so it no longer grows. Returns false (with
// the reason in `why`) when `timeout` passes first.
bool wait_group_processed(const std::string& group, const std::vector<std::string>& topics_in_order, int partitions,
                          std::chrono::milliseconds timeout, std::string* why = nullptr);

// Everything a read_committed reader sees in `topic`, from the beginning up to the high watermarks taken at the
// call; throws if that end is not reached within `timeout` (a transaction left open, for instance).
std::vector<TestRecord> consume_to_end(const std::string& topic, int partitions, std::chrono::milliseconds timeout);

// Restarts the test broker with `scripts/local-kafka restart` (same data directory; waits until it answers
// metadata again). Refuses, by throwing, unless bootstrap() is the broker that script manages in
// SLUICE_KAFKA_DIR (default <source>/build/kafka), so it never stops somebody else's broker. Returns how long
// the restart took (stop and start).
std::chrono::milliseconds restart_broker();

}  // namespace sluice::testing

// ---- Nemesis tests ---------------------------------------------------------------------------------------

namespace sluice::testing {

// Everything in `topic` as a read_uncommitted reader sees it (aborted records included), from the beginning
// up to the high watermarks taken at the call. Compared with consume_to_end, it shows how many records of
// aborted transactions a topic holds (what a read_committed reader must never see).
std::vector<TestRecord> consume_to_end_uncommitted(const std::string& topic, int partitions,
                                                   std::chrono::milliseconds timeout);

// Low watermarks (log start offsets) of partitions 0..partitions-1.
PartitionOffsets start_offsets(const std::string& topic, int partitions);

// Deletes the records of `topic` below the given offset in each listed partition (Kafka DeleteRecords, what
// retention does to old segments) and returns the new low watermarks.
PartitionOffsets delete_records_before(const std::string& topic, const PartitionOffsets& before);

// The test broker's JVM, frozen with SIGSTOP for as long as this object lives (or until thaw()): it accepts
// connections but answers nothing, like a broker in a long GC pause or a paused VM. Refuses, by throwing,
// unless bootstrap() is the broker scripts/local-kafka manages in SLUICE_KAFKA_DIR (as restart_broker() does)
// and its pid file names a live process. The destructor always thaws it.
class FrozenBroker {
 public:
  FrozenBroker();
  ~FrozenBroker();
  FrozenBroker(const FrozenBroker&) = delete;
  FrozenBroker& operator=(const FrozenBroker&) = delete;
  void thaw();  // SIGCONT; idempotent
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool frozen_ = false;
};

}  // namespace sluice::testing
