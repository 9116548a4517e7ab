// Keeps a store from being read as something it is not. Each state store's fingerprint (topology/evolution.hpp:
// what decides how its bytes are read) is recorded on the cluster, in the compacted topic
// "<application_id>-store-fingerprints" (one record per store, key = store name). At start, before any task
// opens a store, the recorded fingerprints are compared with the topology's:
//   - none recorded (a new store, or state from a sluice before fingerprints): this one is recorded;
//   - equal: the store is used as it is;
//   - different: the start stops (exit code 2) with the operator's JSON pointer and what changed, unless the
//     store is named in --reset-store: then its changelog is emptied (records deleted up to its end), the new
//     fingerprint is recorded with the next generation, and every instance drops its local copy of the store
//     (the local marker of the task, below, no longer matches) and rebuilds it from the emptied changelog.
// Each task directory also holds a marker with the fingerprints and generations it was built under, so a copy
// made before a reset is never read after it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/kafka/client.hpp"
#include "sluice/kafka/client_config.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/topology/evolution.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::runtime {

// The topic the fingerprints are recorded in.
std::string fingerprint_topic(const std::string& application_id);

enum class GuardOutcome : std::uint8_t { ready, stopped, mismatch };

struct StoreGuardOptions {
  std::vector<std::string> reset_stores;  // operator names whose changed store is emptied (--reset-store)
  std::int64_t backoff_max_ms = 30'000;
  std::chrono::milliseconds timeout{30'000};  // per read of the fingerprints and per write
};

class StoreGuard {
 public:
  StoreGuard(const topology::Topology& topology, StoreGuardOptions options);

  // The first caller reads the recorded fingerprints, compares them, resets and records; every other caller
  // (processing threads) waits for it and gets the same outcome. A failure to reach the cluster is retried
  // with backoff until `stop_requested` (outcome stopped); `trouble` reports why it waits.
  GuardOutcome check(kafka::ClientFactory& clients, const kafka::ClientSettings& client, kafka::Admin& admin,
                     const std::function<bool()>& stop_requested, const std::function<void(const std::string&)>& trouble,
                     observe::Logger& logger, const core::Clock& clock, const std::string& component);

  // After check(): the marker of a task whose stores log to `changelogs` (in slot order): each store's
  // fingerprint and generation as now recorded.
  std::string marker(const std::vector<std::string>& changelogs) const;

  // The recorded generation of a store after check() (0 unless it was reset), for tests.
  std::int64_t generation(const std::string& store) const;

  // What a changed store's error says (also used by the tests): pointer, what changed, what to do.
  static std::string mismatch_message(const topology::StoreFingerprint& now, const std::vector<std::string>& changes);

 private:
  struct Recorded {
    std::string definition;  // compact JSON
    std::int64_t generation = 0;
  };
  enum class Attempt : std::uint8_t { done, mismatch, retry };
  Attempt attempt(kafka::ClientFactory& clients, const kafka::ClientSettings& client, kafka::Admin& admin,
                  observe::Logger& logger, const std::string& component, std::string& problem);
  bool read_recorded(kafka::Consumer& consumer, std::map<std::string, Recorded>& recorded, std::string& problem);

  std::vector<topology::StoreFingerprint> fingerprints_;
  std::string topic_;
  StoreGuardOptions options_;
  mutable std::mutex mutex_;
  std::optional<GuardOutcome> outcome_;
  std::map<std::string, Recorded> now_;  // per store name, after check()
};

}  // namespace sluice::runtime
