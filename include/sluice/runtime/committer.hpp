// The two ways a processing thread makes its work durable (Committer, see task_manager.hpp).
//
// ExactlyOnceCommitter: one Kafka transaction per commit holds the outputs, the repartition and changelog records
// and the input offsets (sent with the consumer's group metadata, KIP-447). librdkafka 2.0.2 has no KIP-890, so
// after an outcome it cannot know (EndTxn, AddOffsets or an abort timing out; a producer fenced once, which is
// also how a broker-side transaction timeout shows), the producer is never reused: it is replaced by a new one
// with the same transactional id, whose InitProducerId bumps the epoch and fences every request the old one may
// still have in flight. Every rollback leaves the caller to rewind inputs and state to the committed ones.
//
// AtLeastOnceCommitter: waits until every output is acknowledged, then commits the offsets to the group.
//
// Both wait in short slices, calling the observer's heartbeat (the loop's liveness) and reporting trouble
// (readiness) while the cluster does not answer, and both give up with `fatal` after `max_failed_commits`
// consecutive failed attempts caused by the environment, so a refusal (ACLs, a missing topic) ends the process
// with a clear message instead of looping with growing duplicates. Used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "sluice/core/clock.hpp"
#include "sluice/kafka/client.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/health.hpp"
#include "sluice/runtime/record_collector.hpp"
#include "sluice/runtime/task_manager.hpp"

namespace sluice::runtime {

struct CommitterOptions {
  std::string transactional_id;
  std::chrono::milliseconds transaction_timeout{60'000};  // how long one commit may wait for the cluster
  int max_failed_commits = 10;                            // consecutive failures before the thread stops
};

// How a committer tells the loop what it is waiting for.
struct CommitObserver {
  std::function<void()> heartbeat;                        // called between waiting slices
  std::function<void(const std::string& reason)> trouble;  // commits are failing or waiting: not ready
  std::function<void()> recovered;                         // a commit went through again
  std::function<bool()> stop_requested;                    // shutdown while backing off
  Health* health = nullptr;                                // marks calls that may block (BlockingCall)
};

// What both committers work with; the constructor wires the collector's transaction gate (`gate`: null for
// at-least-once).
class CommitterBase {
 protected:
  CommitterBase(RecordCollector& collector, kafka::Consumer& consumer, CommitterOptions options,
                CommitObserver observer, observe::Metrics& metrics, observe::Logger& logger,
                const core::Clock& clock, std::string component, TransactionGate* gate);
  std::int64_t now_ms() const { return clock_.monotonic_ns() / 1'000'000; }

  RecordCollector& collector_;
  kafka::Consumer& consumer_;
  CommitterOptions options_;
  CommitObserver observer_;
  observe::Metrics& metrics_;
  observe::Logger& logger_;
  const core::Clock& clock_;
  std::string component_;
};

class ExactlyOnceCommitter final : public Committer, public TransactionGate, private CommitterBase {
 public:
  ExactlyOnceCommitter(RecordCollector& collector, kafka::Consumer& consumer, CommitterOptions options,
                       CommitObserver observer, observe::Metrics& metrics, observe::Logger& logger,
                       const core::Clock& clock, std::string component);

  // InitTransactions on the current producer, retrying retriable failures with backoff until stopped. False
  // if the producer cannot be used (the reason is logged) or a stop was requested.
  [[nodiscard]] bool initialize();
  bool ensure_open() override;
  [[nodiscard]] CommitResult commit(const std::vector<kafka::TopicPartition>& offsets, const char* why) override;
  // Gives up the open transaction (its outputs never become visible): abort, or replace the producer when the
  // abort's outcome is unknown. False if the thread must stop.
  bool abort(const char* why);
  bool in_transaction() const noexcept { return in_transaction_; }

 private:
  CommitResult on_failure(const kafka::KafkaError& error, const char* step, const char* why);
  bool replace_producer(const char* why);
  CommitResult fatal(const std::string& message);

  bool in_transaction_ = false;
  bool fatal_ = false;
  bool fenced_since_commit_ = false;  // a second fencing before a commit succeeds means a real zombie
  int failed_commits_ = 0;
};

class AtLeastOnceCommitter final : public Committer, private CommitterBase {
 public:
  AtLeastOnceCommitter(RecordCollector& collector, kafka::Consumer& consumer, CommitterOptions options,
                       CommitObserver observer, observe::Metrics& metrics, observe::Logger& logger,
                       const core::Clock& clock, std::string component);
  [[nodiscard]] CommitResult commit(const std::vector<kafka::TopicPartition>& offsets, const char* why) override;

 private:
  CommitResult failed(const std::string& message, bool outage);

  int failed_commits_ = 0;
};

}  // namespace sluice::runtime
